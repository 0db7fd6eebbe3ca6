// etcd 3.4 flags that xetcd accepts so that an etcd command line, environment
// or config file starts it unchanged, but that have nothing to act on here.
// Each says why; setting one to anything but etcd's default logs that reason
// once. Flags whose value would change what the member is (v2, a proxy,
// discovery) are not here: they are refused in config.ts instead.
import type { FlagSpec } from './flags.js';

const PEERS_OVER_NATS =
  'peers talk over NATS, not over a peer listener: TLS to NATS is --nats-tls-ca-file/--nats-tls-cert-file/--nats-tls-key-file, and peer messages are authenticated with a shared --peer-key-file';

const NO_WAL_FILES =
  'the Raft log is one LevelDB database (member/raft), not WAL and snap files: it is compacted after each snapshot, keeping --experimental-snapshot-catchup-entries entries, so there are no old files to retain or purge';

const NO_PROXY = "only used by etcd's v2 proxy, and xetcd is never a proxy (--proxy off)";

const NO_DISCOVERY = 'only used with --discovery, which xetcd does not support';

export const INERT_FLAGS: readonly FlagSpec[] = [
  {
    name: 'max-snapshots',
    kind: 'int',
    default: '5',
    description: 'Maximum number of snapshot files to retain (0 is unlimited).',
    inert: NO_WAL_FILES,
  },
  {
    name: 'max-wals',
    kind: 'int',
    default: '5',
    description: 'Maximum number of wal files to retain (0 is unlimited).',
    inert: NO_WAL_FILES,
  },
  {
    name: 'backend-batch-interval',
    kind: 'string',
    default: '',
    description: 'Maximum time before commit the backend transaction.',
    inert:
      'the backend commits once per Raft Ready, in the same atomic batch as the applied index, so there is no open transaction to time',
  },
  {
    name: 'backend-batch-limit',
    kind: 'int',
    default: '0',
    description: 'Maximum operations before commit the backend transaction.',
    inert:
      'the backend commits once per Raft Ready, in the same atomic batch as the applied index, so there is no open transaction to count',
  },
  {
    name: 'grpc-keepalive-min-time',
    kind: 'string',
    default: '5s',
    description: 'Minimum duration interval that a client should wait before pinging server.',
    inert: "grpc-js, xetcd's gRPC server, does not police how often clients ping",
  },
  {
    name: 'discovery-fallback',
    kind: 'string',
    default: 'proxy',
    description: "Expected behavior ('exit' or 'proxy') when discovery services fails.",
    inert: NO_DISCOVERY,
  },
  {
    name: 'discovery-proxy',
    kind: 'string',
    default: '',
    description: 'HTTP proxy to use for traffic to discovery service.',
    inert: NO_DISCOVERY,
  },
  {
    name: 'discovery-srv-name',
    kind: 'string',
    default: '',
    description: 'Suffix to the dns srv name queried when bootstrapping.',
    inert: 'only used with --discovery-srv, which xetcd does not support',
  },
  {
    name: 'peer-cert-file',
    kind: 'string',
    default: '',
    description: 'Path to the peer server TLS cert file.',
    yamlSection: 'peer-transport-security',
    yamlKey: 'cert-file',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'peer-client-cert-auth',
    kind: 'bool',
    default: 'false',
    description: 'Enable peer client cert authentication.',
    yamlSection: 'peer-transport-security',
    yamlKey: 'client-cert-auth',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'peer-trusted-ca-file',
    kind: 'string',
    default: '',
    description: 'Path to the peer server TLS trusted CA file.',
    yamlSection: 'peer-transport-security',
    yamlKey: 'trusted-ca-file',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'peer-auto-tls',
    kind: 'bool',
    default: 'false',
    description: 'Peer TLS using self-generated certificates.',
    yamlSection: 'peer-transport-security',
    yamlKey: 'auto-tls',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'peer-cert-allowed-cn',
    kind: 'string',
    default: '',
    description: 'Required CN for client certs connecting to the peer endpoint.',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'peer-cert-allowed-hostname',
    kind: 'string',
    default: '',
    description: 'Allowed TLS hostname for inter peer authentication.',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'peer-crl-file',
    kind: 'string',
    default: '',
    description: 'Path to the peer certificate revocation list file.',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'experimental-peer-skip-client-san-verification',
    kind: 'bool',
    default: 'false',
    description: 'Skip verification of SAN field in client certificate for peer connections.',
    inert: PEERS_OVER_NATS,
  },
  {
    name: 'log-package-levels',
    kind: 'string',
    default: '',
    description: 'Specify a particular log level for each etcd package.',
    inert: "capnslog's per-package levels: xetcd has one logger, set with --log-level",
  },
  {
    name: 'proxy-failure-wait',
    kind: 'int',
    default: '5000',
    description: 'Time (in milliseconds) an endpoint will be held in a failed state.',
    inert: NO_PROXY,
  },
  {
    name: 'proxy-refresh-interval',
    kind: 'int',
    default: '30000',
    description: 'Time (in milliseconds) of the endpoints refresh interval.',
    inert: NO_PROXY,
  },
  {
    name: 'proxy-dial-timeout',
    kind: 'int',
    default: '1000',
    description: 'Time (in milliseconds) for a dial to timeout.',
    inert: NO_PROXY,
  },
  {
    name: 'proxy-write-timeout',
    kind: 'int',
    default: '5000',
    description: 'Time (in milliseconds) for a write to timeout.',
    inert: NO_PROXY,
  },
  {
    name: 'proxy-read-timeout',
    kind: 'int',
    default: '0',
    description: 'Time (in milliseconds) for a read to timeout.',
    inert: NO_PROXY,
  },
  {
    name: 'experimental-backend-bbolt-freelist-type',
    kind: 'string',
    default: 'array',
    description: 'The type of freelist that boltdb backend uses (array and map).',
    inert: 'the backend is LevelDB, which has no bbolt freelist',
  },
  {
    name: 'experimental-enable-lease-checkpoint',
    kind: 'bool',
    default: 'false',
    description: 'Persist lease remaining TTLs so a new leader does not renew them to their full TTL.',
    inert:
      "xetcd does not propose lease checkpoints (etcd 3.4's default): a new leader renews leases to their full TTL, as etcd does with this off",
  },
];
