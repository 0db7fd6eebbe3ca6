// Runs fault cases against a cluster of real xetcd processes over a real nats-server,
// the way etcd's functional tester does: one cluster serves case after case; each case
// runs under a steady recorded load, applies its fault, undoes it, and the harness then
// measures the recovery, stops the load and checks what must hold after any fault
// (checks.ts) plus what the case itself promises.
import { setTimeout as sleep } from 'node:timers/promises';
import { Rng } from '../../src/raft/rng.js';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';
import { EtcdRpcClient, type WatchResponse } from '../helpers/etcdRpc.js';
import {
  checkAcknowledgedWrites,
  checkHashes,
  checkHistory,
  waitForAgreement,
  type Agreement,
} from './checks.js';
import { FAST_RECONNECT, Load, type LoadStats } from './load.js';

/** Cluster flavours: etcd 3.4's defaults, or with PreVote on. */
export type Profile = 'default' | 'preVote';

export interface FaultSettings {
  readonly size: number;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  /** --snapshot-count and --experimental-snapshot-catchup-entries. */
  readonly snapshotCount: number;
  readonly catchUpEntries: number;
  readonly clients: number;
  readonly keys: number;
  /** Deadline of each load call. */
  readonly deadlineMs: number;
  /** Load before the fault. */
  readonly warmupMs: number;
  /** How long a fault is held (at least; a case may need longer). */
  readonly holdMs: number;
  /** Load after the cluster recovered, before it stops. */
  readonly cooldownMs: number;
  /** Longest wait for recovery and for the members to agree. */
  readonly recoveryTimeoutMs: number;
}

export const SHORT_SETTINGS: FaultSettings = {
  size: 3,
  heartbeatMs: 100,
  electionMs: 1_000,
  snapshotCount: 1_000,
  catchUpEntries: 500,
  clients: 6,
  keys: 8,
  deadlineMs: 2_000,
  warmupMs: 500,
  holdMs: 2_000,
  cooldownMs: 300,
  recoveryTimeoutMs: 30_000,
};

export interface CaseResult {
  readonly name: string;
  readonly seed: number;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly notes: readonly string[];
  readonly stats: LoadStats;
  /** From undoing the fault until every member served a linearizable read again. */
  readonly recoveryMs: number | undefined;
  readonly durationMs: number;
}

/** What a case works with while it runs. */
export interface CaseContext {
  readonly cluster: FaultCluster;
  readonly settings: FaultSettings;
  readonly load: Load;
  readonly rng: Rng;
  /** The revision before the load started (0 in prepare(), which runs before it is read). */
  readonly startRevision: number;
  /** Marks the moment the fault is undone: recovery is measured from here, alongside the rest of the case. */
  healed(): void;
  /** A fact worth showing in the report (a measured time, a choice made). */
  note(line: string): void;
  /** Something the case promises that did not hold. */
  problem(line: string): void;
  /** Keeps the fault on until `holdMs` has passed since `since` (performance.now()). */
  holdUntil(since: number, holdMs?: number): Promise<void>;
}

export interface FaultCase {
  /** As etcd's functional tester and robustness suite name their cases. */
  readonly name: string;
  readonly profile: Profile;
  /** Before the load starts: state the case needs that the history must not see being made. */
  prepare?(ctx: CaseContext): Promise<void>;
  /** Applies the fault, holds it, undoes it (calling ctx.healed()). */
  run(ctx: CaseContext): Promise<void>;
  /** After the common checks: what the case itself promises. */
  verify?(ctx: CaseContext, agreement: Agreement): Promise<void>;
  /** Last, whatever happened: releases what prepare() set up. */
  cleanup?(): Promise<void>;
}

/** Polls `cond` until it holds; false when `timeoutMs` passed first. */
export async function waitUntil(
  cond: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return true;
    if (performance.now() > deadline) return false;
    await sleep(everyMs);
  }
}

const LOG_PROBLEM = /"level":"(fatal|error)"/;

/**
 * A TestCluster and the membership the cases have made of it: members removed by a
 * case leave `members`, members added join it.
 */
export class FaultCluster {
  members: ClusterMember[];
  private readonly ids = new Map<ClusterMember, bigint>();
  private readonly logLinesSeen = new Set<string>();
  private nextName: number;

  private constructor(
    readonly cluster: TestCluster,
    readonly settings: FaultSettings,
  ) {
    this.members = [...cluster.members];
    this.nextName = cluster.members.length + 1;
  }

