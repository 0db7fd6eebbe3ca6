// A real etcd 3.4 (Debian's /usr/bin/etcd) on loopback, for validating the compat suite and
// as the benchmark's reference. Client and peer listeners are both on 127.0.0.1 random ports.
import type { ManagedProcess } from './process.js';
import { startProcess } from './process.js';
import { retryOnPortClash } from './portRetry.js';
import { freePorts } from './ports.js';
import { httpOk, httpsOk } from './probes.js';
import { serverTlsFlags, probeFiles, type TestPki } from './tls.js';

export const ETCD_BIN = process.env['ETCD_BIN'] ?? '/usr/bin/etcd';

/** What the compat suite and the benchmark need from a running server, whichever it is. */
export interface ServerInstance {
  readonly kind: 'etcd' | 'xetcd';
  /** `http://127.0.0.1:<port>`, usable as etcdctl's `--endpoints` and the etcd3 client's `hosts`. */
  readonly endpoint: string;
  /** The member's advertised peer URL, as `member list` prints it. */
  readonly peerUrl: string;
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly process: ManagedProcess;
  stop(graceMs?: number): Promise<void>;
}

export interface EtcdOptions {
  readonly dataDir: string;
  readonly port?: number;
  readonly peerPort?: number;
  readonly name?: string;
  /** `--initial-cluster` of a member of a larger cluster (with fixed ports); default: this member alone. */
  readonly initialCluster?: string;
  /** Extra etcd flags, e.g. `--auto-compaction-retention=1`. */
  readonly args?: readonly string[];
  readonly readyTimeoutMs?: number;
  /** Serve clients over TLS with the test PKI (https:// client URLs, etcd's TLS flags). */
  readonly tls?: { readonly pki: TestPki; readonly clientCertAuth: boolean };
}

export async function startEtcd(opts: EtcdOptions): Promise<ServerInstance> {
  return retryOnPortClash(opts.port !== undefined || opts.peerPort !== undefined, () => startEtcdOnce(opts));
}

async function startEtcdOnce(opts: EtcdOptions): Promise<ServerInstance> {
  const [p1, p2] = await freePorts(2);
  const port = opts.port ?? p1!;
  const peerPort = opts.peerPort ?? (p2 === port ? p1! : p2!);
  const name = opts.name ?? 'default';
  const client = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = await startProcess({
    name: `etcd:${port}`,
    command: ETCD_BIN,
    args: [
      '--name',
      name,
      '--data-dir',
      opts.dataDir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      opts.initialCluster ?? `${name}=${peer}`,
      '--initial-cluster-state',
      'new',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
      ...(opts.tls ? serverTlsFlags(opts.tls) : []),
      ...(opts.args ?? []),
    ],
    // etcd reads ETCD_* variables as flags; keep the caller's environment out of it.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' },
    ready: opts.tls ? httpsOk(`${client}/health`, probeFiles(opts.tls)) : httpOk(`${client}/health`),
    readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
  });
  return {
    kind: 'etcd',
    endpoint: client,
    peerUrl: peer,
    name,
    port,
    dataDir: opts.dataDir,
    process: proc,
    stop: async (graceMs = 5_000) => {
      await proc.stop(graceMs);
    },
  };
}
