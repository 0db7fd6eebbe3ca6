// The member's flags: one table that the CLI (commander options, --help), the
// environment reader (XETCD_*), the YAML reader and the docs all derive from, so a
// flag can never exist in one source and be missing from another.
//
// Names, defaults and meanings follow etcd 3.4 wherever the concept exists.

import { INERT_FLAGS } from './inertFlags.js';

export type FlagKind = 'string' | 'int' | 'bool' | 'list';
export type YamlSection = 'client-transport-security' | 'peer-transport-security';

export interface FlagSpec {
  /** etcd's flag name without the leading dashes; also the YAML key. */
  readonly name: string;
  readonly kind: FlagKind;
  /** Default as etcd prints it in --help; '' means "unset". */
  readonly default: string;
  readonly description: string;
  /** A string flag that may also be given bare on the command line, meaning 'true' (--inspect). */
  readonly optionalValue?: boolean;
  /** etcd nests the TLS keys under these YAML sections; flat keys are accepted too. */
  readonly yamlSection?: YamlSection;
  /** The key inside `yamlSection` when it is not the flag's name (peer-cert-file → cert-file). */
  readonly yamlKey?: string;
  /**
   * etcd has this flag but it changes nothing in xetcd: why. Setting it to
   * anything but its default gives one warning line with this reason.
   */
  readonly inert?: string;
  /** A secret: only from the environment or the config file, never on a command line others can read. */
  readonly secret?: true;
}