  static async start(profile: Profile, settings: FaultSettings): Promise<FaultCluster> {
    const cluster = await TestCluster.start({
      size: settings.size,
      heartbeatMs: settings.heartbeatMs,
      electionMs: settings.electionMs,
      args: [
        '--snapshot-count',
        String(settings.snapshotCount),
        '--experimental-snapshot-catchup-entries',
        String(settings.catchUpEntries),
        ...(profile === 'preVote' ? ['--pre-vote'] : []),
      ],
    });
    const fc = new FaultCluster(cluster, settings);
    try {
      for (const m of fc.members) await fc.idOf(m);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return fc;
  }

  stop(): Promise<void> {
    return this.cluster.stop();
  }

  /** The member's ID, as it said while running (kept for when it is down). */
  async idOf(member: ClusterMember): Promise<bigint> {
    const known = this.ids.get(member);
    if (known !== undefined) return known;
    const s = await member.status(5_000);
    const id = s?.header?.memberId;
    if (id === undefined) throw new Error(`${member.name} does not answer Status`);
    this.ids.set(member, id);
    return id;
  }

  /** Forgets a member's ID: it gets a new one when it is added again. */
  forgetId(member: ClusterMember): void {
    this.ids.delete(member);
  }

  /** The leader every running member names. */
  leader(timeoutMs = this.settings.recoveryTimeoutMs): Promise<ClusterMember> {
    return this.cluster.waitForLeader(
      this.members.filter((m) => m.running),
      timeoutMs,
    );
  }

  others(...not: ClusterMember[]): ClusterMember[] {
    return this.members.filter((m) => !not.includes(m));
  }

  /** A member for `member add`: its own ports, data dir and proxy; not in `members` until it joins. */
  newMember(): Promise<ClusterMember> {
    return this.cluster.addMember(`m${this.nextName++}`);
  }

  /** `--initial-cluster` for a member joining the current membership. */
  initialClusterWith(joining: ClusterMember): string {
    return this.cluster.initialCluster([...this.members.filter((m) => m !== joining), joining]);
  }

  /** Starts every member of the membership that is not running (after a case that failed half-way). */
  async restartStopped(): Promise<void> {
    for (const m of this.members) m.resume();
    await Promise.all(this.members.filter((m) => !m.running).map((m) => m.start()));
  }

  /** Undoes whatever a case left behind when it stopped half-way: network faults, pauses, NATS down. */
  async healAll(): Promise<void> {
    for (const m of this.cluster.members) {
      m.proxy.heal('both');
      m.resume();
    }
    if (!this.cluster.natsRunning) await this.cluster.startNats();
  }

  /** Fatal and error lines the members logged since the last call (a removed member's farewell is not counted). */
  newLogProblems(): string[] {
    const found: string[] = [];
    for (const m of this.members) {
      for (const line of m.output().split('\n')) {
        if (!LOG_PROBLEM.test(line) || this.logLinesSeen.has(line)) continue;
        this.logLinesSeen.add(line);
        found.push(`${m.name}: ${line.slice(0, 400)}`);
      }
    }
    return found;
  }
}

/**
 * Until every member serves a linearizable read: the time that took (undefined on
 * timeout), and when each member first served again.
 */
async function measureRecovery(
  fc: FaultCluster,
  since: number,
): Promise<{ ms: number | undefined; perMember: string }> {
  const clients = fc.members.map((m) => new EtcdRpcClient(m.endpoint, FAST_RECONNECT));
  const servedAt = new Map<number, number>();
  try {
    const ok = await waitUntil(async () => {
      await Promise.all(
        clients.map((c, i) =>
          servedAt.has(i)
            ? undefined
            : c.range({ key: Buffer.from('recovery-probe') }, 1_000).then(
                () => void servedAt.set(i, performance.now() - since),
                () => undefined,
              ),
        ),
      );
      return servedAt.size === clients.length;
    }, fc.settings.recoveryTimeoutMs);
    const perMember = fc.members
      .map((m, i) => `${m.name} ${servedAt.has(i) ? `${Math.round(servedAt.get(i)!)} ms` : 'never'}`)
      .join(', ');
    return { ms: ok ? performance.now() - since : undefined, perMember };
  } finally {
    for (const c of clients) c.close();
  }
}

/** Reads every key of the load on every member, into the history: every member must serve them. */
async function finalReads(fc: FaultCluster, load: Load): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    fc.members.map(async (m) => {
      const { client, close } = load.recordingClient(`final-${m.name}`, m.endpoint, 5_000);
      try {
        for (const key of load.keys) {
          await client.get(key).catch((err: Error) => {
            problems.push(`${m.name} serves no linearizable read of ${key}: ${err.message}`);
          });
        }
      } finally {
        close();
      }
    }),
  );
  return problems;
}

