// The fault cases, named as etcd's functional tester (SIGTERM_*, BLACKHOLE_PEER_PORT_*,
// DELAY_PEER_PORT_*, *_UNTIL_TRIGGER_SNAPSHOT) and robustness suite name theirs. "Peer
// port" here is the member's link to NATS: every Raft message it sends or receives
// crosses its own fault proxy (test/helpers/tcpProxy.ts).
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterMember } from '../helpers/cluster.js';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  PutRequest,
} from '../../src/proto/etcdserverpb.js';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { FAST_RECONNECT } from './load.js';
import { valuesWritten, waitUntil, type CaseContext, type FaultCase, type FaultCluster } from './harness.js';

type Target = 'ONE_FOLLOWER' | 'LEADER' | 'QUORUM' | 'ALL';

async function withRpc<T>(member: ClusterMember, fn: (c: EtcdRpcClient) => Promise<T>): Promise<T> {
  const c = new EtcdRpcClient(member.endpoint, FAST_RECONNECT);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

function shuffled<T>(ctx: CaseContext, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = ctx.rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The members a case hits; the first is the one an UNTIL_TRIGGER_SNAPSHOT case keeps out longest. */
function targets(ctx: CaseContext, target: Target, leader: ClusterMember): ClusterMember[] {
  const members = ctx.cluster.members;
  const followers = shuffled(
    ctx,
    members.filter((m) => m !== leader),
  );
  switch (target) {
    case 'ONE_FOLLOWER':
      return [followers[0]!];
    case 'LEADER':
      return [leader];
    case 'QUORUM':
      return shuffled(ctx, members).slice(0, Math.floor(members.length / 2) + 1);
    case 'ALL':
      return shuffled(ctx, members);
  }
}

/** The highest raft index any running member reports: no member's log goes past it by much. */
async function highestIndex(members: readonly ClusterMember[]): Promise<number> {
  const statuses = await Promise.all(members.map((m) => m.status(1_000)));
  return Math.max(0, ...statuses.map((s) => s?.raftIndex ?? 0));
}

/** Entries beyond the highest commit index a member may hold (appended, not yet committed). */
const UNCOMMITTED_MARGIN = 200;

/** The last index a member compacted its log to, from its log. */
function compactedTo(member: ClusterMember): number {
  let last = 0;
  for (const m of member.process?.output().matchAll(/"compacted-to":(\d+)[^\n]*compacted the log/g) ?? [])
    last = Math.max(last, Number(m[1]));
  return last;
}

/**
 * Raft entries that change no key: txns whose compare never holds. They move the log
 * (towards a snapshot) without a revision the load's history would have to explain.
 */
function startFiller(member: ClusterMember, writers = 16): { stop(): Promise<void> } {
  let stopped = false;
  const c = new EtcdRpcClient(member.endpoint, FAST_RECONNECT);
  const key = Buffer.from('fault-filler');
  const loops = Array.from({ length: writers }, async () => {
    while (!stopped) {
      await c
        .txn(
          {
            compare: [
              Compare.create({
                key,
                target: Compare_CompareTarget.VERSION,
                result: Compare_CompareResult.EQUAL,
                version: 1_000_000,
              }),
            ],
            success: [{ requestPut: PutRequest.create({ key, value: key }) }],
          },
          2_000,
        )
        .catch(() => sleep(100));
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      c.close();
    },
  };
}

/**
 * Drives the log on until every running member compacted it past `index`: a member
 * behind `index` can then catch up only by snapshot.
 */
async function compactPast(ctx: CaseContext, index: number, cutOff: readonly ClusterMember[]): Promise<void> {
  const running = ctx.cluster.members.filter((m) => m.running && !cutOff.includes(m));
  const leader = await ctx.cluster.cluster.waitForLeader(running, ctx.settings.recoveryTimeoutMs);
  const filler = startFiller(leader);
  const t0 = performance.now();
  const done = await waitUntil(
    async () => running.every((m) => compactedTo(m) > index),
    ctx.settings.recoveryTimeoutMs * 2,
    200,
  );
  await filler.stop();
  if (!done)
    ctx.problem(
      `the log was not compacted past ${index} in time (${running.map((m) => `${m.name}: ${compactedTo(m)}`).join(', ')})`,
    );
  else ctx.note(`log compacted past ${index} in ${Math.round(performance.now() - t0)} ms`);
}

function expectSnapshotInstalled(ctx: CaseContext, member: ClusterMember | undefined): void {
  if (member === undefined) return;
  const out = member.process?.output() ?? '';
  if (!/installed a snapshot from the leader/.test(out))
    return ctx.problem(`${member.name} caught up without installing a snapshot`);
  const received = /"bytes":(\d+),"took-ms":(\d+)[^\n]*received a snapshot/.exec(out);
  const installed = /"took-ms":(\d+)[^\n]*installed a snapshot from the leader/.exec(out);
  ctx.note(
    `${member.name} received a snapshot of ${received?.[1] ?? '?'} bytes in ${received?.[2] ?? '?'} ms, installed it in ${installed?.[1] ?? '?'} ms`,
  );
}

function killCase(signal: 'SIGTERM' | 'SIGKILL', target: Target, untilSnapshot: boolean): FaultCase {
  let behind: ClusterMember | undefined;
  return {
    name: `${signal}_${target}${untilSnapshot ? '_UNTIL_TRIGGER_SNAPSHOT' : ''}`,
    profile: 'default',
    async run(ctx) {
      behind = undefined;
      const leader = await ctx.cluster.leader();
      const victims = targets(ctx, target, leader);
      ctx.note(`${signal} ${victims.map((v) => v.name).join(', ')} (leader ${leader.name})`);
      const index = (await highestIndex(ctx.cluster.members)) + UNCOMMITTED_MARGIN;
      const t0 = performance.now();
      await Promise.all(victims.map((v) => v.kill(signal)));
      if (untilSnapshot) {
        // All but one come back; the one left out stays down until the log it knew is gone.
        const [last, ...rest] = victims;
        await Promise.all(rest.map((v) => v.start()));
        await compactPast(ctx, index, [last!]);
        behind = last;
      }
      await ctx.holdUntil(t0);
      ctx.healed();
      const restarted = performance.now();
      await Promise.all(victims.filter((v) => !v.running).map((v) => v.start()));
      ctx.note(`restarted; client ports answered after ${Math.round(performance.now() - restarted)} ms`);
    },
    async verify(ctx) {
      expectSnapshotInstalled(ctx, behind);
    },
  };
}

function blackholeCase(target: Target, untilSnapshot = false): FaultCase {
  let behind: ClusterMember | undefined;
  let cut: { leader: ClusterMember; at: number; until: number; values: string[] } | undefined;
  return {
    name: `BLACKHOLE_PEER_PORT_TX_RX_${target}${untilSnapshot ? '_UNTIL_TRIGGER_SNAPSHOT' : ''}`,
    profile: 'default',
    async run(ctx) {
      behind = undefined;
      cut = undefined;
      const fc = ctx.cluster;
      const leader = await fc.leader();
      const victims = targets(ctx, target, leader);
      ctx.note(`cut ${victims.map((v) => v.name).join(', ')} off NATS (leader ${leader.name})`);
      const index = (await highestIndex(fc.members)) + UNCOMMITTED_MARGIN;
      const t0 = performance.now();
      for (const v of victims) v.proxy.blackhole('both');
      if (target === 'LEADER') cut = await leaderCutOff(ctx, leader, t0);
      if (untilSnapshot) {
        await compactPast(ctx, index, victims);
        behind = victims[0];
      }
      await ctx.holdUntil(t0);
      if (cut !== undefined) cut.until = performance.now();
      for (const v of victims) v.proxy.heal('both');
      ctx.healed();
    },
    async verify(ctx, agreement) {
      expectSnapshotInstalled(ctx, behind);
      if (cut === undefined) return;
      // The old leader's uncommitted tail: writes it took after the cut, none of which may survive.
      const written = await valuesWritten(
        ctx.cluster.members.find((m) => m !== cut!.leader)!,
        ctx.load.prefix,
        ctx.startRevision,
        agreement.revision,
      );
      const survived = cut.values.filter((v) => written.has(v));
      if (survived.length > 0)
        ctx.problem(`writes taken by the cut-off leader survived: ${survived.join(', ')}`);
      // Without a quorum it can neither commit a write nor confirm a read index: nothing
      // called through it after the cut may have succeeded before the heal.
      const clients = new Set([...ctx.load.clientsOn(cut.leader.endpoint), 'cut-leader']);
      const { at, until } = cut;
      const answered = ctx.load
        .history()
        .filter(
          (op) => clients.has(op.client) && op.call > at && op.return !== undefined && op.return < until,
        );
      if (answered.length > 0)
        ctx.problem(
          `the cut-off leader answered ${answered.length} calls made after the cut before the heal, the first ${answered[0]!.type} ${Math.round(answered[0]!.return! - at)} ms after the cut`,
        );
    },
  };
}

/**
 * A leader cut off from its peers: it takes a few writes it can never commit, steps
 * down within about an election timeout (CheckQuorum), and the others elect a leader.
 * Returns the values of the writes it took.
 */
async function leaderCutOff(
  ctx: CaseContext,
  leader: ClusterMember,
  cutAt: number,
): Promise<{ leader: ClusterMember; at: number; until: number; values: string[] }> {
  const { electionMs } = ctx.settings;
  const leaderId = await ctx.cluster.idOf(leader);
  const probe = ctx.load.recordingClient('cut-leader', leader.endpoint, 2 * electionMs);
  const values = [0, 1, 2].map((i) => `tail-${i}-${ctx.startRevision}`);
  const tail = Promise.all(
    values.map((v, i) => probe.client.put(ctx.load.keys[i]!, v).catch(() => undefined)),
  ).finally(() => probe.close());
  const steppedDown = await waitUntil(
    async () => {
      const s = await leader.status(500);
      return s !== undefined && s.leader !== leaderId;
    },
    2 * electionMs + 2_000,
    50,
  );
  const stepDownMs = Math.round(performance.now() - cutAt);
  if (!steppedDown) ctx.problem(`the cut-off leader still leads ${stepDownMs} ms after the cut`);
  else ctx.note(`the cut-off leader stepped down after ${stepDownMs} ms`);
  const others = ctx.cluster.others(leader);
  const next = await ctx.cluster.cluster.waitForLeader(others, ctx.settings.recoveryTimeoutMs);
  ctx.note(`${next.name} elected ${Math.round(performance.now() - cutAt)} ms after the cut`);
  await tail;
  return { leader, at: cutAt, until: Infinity, values };
}

/** One direction of a member's messages lost (the connection and its pings stay up: NATS would drop a connection blackholed at TCP). */
function oneWayCase(direction: 'TX' | 'RX', profile: 'default' | 'preVote'): FaultCase {
  let termBefore = 0;
  return {
    name: `BLACKHOLE_PEER_PORT_${direction}_ONE_FOLLOWER${profile === 'preVote' ? '_PREVOTE' : ''}`,
    profile,
    async run(ctx) {
      const leader = await ctx.cluster.leader();
      termBefore = (await leader.status())?.raftTerm ?? 0;
      const [follower] = targets(ctx, 'ONE_FOLLOWER', leader);
      ctx.note(`${follower!.name} loses every message it ${direction === 'TX' ? 'sends' : 'receives'}`);
      const t0 = performance.now();
      follower!.proxy.dropMessages(1, direction === 'TX' ? 'clientToServer' : 'serverToClient');
      await ctx.holdUntil(t0, ctx.settings.holdMs + ctx.settings.electionMs);
      follower!.proxy.heal('both');
      ctx.healed();
    },
    async verify(ctx, agreement) {
      if (profile !== 'preVote') return;
      const leader = await ctx.cluster.leader();
      const term = (await leader.status())?.raftTerm ?? 0;
      // PreVote: the member that hears no one never raises the term, so nobody is deposed.
      if (term !== termBefore)
        ctx.problem(
          `the term went from ${termBefore} to ${term} (leader now ${agreement.leader.toString(16)})`,
        );
    },
  };
}

function delayCase(kind: 'DELAY' | 'RANDOM_DELAY' | 'DROP', target: 'LEADER' | 'ONE_FOLLOWER'): FaultCase {
  return {
    name: `${kind}_PEER_PORT_TX_RX_${target}`,
    profile: 'default',
    async run(ctx) {
      const { electionMs } = ctx.settings;
      const leader = await ctx.cluster.leader();
      const [victim] = targets(ctx, target, leader);
      const before = victim!.proxy.stats();
      const t0 = performance.now();
      switch (kind) {
        // Longer than an election timeout: the first messages after the change arrive too late.
        case 'DELAY':
          victim!.proxy.delay({ ms: 1.5 * electionMs });
          break;
        case 'RANDOM_DELAY':
          victim!.proxy.delay({ ms: electionMs / 2, jitterMs: 1.5 * electionMs });
          break;
        case 'DROP':
          victim!.proxy.dropMessages(0.5);
          break;
      }
      ctx.note(`${kind} on ${victim!.name} (leader ${leader.name})`);
      await ctx.holdUntil(t0, ctx.settings.holdMs + electionMs);
      victim!.proxy.heal('both');
      ctx.healed();
      if (kind === 'DROP') {
        const after = victim!.proxy.stats();
        const count = (s: typeof after, k: 'messages' | 'messagesDropped'): number =>
          s.clientToServer[k] + s.serverToClient[k];
        ctx.note(
          `dropped ${count(after, 'messagesDropped') - count(before, 'messagesDropped')} of ${count(after, 'messages') - count(before, 'messages')} messages`,
        );
      }
    },
  };
}

function natsCase(kind: 'STOP' | 'RESTART'): FaultCase {
  return {
    name: kind === 'STOP' ? 'NATS_SERVER_DOWN' : 'NATS_SERVER_RESTART',
    profile: 'default',
    async run(ctx) {
      const t0 = performance.now();
      if (kind === 'STOP') {
        await ctx.cluster.cluster.stopNats();
        await ctx.holdUntil(t0);
      } else await ctx.cluster.cluster.stopNats('SIGKILL');
      await ctx.cluster.cluster.startNats();
      ctx.healed();
    },
  };
}

/** `etcdserver: no leader` or `etcdserver: request timed out`, as etcd says when it cannot serve. */
const CANNOT_SERVE = /etcdserver: (no leader|request timed out)/;

/** A member cut off from NATS with its client port up: it refuses, and says why. */
function isolatedServingCase(): FaultCase {
  return {
    name: 'BLACKHOLE_PEER_PORT_TX_RX_ONE_FOLLOWER_CLIENT_PORT_UP',
    profile: 'default',
    async run(ctx) {
      const leader = await ctx.cluster.leader();
      const [isolated] = targets(ctx, 'ONE_FOLLOWER', leader);
      const t0 = performance.now();
      isolated!.proxy.blackhole('both');
      // Once it knows it has no leader: a request caught by the moment it learns so is
      // told `etcdserver: leader changed`, as etcd tells it.
      const alone = await waitUntil(
        async () => (await isolated!.status(500))?.leader === 0n,
        3 * ctx.settings.electionMs + 2_000,
      );
      if (!alone) ctx.problem(`${isolated!.name} still names a leader while cut off`);
      // Longer than the member's own request timeout (5 s + 2 election timeouts): its answer, not ours.
      const deadline = 10_000 + 4 * ctx.settings.electionMs;
      const probe = ctx.load.recordingClient('isolated', isolated!.endpoint, deadline);
      const asked = performance.now();
      const [write, read] = await Promise.all([
        probe.client.put(ctx.load.keys[0]!, `isolated-${ctx.startRevision}`).then(
          () => 'acknowledged',
          (err: Error) => err.message,
        ),
        probe.client.get(ctx.load.keys[0]!).then(
          () => 'served',
          (err: Error) => err.message,
        ),
      ]);
      probe.close();
      ctx.note(
        `${isolated!.name} answered in ${Math.round(performance.now() - asked)} ms: write "${write}", read "${read}"`,
      );
      if (!CANNOT_SERVE.test(write)) ctx.problem(`a write to the isolated member: ${write}`);
      if (!CANNOT_SERVE.test(read)) ctx.problem(`a linearizable read on the isolated member: ${read}`);
      await ctx.holdUntil(t0);
      isolated!.proxy.heal('both');
      ctx.healed();
    },
  };
}

/**
 * SIGSTOP the leader past two election timeouts, then SIGCONT: reads on it right after
 * must not be stale (the checker sees them), and a lease kept alive through another
 * member all along must still exist, though the old leader's clock says it expired.
 */
function pauseLeaderCase(): FaultCase {
  let lease: { id: bigint; key: string; keeper: ClusterMember } | undefined;
  let keepAlive: { stop(): Promise<void>; failures: number; lost: boolean } | undefined;
  let paused: ClusterMember | undefined;
  return {
    name: 'SIGSTOP_LEADER_PAST_ELECTION_TIMEOUT',
    profile: 'default',
    async prepare(ctx) {
      const leader = await ctx.cluster.leader();
      const keeper = ctx.cluster.others(leader)[0]!;
      const ttl = Math.max(2, Math.ceil((1.5 * ctx.settings.electionMs) / 1000));
      const key = `f/lease/${ctx.rng.u32().toString(16)}`;
      const id = await withRpc(keeper, async (c) => {
        const granted = await c.leaseGrant(ttl);
        await c.put({ key: Buffer.from(key), value: Buffer.from('kept alive'), lease: granted.id });
        return granted.id;
      });
      lease = { id, key, keeper };
      keepAlive = keepLeaseAlive(keeper, id, ctx.settings.heartbeatMs * 3);
      ctx.note(`lease ${id.toString(16)} (TTL ${ttl} s) kept alive through ${keeper.name}`);
    },
    async run(ctx) {
      const { electionMs } = ctx.settings;
      const leader = await ctx.cluster.leader();
      const t0 = performance.now();
      leader.pause();
      await sleep(2 * electionMs + 500);
      const next = await ctx.cluster.cluster.waitForLeader(ctx.cluster.others(leader));
      ctx.note(`${leader.name} paused; ${next.name} elected within ${Math.round(performance.now() - t0)} ms`);
      // Calls sent the moment it wakes: a paused leader that still believes it leads must
      // serve no stale read and acknowledge no write it cannot commit (the checker sees them).
      const probe = ctx.load.recordingClient('woken', leader.endpoint, 3_000);
      paused = leader;
      leader.resume();
      ctx.healed();
      await Promise.all([
        ...ctx.load.keys.map((k) => probe.client.get(k).catch(() => undefined)),
        ...ctx.load.keys
          .slice(0, 3)
          .map((k, i) => probe.client.put(k, `woken-${i}-${ctx.startRevision}`).catch(() => undefined)),
      ]);
      probe.close();
    },
    async verify(ctx) {
      const l = lease!;
      const k = keepAlive!;
      if (k.lost) ctx.problem(`lease ${l.id.toString(16)} was revoked while kept alive`);
      const present = await withRpc(l.keeper, (c) => c.range({ key: Buffer.from(l.key) }));
      if (present.kvs.length !== 1) ctx.problem(`the key attached to the kept-alive lease is gone`);
      ctx.note(`keep-alives that failed meanwhile: ${k.failures}`);
      // Whether the woken leader's own clock had the lease expired: the case then proved that it did not revoke it.
      const tried = new RegExp(`"lease":"${l.id.toString(16)}"[^\n]*lease expired; revoking`);
      if (paused?.process !== undefined && tried.test(paused.process.output()))
        ctx.note(`${paused.name} found the lease expired when it woke and tried to revoke it`);
    },
    async cleanup() {
      await keepAlive?.stop();
      keepAlive = undefined;
      const l = lease;
      lease = undefined;
      if (l !== undefined && l.keeper.running)
        await withRpc(l.keeper, (c) => c.deleteRange({ key: Buffer.from(l.key) }));
    },
  };
}

/** Keep-alives every `everyMs`, each on its own stream with a short deadline, so one stuck on a paused leader holds up none after it. */
function keepLeaseAlive(
  member: ClusterMember,
  id: bigint,
  everyMs: number,
): { stop(): Promise<void>; failures: number; lost: boolean } {
  const c = new EtcdRpcClient(member.endpoint, FAST_RECONNECT);
  const state = { failures: 0, lost: false, stop: async () => undefined };
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p = c.leaseKeepAliveOnce(id, 1_000).then(
      (res) => {
        if (res.ttl <= 0) state.lost = true;
      },
      () => {
        state.failures++;
      },
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, everyMs);
  state.stop = async () => {
    clearInterval(timer);
    await Promise.all(pending);
    c.close();
  };
  return state;
}

/** Retries a membership request the cluster may refuse for a moment (a leader change, a learner catching up). */
async function retry<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (performance.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(300);
    }
  }
}

/** Kill a follower, remove it, and add it back from scratch: an empty data dir, `member add`, `--initial-cluster-state existing`. */
function removeAndAddBackCase(): FaultCase {
  return {
    name: 'SIGKILL_AND_REMOVE_ONE_FOLLOWER_THEN_ADD_BACK',
    profile: 'default',
    async run(ctx) {
      const fc = ctx.cluster;
      const leader = await fc.leader();
      const [victim] = targets(ctx, 'ONE_FOLLOWER', leader);
      const id = await fc.idOf(victim!);
      const t0 = performance.now();
      await victim!.kill('SIGKILL');
      await retry('member remove', 20_000, () => withRpc(leader, (c) => c.memberRemove(id)));
      fc.forgetId(victim!);
      await rm(victim!.dataDir, { recursive: true, force: true });
      await ctx.holdUntil(t0);
      const survivor = fc.others(victim!)[0]!;
      await retry('member add', 20_000, () =>
        withRpc(survivor, (c) => c.memberAdd([victim!.peerUrl], false)),
      );
      ctx.healed();
      await victim!.start({ state: 'existing', initialCluster: fc.initialClusterWith(victim!) });
      ctx.note(`${victim!.name} removed and added back as ${(await fc.idOf(victim!)).toString(16)}`);
    },
  };
}

/** Add a learner under load, promote it once it caught up, then remove a different member. */
function learnerCase(): FaultCase {
  return {
    name: 'MEMBER_ADD_LEARNER_PROMOTE_AND_REMOVE_ANOTHER',
    profile: 'default',
    async run(ctx) {
      const fc = ctx.cluster;
      const leader = await fc.leader();
      const learner = await fc.newMember();
      const added = await retry('member add --learner', 20_000, () =>
        withRpc(leader, (c) => c.memberAdd([learner.peerUrl], true)),
      );
      const id = added.member!.id;
      await learner.start({ state: 'existing', initialCluster: fc.initialClusterWith(learner) });
      const t0 = performance.now();
      await retry('member promote', 30_000, () => withRpc(fc.members[0]!, (c) => c.memberPromote(id)));
      ctx.note(`${learner.name} promoted ${Math.round(performance.now() - t0)} ms after it started`);
      fc.members.push(learner);
      await fc.idOf(learner);
      // Which one leaves alternates with the seed: a follower, or the leader itself.
      const current = await fc.leader();
      const leaving = ctx.rng.chance(0.5)
        ? current
        : fc.others(current, learner)[ctx.rng.int(fc.members.length - 2)]!;
      const leavingId = await fc.idOf(leaving);
      await retry('member remove', 20_000, () =>
        withRpc(fc.others(leaving)[0]!, (c) => c.memberRemove(leavingId)),
      );
      fc.members = fc.others(leaving);
      const exit = await Promise.race([leaving.process!.exited, sleep(20_000).then(() => 'still running')]);
      ctx.note(
        `removed ${leaving.name}${leaving === current ? ' (the leader)' : ''}: exit ${JSON.stringify(exit)}`,
      );
      if (typeof exit === 'string' || exit.code !== 0)
        ctx.problem(`the removed member did not stop itself cleanly: ${JSON.stringify(exit)}`);
      ctx.healed();
    },
  };
}

/** etcdctl move-leader to a follower, under load. */
function moveLeaderCase(): FaultCase {
  return {
    name: 'MOVE_LEADER',
    profile: 'default',
    async run(ctx) {
      const fc = ctx.cluster;
      const leader = await fc.leader();
      const [target] = targets(ctx, 'ONE_FOLLOWER', leader);
      const targetId = await fc.idOf(target!);
      const r = await runEtcdctl(['move-leader', targetId.toString(16)], {
        endpoints: fc.members.map((m) => m.endpoint),
        timeoutMs: 20_000,
      });
      if (r.code !== 0) ctx.problem(`etcdctl move-leader: ${r.stderr.trim()}`);
      const now = await fc.leader();
      if (now !== target) ctx.problem(`the leader is ${now.name}, not ${target!.name}`);
      ctx.note(`leadership moved from ${leader.name} to ${now.name}`);
      ctx.healed();
    },
  };
}

/** Processes killed (SIGTERM, SIGKILL), restarted, removed and added back. */
export function crashCases(): FaultCase[] {
  const kills: FaultCase[] = [];
  for (const untilSnapshot of [false, true])
    for (const signal of ['SIGTERM', 'SIGKILL'] as const)
      for (const target of ['ONE_FOLLOWER', 'LEADER', 'QUORUM', 'ALL'] as const)
        kills.push(killCase(signal, target, untilSnapshot));
  return [...kills, removeAndAddBackCase()];
}

/** Faults of the road (cut, one way, delayed, lossy, NATS itself), a paused leader, membership changes. */
export function networkCases(): FaultCase[] {
  return [
    blackholeCase('ONE_FOLLOWER'),
    blackholeCase('ONE_FOLLOWER', true),
    blackholeCase('LEADER'),
    blackholeCase('QUORUM'),
    blackholeCase('ALL'),
    oneWayCase('TX', 'default'),
    oneWayCase('RX', 'default'),
    oneWayCase('RX', 'preVote'),
    delayCase('DELAY', 'LEADER'),
    delayCase('RANDOM_DELAY', 'ONE_FOLLOWER'),
    delayCase('DROP', 'LEADER'),
    natsCase('STOP'),
    natsCase('RESTART'),
    isolatedServingCase(),
    pauseLeaderCase(),
    learnerCase(),
    moveLeaderCase(),
  ];
}

/** Every case, in the order the suite runs them. */
export function allCases(): FaultCase[] {
  return [...crashCases(), ...networkCases()];
}

export function findCases(names: readonly string[]): FaultCase[] {
  const all = allCases();
  if (names.length === 0) return all;
  return names.map((n) => {
    const c = all.find((x) => x.name === n.toUpperCase());
    if (c === undefined) throw new Error(`no fault case ${n}; cases: ${all.map((x) => x.name).join(', ')}`);
    return c;
  });
}

export type { FaultCluster };