export const FLAGS: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', default: 'default', description: 'Human-readable name for this member.' },
  {
    name: 'data-dir',
    kind: 'string',
    default: '',
    description: "Path to the data directory (default '<name>.xetcd').",
  },
  {
    name: 'listen-client-urls',
    kind: 'list',
    default: 'http://localhost:2379',
    description: 'List of URLs to listen on for client traffic (gRPC and HTTP share each port).',
  },
  {
    name: 'advertise-client-urls',
    kind: 'list',
    default: 'http://localhost:2379',
    description: "List of this member's client URLs to advertise to the rest of the cluster.",
  },
  {
    name: 'listen-peer-urls',
    kind: 'list',
    default: 'http://localhost:2380',
    description:
      'List of URLs to listen on for peer traffic (peers talk over NATS; the URL is the identity).',
  },
  {
    name: 'initial-advertise-peer-urls',
    kind: 'list',
    default: 'http://localhost:2380',
    description: "List of this member's peer URLs to advertise to the rest of the cluster.",
  },
  {
    name: 'initial-cluster',
    kind: 'string',
    default: 'default=http://localhost:2380',
    description: "Initial cluster configuration for bootstrapping ('name=peerURL,...').",
  },
  {
    name: 'initial-cluster-state',
    kind: 'string',
    default: 'new',
    description: "Initial cluster state ('new' or 'existing').",
  },
  {
    name: 'initial-cluster-token',
    kind: 'string',
    default: 'etcd-cluster',
    description: 'Initial cluster token for the cluster during bootstrap (part of the member IDs).',
  },
  {
    name: 'heartbeat-interval',
    kind: 'int',
    default: '100',
    description: 'Time (in milliseconds) of a heartbeat interval.',
  },
  {
    name: 'election-timeout',
    kind: 'int',
    default: '1000',
    description: 'Time (in milliseconds) for an election to timeout.',
  },
  {
    name: 'snapshot-count',
    kind: 'int',
    default: '100000',
    description: 'Number of committed transactions to trigger a snapshot to disk.',
  },
  {
    name: 'auto-compaction-mode',
    kind: 'string',
    default: 'periodic',
    description: "Interpret 'auto-compaction-retention' one of: periodic|revision.",
  },
  {
    name: 'auto-compaction-retention',
    kind: 'string',
    default: '0',
    description:
      "Auto compaction retention: a duration ('1h', '30m') or hours for periodic, a revision count for revision. 0 disables.",
  },
  {
    name: 'quota-backend-bytes',
    kind: 'int',
    default: '2147483648',
    description:
      'Raise the NOSPACE alarm when the backend size exceeds this (0 means the 2 GiB default, negative disables).',
  },
  {
    name: 'max-request-bytes',
    kind: 'int',
    default: '1572864',
    description: 'Maximum client request size in bytes the server will accept.',
  },
  {
    name: 'max-txn-ops',
    kind: 'int',
    default: '128',
    description: 'Maximum number of operations permitted in a transaction.',
  },
  {
    name: 'pre-vote',
    kind: 'bool',
    default: 'false',
    description: 'Enable to run an additional Raft election phase.',
  },
  {
    name: 'force-new-cluster',
    kind: 'bool',
    default: 'false',
    description: 'Force to create a new one member cluster.',
  },
  {
    name: 'strict-reconfig-check',
    kind: 'bool',
    default: 'true',
    description: 'Reject reconfiguration requests that would cause quorum loss.',
  },
  {
    name: 'experimental-initial-corrupt-check',
    kind: 'bool',
    default: 'false',
    description: 'Enable to check data corruption before serving any client/peer traffic.',
  },
  {
    name: 'experimental-corrupt-check-time',
    kind: 'string',
    default: '0s',
    description: 'Duration of time between cluster corruption check passes.',
  },
  {
    name: 'experimental-snapshot-catchup-entries',
    kind: 'int',
    default: '5000',
    description:
      'Number of entries for a slow follower to catch up after compacting the raft storage entries.',
  },
  {
    name: 'experimental-watch-progress-notify-interval',
    kind: 'string',
    default: '10m0s',
    description: 'Duration of periodic watch progress notifications.',
  },
  {
    name: 'cert-file',
    kind: 'string',
    default: '',
    description: 'Path to the client server TLS cert file.',
    yamlSection: 'client-transport-security',
  },
  {
    name: 'key-file',
    kind: 'string',
    default: '',
    description: 'Path to the client server TLS key file.',
    yamlSection: 'client-transport-security',
  },
  {
    name: 'client-cert-auth',
    kind: 'bool',
    default: 'false',
    description: 'Enable client cert authentication (needs --trusted-ca-file).',
    yamlSection: 'client-transport-security',
  },
  {
    name: 'trusted-ca-file',
    kind: 'string',
    default: '',
    description: 'Path to the client server TLS trusted CA cert file.',
    yamlSection: 'client-transport-security',
  },
  {
    name: 'auth-token',
    kind: 'string',
    default: 'simple',
    description:
      "Client token type: 'simple', or 'jwt,pub-key=<path>,priv-key=<path>,sign-method=<alg>[,ttl=<duration>]'.",
  },
  {
    name: 'auth-token-ttl',
    kind: 'int',
    default: '300',
    description: 'Seconds a simple token stays valid after its last use.',
  },
  {
    name: 'bcrypt-cost',
    kind: 'int',
    default: '10',
    description: 'bcrypt cost of password hashes (4 to 31).',
  },
  {
    name: 'log-level',
    kind: 'string',
    default: 'info',
    description: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.',
  },
  {
    name: 'debug',
    kind: 'bool',
    default: 'false',
    description: "Enable debug-level logging (etcd's older spelling of --log-level debug).",
  },
  {
    name: 'logger',
    kind: 'string',
    default: '',
    description:
      "'zap' for JSON lines (etcd's level/ts/msg keys) or 'capnslog' for lines for people; unset: JSON, or lines for people on a terminal.",
  },
  {
    name: 'log-outputs',
    kind: 'list',
    default: 'default',
    description: "Where logs go: 'default' (stderr), 'stderr', 'stdout', or file paths; comma-separated.",
  },
  {
    name: 'wal-dir',
    kind: 'string',
    default: '',
    description:
      "Path to a dedicated directory for the Raft log (etcd's WAL); default <data-dir>/member/raft.",
  },
  {
    name: 'initial-election-tick-advance',
    kind: 'bool',
    default: 'true',
    description:
      'A member that is its cluster’s only voter campaigns at once on boot instead of after an election timeout.',
  },
  {
    name: 'max-concurrent-streams',
    kind: 'int',
    default: '4294967295',
    description: 'Maximum concurrent streams that each client can open at a time.',
  },
  {
    name: 'grpc-keepalive-interval',
    kind: 'string',
    default: '2h',
    description:
      'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).',
  },
  {
    name: 'grpc-keepalive-timeout',
    kind: 'string',
    default: '20s',
    description: 'Additional duration of wait before closing a non-responsive connection (0 to disable).',
  },
  {
    name: 'enable-v2',
    kind: 'bool',
    default: 'false',
    description: 'Accept etcd V2 client requests: xetcd serves only v3, so only false is accepted.',
  },
  {
    name: 'client-crl-file',
    kind: 'string',
    default: '',
    description: 'Path to the client certificate revocation list file.',
  },
  {
    name: 'client-cert-allowed-hostname',
    kind: 'string',
    default: '',
    description:
      'With --client-cert-auth: client certificates must also be valid for this host name (their SANs), or the connection is refused.',
  },
  {
    name: 'auto-tls',
    kind: 'bool',
    default: 'false',
    description:
      'Client TLS with a self-signed certificate generated into <data-dir>/fixtures/client (https client URLs without --cert-file).',
    yamlSection: 'client-transport-security',
  },
  {
    name: 'cipher-suites',
    kind: 'list',
    default: '',
    description:
      "TLS 1.2 cipher suites of the client port, Go's names (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); empty: Node's defaults.",
  },
  {
    name: 'enable-pprof',
    kind: 'bool',
    default: 'false',
    description:
      'Serve Node CPU and heap profiles at <client URL>/debug/pprof/profile?seconds=N and /debug/pprof/heap.',
  },
  {
    name: 'metrics',
    kind: 'string',
    default: 'basic',
    description: "'basic', or 'extensive' to add the grpc_server_handling_seconds histogram.",
  },
  {
    name: 'listen-metrics-urls',
    kind: 'list',
    default: '',
    description: 'List of URLs to listen on for the metrics and health endpoints.',
  },
  {
    name: 'experimental-warning-apply-duration',
    kind: 'string',
    default: '100ms',
    description:
      'A warning is logged (and etcd_server_slow_apply_total counts) when applying an entry takes longer.',
  },
  {
    name: 'experimental-compaction-batch-limit',
    kind: 'int',
    default: '1000',
    description: 'Maximum revisions deleted in each compaction batch.',
  },
  {
    name: 'cors',
    kind: 'list',
    default: '*',
    description:
      'Comma-separated whitelist of origins for CORS on the HTTP side of the client port (empty or * means allow all).',
  },
  {
    name: 'host-whitelist',
    kind: 'list',
    default: '*',
    description:
      'Acceptable Host names of HTTP requests on plain-text client URLs (empty or * means allow all); others get 421.',
  },
  {
    name: 'proxy',
    kind: 'string',
    default: 'off',
    description: "etcd's v2 proxy mode: xetcd is never a proxy, so only 'off' is accepted.",
  },
  {
    name: 'discovery',
    kind: 'string',
    default: '',
    description: "etcd's v2 discovery URL: not supported, bootstrap with --initial-cluster.",
  },
  {
    name: 'discovery-srv',
    kind: 'string',
    default: '',
    description: 'DNS SRV bootstrap: not supported, bootstrap with --initial-cluster.',
  },
  {
    name: 'experimental-enable-v2v3',
    kind: 'string',
    default: '',
    description: 'v2 requests over the v3 backend: not supported (xetcd serves only v3).',
  },
  {
    name: 'nats-servers',
    kind: 'list',
    default: '',
    description:
      'NATS server URLs that carry peer traffic (needed when --initial-cluster has more than one member).',
  },
  {
    name: 'nats-tls-ca-file',
    kind: 'string',
    default: '',
    description: "CA bundle that the NATS servers' certificates must chain to (TLS to NATS).",
  },
  {
    name: 'nats-tls-cert-file',
    kind: 'string',
    default: '',
    description: 'Client certificate this member presents to NATS (with --nats-tls-key-file).',
  },
  {
    name: 'nats-tls-key-file',
    kind: 'string',
    default: '',
    description: 'Key of --nats-tls-cert-file.',
  },
  {
    name: 'nats-creds-file',
    kind: 'string',
    default: '',
    description: 'NATS credentials file (user JWT and NKey seed) this member connects with.',
  },
  {
    name: 'nats-user',
    kind: 'string',
    default: '',
    secret: true,
    description: 'NATS user name this member connects with (with nats-password).',
  },
  {
    name: 'nats-password',
    kind: 'string',
    default: '',
    secret: true,
    description: 'Password of nats-user.',
  },
  {
    name: 'nats-token',
    kind: 'string',
    default: '',
    secret: true,
    description: 'NATS authorization token this member connects with.',
  },
  {
    name: 'nats-watch-subjects',
    kind: 'bool',
    default: 'false',
    description:
      'Publish every change of the key space to NATS on xetcd.<cluster-id>.kv.<key tokens>, with progress bookmarks and a replay service (docs/nats-watch.md).',
  },
  {
    name: 'nats-watch-jetstream',
    kind: 'string',
    default: '',
    description:
      'Publish the changes into this JetStream stream (created if missing) with Nats-Msg-Id de-duplication, instead of plain NATS; implies --nats-watch-subjects.',
  },
  {
    name: 'peer-key-file',
    kind: 'string',
    default: '',
    description:
      "File holding the secret every member shares: peer messages are authenticated with it (MAC over each message, its cluster and sender). With --peer-cert-file it is etcd's peer TLS key instead, and not read.",
    yamlSection: 'peer-transport-security',
    yamlKey: 'key-file',
  },
  {
    name: 'inspect',
    kind: 'string',
    default: '',
    optionalValue: true,
    description:
      "Show the member's actors in an XState inspector: a ws:// URL streams them there; bare or 'true' serves them on the client port at /inspect (WebSocket).",
  },
  ...INERT_FLAGS,
];

/** YAML keys of etcd's config file that are no flag: why they change nothing, or undefined when they are honoured. */
export const YAML_ONLY_KEYS: Readonly<Record<string, string>> = {
  'enable-grpc-gateway':
    'the JSON gateway (/v3/...) is always served on the client port; it carries no state of its own',
};

/** Not a setting of the member, so not in FLAGS: where the YAML comes from. */
export const CONFIG_FILE_FLAG = 'config-file';

/** `election-timeout` → `XETCD_ELECTION_TIMEOUT`. */
export function envName(flag: string): string {
  return `XETCD_${envSuffix(flag)}`;
}

/** `election-timeout` → `ETCD_ELECTION_TIMEOUT`, the variable etcd reads for the flag. */
export function etcdEnvName(flag: string): string {
  return `ETCD_${envSuffix(flag)}`;
}

function envSuffix(flag: string): string {
  return flag.toUpperCase().replace(/-/g, '_');
}

export function flagSpec(name: string): FlagSpec | undefined {
  return FLAGS.find((f) => f.name === name);
}