/** The values the key space held in (from, to], from a watch on one member. */
export async function valuesWritten(
  member: ClusterMember,
  prefix: string,
  from: number,
  to: number,
): Promise<Set<string>> {
  const c = new EtcdRpcClient(member.endpoint, FAST_RECONNECT);
  const stream = c.watch();
  const values = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch from ${from} did not reach ${to}`)), 10_000);
      stream.onResponse((res: WatchResponse) => {
        for (const e of res.events) {
          const kv = e.kv;
          if (kv === undefined) continue;
          if (Buffer.from(kv.key).toString().startsWith(prefix)) values.add(Buffer.from(kv.value).toString());
          if (kv.modRevision >= to) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      // The whole key space: the last revision is always some key's change.
      stream.create({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRevision: from + 1 });
    });
  } finally {
    stream.close();
    c.close();
  }
  return values;
}

export async function runCase(fc: FaultCluster, fault: FaultCase, seed: number): Promise<CaseResult> {
  const started = performance.now();
  const settings = fc.settings;
  const problems: string[] = [];
  const notes: string[] = [];
  await fc.restartStopped();
  const leader = await fc.leader();
  fc.newLogProblems();
  const prefix = `f/${fault.name}/${seed}/`;
  let recovering: ReturnType<typeof measureRecovery> | undefined;
  const ctxBase = {
    cluster: fc,
    settings,
    rng: new Rng(seed),
    // Measured from here on, while the case finishes undoing its fault (a member starting).
    healed: () => {
      recovering ??= measureRecovery(fc, performance.now());
    },
    note: (line: string) => notes.push(line),
    problem: (line: string) => problems.push(line),
    holdUntil: async (since: number, holdMs = settings.holdMs) => {
      const left = since + holdMs - performance.now();
      if (left > 0) await sleep(left);
    },
  };
  const load = new Load({
    prefix,
    keys: settings.keys,
    endpoints: fc.members.map((m) => m.endpoint),
    clients: settings.clients,
    deadlineMs: settings.deadlineMs,
    seed,
  });
  let recoveryMs: number | undefined;
  try {
    const prepareCtx: CaseContext = { ...ctxBase, load, startRevision: 0 };
    await fault.prepare?.(prepareCtx);
    const startRevision = await withRpc(
      leader,
      async (c) => (await c.range({ key: Buffer.from(prefix) })).header!.revision,
    );
    const ctx: CaseContext = { ...ctxBase, load, startRevision };
    load.start();
    await sleep(settings.warmupMs);
    await fault.run(ctx);
    ctx.healed();
    const recovery = await recovering!;
    recoveryMs = recovery.ms;
    notes.push(`served again after the fault was undone: ${recovery.perMember}`);
    if (recoveryMs === undefined)
      problems.push(`not every member served a linearizable read within ${settings.recoveryTimeoutMs} ms`);
    await sleep(settings.cooldownMs);
    await load.stop();
    const agreement = await waitForAgreement(fc.members, settings.recoveryTimeoutMs);
    problems.push(...(await finalReads(fc, load)));
    problems.push(...(await checkAcknowledgedWrites(load.history(), fc.members)));
    problems.push(...(await checkHashes(fc.members, agreement.revision)));
    const verdict = checkHistory(load.history(), startRevision);
    if (verdict.verdict !== 'linearizable')
      problems.push(`history ${verdict.verdict}:\n${verdict.explanation}`);
    notes.push(
      `history: ${verdict.stats.operations} operations, ${verdict.stats.unknownOutcomes} unknown, checked in ${Math.round(verdict.stats.ms)} ms`,
    );
    await fault.verify?.(ctx, agreement);
  } catch (err) {
    problems.push(`case aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await fc.healAll();
  } finally {
    await load.stop();
    load.close();
    // A case that stopped half-way may still be measuring: its clients close when it ends.
    await recovering;
    await fault.cleanup?.().catch((err: Error) => problems.push(`clean-up failed: ${err.message}`));
  }
  problems.push(...fc.newLogProblems());
  return {
    name: fault.name,
    seed,
    ok: problems.length === 0,
    problems,
    notes,
    stats: load.stats(),
    recoveryMs,
    durationMs: performance.now() - started,
  };
}

async function withRpc<T>(member: ClusterMember, fn: (c: EtcdRpcClient) => Promise<T>): Promise<T> {
  const c = new EtcdRpcClient(member.endpoint, FAST_RECONNECT);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
