// A cluster of xetcd members as real processes over a real nats-server, each
// member reaching NATS through its own fault proxy, so a test can cut, delay or
// thin one member's traffic with no hook in the product. Members are started
// the way a user starts them (`node bin/xetcd.js` with etcd's flags) on loopback
// ports, and can be killed, stopped, paused and started again on the same data.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startNats, type NatsInstance } from './nats.js';
import { startProcess, type ExitStatus, type ManagedProcess } from './process.js';
import { freePorts } from './ports.js';
import { httpGet } from './probes.js';
import { startTcpProxy, type TcpProxy } from './tcpProxy.js';
import { makeTempDir, type TempDir } from './tempdir.js';
import { XETCD_BIN, REPO_ROOT } from './xetcd.js';
import { EtcdRpcClient } from './etcdRpc.js';
import type { StatusResponse } from '../../src/proto/etcdserverpb.js';

export interface ClusterOptions {
  readonly size: number;
  /** etcd's --heartbeat-interval and --election-timeout (ms); etcd's defaults when omitted. */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** Extra flags for every member. */
  readonly args?: readonly string[];
  /** nats-server flags (e.g. a config file raising max_payload). */
  readonly natsArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
  /**
   * Members connect to NATS directly instead of through their proxies (a
   * benchmark measures the cluster, not the proxy; faults cannot be injected).
   */
  readonly direct?: boolean;
  /** Flags for the members' node processes (e.g. --cpu-prof for a profile). */
  readonly nodeArgs?: readonly string[];
}

export class ClusterMember {
  process: ManagedProcess | undefined;
  /** Output of earlier runs of this member, for failure messages. */
  private readonly pastOutput: string[] = [];

  constructor(
    readonly cluster: TestCluster,
    readonly name: string,
    readonly clientPort: number,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly proxy: TcpProxy,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.process?.isRunning() ?? false;
  }

  /** Starts the member; it is ready once its client port answers /health (with or without a leader). */
  async start(
    opts: {
      state?: 'new' | 'existing';
      initialCluster?: string;
      args?: readonly string[];
      /** false: return once spawned (a member expected to stop by itself). */
      waitReady?: boolean;
    } = {},
  ): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const c = this.cluster;
    this.process = await startProcess({
      name: `xetcd:${this.name}`,
      command: process.execPath,
      args: [
        ...c.nodeArgs,
        XETCD_BIN,
        '--name',
        this.name,
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        this.endpoint,
        '--advertise-client-urls',
        this.endpoint,
        '--initial-advertise-peer-urls',
        this.peerUrl,
        '--initial-cluster',
        opts.initialCluster ?? c.initialCluster(),
        '--initial-cluster-token',
        c.token,
        '--initial-cluster-state',
        opts.state ?? 'new',
        '--nats-servers',
        c.direct ? c.natsUrl : this.proxy.url,
        '--heartbeat-interval',
        String(c.heartbeatMs),
        '--election-timeout',
        String(c.electionMs),
        ...c.memberArgs,
        ...(opts.args ?? []),
      ],
      cwd: REPO_ROOT,
      ...(opts.waitReady === false
        ? {}
        : {
            ready: async () =>
              (await httpGet(`${this.endpoint}/health`, 500).catch(() => undefined)) !== undefined,
          }),
      readyTimeoutMs: c.readyTimeoutMs,
      pollMs: 100,
    });
  }

  /** SIGKILL (a crash) or SIGTERM (a clean stop); resolves once the process is gone. */
  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<ExitStatus> {
    const p = this.process;
    if (p === undefined || !p.isRunning()) throw new Error(`${this.name} is not running`);
    p.signal(signal);
    const status = await p.exited;
    this.pastOutput.push(p.output());
    return status;
  }

  pause(): void {
    this.process?.signal('SIGSTOP');
  }

  resume(): void {
    this.process?.signal('SIGCONT');
  }

  /** Maintenance Status of this member, or undefined when it does not answer in time. */
  async status(deadlineMs = 1_000): Promise<StatusResponse | undefined> {
    if (!this.running) return undefined;
    const client = new EtcdRpcClient(this.endpoint);
    try {
      return await client.status(deadlineMs);
    } catch {
      return undefined;
    } finally {
      client.close();
    }
  }

  client(): EtcdRpcClient {
    return new EtcdRpcClient(this.endpoint);
  }

  output(): string {
    return [...this.pastOutput, this.process?.output() ?? ''].join('\n--- restart ---\n');
  }
}

export class TestCluster {
  readonly members: ClusterMember[] = [];
  readonly token = `xetcd-test-${randomBytes(4).toString('hex')}`;
  /** The port nats-server listens on, kept across stopNats()/startNats(): the proxies dial it. */
  readonly natsPort: number;
  private nats: NatsInstance | undefined;

