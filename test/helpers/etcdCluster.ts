// A cluster of real etcd 3.4 members on loopback (Debian's /usr/bin/etcd), the
// reference a cluster of xetcd is measured against: the same member count,
// heartbeat and election timeout, each member its own process with its own
// data dir, killed and restarted like xetcd's.
import { join } from 'node:path';
import { ETCD_BIN } from './etcd.js';
import { freePorts } from './ports.js';
import { httpOk } from './probes.js';
import { startProcess, type ExitStatus, type ManagedProcess } from './process.js';
import { makeTempDir, type TempDir } from './tempdir.js';

export interface EtcdClusterOptions {
  readonly size: number;
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  readonly args?: readonly string[];
}

export class EtcdClusterMember {
  process: ManagedProcess | undefined;

  constructor(
    private readonly cluster: EtcdCluster,
    readonly name: string,
    readonly clientPort: number,
    readonly peerUrl: string,
    readonly dataDir: string,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.process?.isRunning() ?? false;
  }

  /** Starts the member; ready once its client port answers (a member alone may have no leader yet). */
  async start(): Promise<void> {
    const c = this.cluster;
    this.process = await startProcess({
      name: `etcd:${this.name}`,
      command: ETCD_BIN,
      args: [
        '--name',
        this.name,
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        this.endpoint,
        '--advertise-client-urls',
        this.endpoint,
        '--listen-peer-urls',
        this.peerUrl,
        '--initial-advertise-peer-urls',
        this.peerUrl,
        '--initial-cluster',
        c.initialCluster(),
        '--initial-cluster-token',
        'etcd-bench',
        '--initial-cluster-state',
        'new',
        '--heartbeat-interval',
        String(c.heartbeatMs),
        '--election-timeout',
        String(c.electionMs),
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
        ...c.memberArgs,
      ],
      // etcd reads ETCD_* variables as flags; keep the caller's environment out of it.
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' },
      ready: async (p) => p.isRunning() && (await httpOk(`${this.endpoint}/version`)(p)),
      readyTimeoutMs: 20_000,
    });
  }

  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<ExitStatus> {
    const p = this.process;
    if (p === undefined || !p.isRunning()) throw new Error(`${this.name} is not running`);
    p.signal(signal);
    return p.exited;
  }
}

export class EtcdCluster {
  readonly members: EtcdClusterMember[] = [];

  private constructor(
    private readonly dir: TempDir,
    readonly heartbeatMs: number,
    readonly electionMs: number,
    readonly memberArgs: readonly string[],
  ) {}

  static async start(opts: EtcdClusterOptions): Promise<EtcdCluster> {
    const dir = await makeTempDir('etcd-cluster-');
    const cluster = new EtcdCluster(dir, opts.heartbeatMs ?? 100, opts.electionMs ?? 1_000, opts.args ?? []);
    try {
      const ports = await freePorts(2 * opts.size);
      for (let i = 0; i < opts.size; i++) {
        cluster.members.push(
          new EtcdClusterMember(
            cluster,
            `e${i + 1}`,
            ports[2 * i]!,
            `http://127.0.0.1:${ports[2 * i + 1]!}`,
            join(dir.path, `e${i + 1}`),
          ),
        );
      }
      await Promise.all(cluster.members.map((m) => m.start()));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  initialCluster(): string {
    return this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.process?.stop(5_000)));
    await this.dir.remove();
  }
}