  private constructor(
    nats: NatsInstance,
    private readonly natsArgs: readonly string[],
    readonly dir: TempDir,
    readonly heartbeatMs: number,
    readonly electionMs: number,
    readonly memberArgs: readonly string[],
    readonly readyTimeoutMs: number,
    readonly direct: boolean,
    readonly nodeArgs: readonly string[],
  ) {
    this.nats = nats;
    this.natsPort = nats.port;
  }

  static async start(opts: ClusterOptions): Promise<TestCluster> {
    const dir = await makeTempDir('xetcd-cluster-');
    const natsArgs = opts.natsArgs ?? [];
    const nats = await startNats(natsArgs);
    const cluster = new TestCluster(
      nats,
      natsArgs,
      dir,
      opts.heartbeatMs ?? 100,
      opts.electionMs ?? 1_000,
      opts.args ?? [],
      opts.readyTimeoutMs ?? 30_000,
      opts.direct ?? false,
      opts.nodeArgs ?? [],
    );
    try {
      for (let i = 1; i <= opts.size; i++) await cluster.addMember(`m${i}`);
      // Together: a member alone has no quorum, so none would be healthy if started one by one.
      await Promise.all(cluster.members.map((m) => m.start()));
      await cluster.waitForLeader();
    } catch (err) {
      // The members' last words, before stop() removes them with their data.
      const tails = cluster.members
        .map(
          (m) =>
            `--- ${m.name} (${m.running ? 'running' : 'exited'}) ---\n${m.output().split('\n').slice(-15).join('\n')}`,
        )
        .join('\n');
      await cluster.stop();
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails}`, { cause: err });
    }
    return cluster;
  }

  /** A member with its own ports, data dir and proxy, not started (for `member add`). */
  async addMember(name: string): Promise<ClusterMember> {
    const [clientPort, peerPort] = await freePorts(2);
    const proxy = await startTcpProxy({ target: { port: this.natsPort } });
    const member = new ClusterMember(
      this,
      name,
      clientPort!,
      `http://127.0.0.1:${peerPort}`,
      join(this.dir.path, name),
      proxy,
    );
    this.members.push(member);
    return member;
  }

  /** --initial-cluster naming the given members (all of them by default). */
  initialCluster(members: readonly ClusterMember[] = this.members): string {
    return members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  endpoints(members: readonly ClusterMember[] = this.members): string[] {
    return members.map((m) => m.endpoint);
  }

  running(): ClusterMember[] {
    return this.members.filter((m) => m.running);
  }

  /**
   * Waits until every running member (or those given) names the same leader,
   * which is one of them, and returns it.
   */
  async waitForLeader(
    among: readonly ClusterMember[] = this.running(),
    timeoutMs = 20_000,
  ): Promise<ClusterMember> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const statuses = await Promise.all(among.map((m) => m.status()));
      const leaders = new Set(statuses.map((s) => s?.leader ?? 0n));
      if (leaders.size === 1 && !leaders.has(0n)) {
        const lead = [...leaders][0]!;
        const leader = among.find((_, i) => statuses[i]?.header?.memberId === lead);
        if (leader !== undefined) return leader;
      }
      last = statuses
        .map((s, i) => `${among[i]!.name}: ${s ? s.leader.toString(16) : 'no answer'}`)
        .join(', ');
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no agreed leader within ${timeoutMs} ms (${last})`);
  }

  /** nats-server's own address (members normally reach it through their proxies). */
  get natsUrl(): string {
    return `nats://127.0.0.1:${this.natsPort}`;
  }

  get natsRunning(): boolean {
    return this.nats?.process.isRunning() ?? false;
  }

  /** Stops nats-server (SIGTERM, or SIGKILL: a crash); members and proxies stay up. */
  async stopNats(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const nats = this.nats;
    if (nats === undefined) throw new Error('nats-server is not running');
    this.nats = undefined;
    if (signal === 'SIGKILL') nats.process.signal('SIGKILL');
    await nats.stop();
  }

  /** Starts nats-server again on the same port, with the same flags. */
  async startNats(): Promise<void> {
    if (this.nats !== undefined) throw new Error('nats-server is already running');
    this.nats = await startNats([...this.natsArgs, '-p', String(this.natsPort)]);
  }

  /** Stops every member, its proxy, and NATS, and removes the data. */
  async stop(): Promise<void> {
    for (const m of this.members) m.resume();
    await Promise.all(this.members.map((m) => m.process?.stop(5_000)));
    await Promise.all(this.members.map((m) => m.proxy.close()));
    await this.nats?.stop();
    this.nats = undefined;
    await this.dir.remove();
  }
}
