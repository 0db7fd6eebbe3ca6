import type { Rng } from '../../src/raft/rng.js';
import type { ConfOp, SimEvent } from './schedule.js';
import type { SimNode } from './node.js';
import type { Envelope } from './network.js';
import type { Simulator } from './simulator.js';
import { isMember } from './ghost.js';

/** How often each kind of fault happens, relative to the steady work (delivery, Readies, ticks). */
export interface Profile {
  name: string;
  drop: number;
  dup: number;
  crash: number;
  pause: number;
  partition: number;
  conf: number;
  transfer: number;
  read: number;
  compact: number;
  skew: number;
  campaign: number;
  propose: number;
  /** Scales message delivery against time: below 1, messages wait for many ticks (delay) and elections race them. */
  deliver: number;
  /**
   * A node's whole backlog arrives at once, before it handles any of it (one
   * Ready for many messages): how an old leader's append and a new leader's
   * conflicting one meet in one node's Ready, and entries are replaced
   * before they were ever persisted.
   */
  burst: number;
  /** How soon a partition heals: low enough, and the cut-off side elects a leader of its own before it does. */
  heal: number;
  /** Of the partitions, the share that cuts the leader off with a minority (which then keeps proposing for nothing). */
  isolateLeader: number;
  /**
   * A node's Ready loop stalls for a while (a slow disk): it goes on taking
   * messages, and what it answers waits in its outbox for the next Ready.
   */
  stall: number;
  /**
   * Of a leader's Ready cycles, the share whose write lags: the Ready is
   * handed out and its messages leave at once (as the server sends a leader's
   * before its write is durable), and the write lands only some events later,
   * while acknowledgements come back, or never if the leader crashes first.
   */
  leaderDiskLag: number;
  /** CheckQuorum forced off: a leader cut off from the majority leads on, and two leaders append at once. */
  noCheckQuorum?: boolean;
  /** How many seeds draw this profile, relative to the others' 1. */
  share?: number;
}

export const PROFILES: readonly Profile[] = [
  {
    name: 'calm',
    drop: 0.5,
    dup: 0.2,
    crash: 0.05,
    pause: 0.05,
    partition: 0.05,
    conf: 0.3,
    transfer: 0.1,
    read: 1,
    compact: 0.3,
    skew: 0.2,
    campaign: 0.05,
    propose: 4,
    heal: 0.8,
    burst: 0.2,
    isolateLeader: 0.3,
    stall: 0.1,
    leaderDiskLag: 0.3,
    deliver: 1,
  },
  {
    name: 'lossy',
    drop: 6,
    dup: 2,
    crash: 0.1,
    pause: 0.1,
    partition: 0.2,
    conf: 0.3,
    transfer: 0.2,
    read: 1,
    compact: 0.5,
    skew: 0.5,
    campaign: 0.1,
    propose: 4,
    heal: 0.8,
    burst: 0.5,
    isolateLeader: 0.3,
    stall: 0.1,
    leaderDiskLag: 0.3,
    deliver: 1,
  },
  {
    name: 'crashy',
    drop: 1,
    dup: 0.5,
    crash: 0.8,
    pause: 0.4,
    partition: 0.2,
    conf: 0.3,
    transfer: 0.2,
    read: 1,
    compact: 0.6,
    skew: 0.3,
    campaign: 0.1,
    propose: 4,
    heal: 0.8,
    burst: 0.3,
    isolateLeader: 0.3,
    stall: 0.2,
    leaderDiskLag: 0.6,
    deliver: 1,
  },
  {
    name: 'partitions',
    drop: 1,
    dup: 0.5,
    crash: 0.2,
    pause: 0.2,
    partition: 1,
    conf: 0.3,
    transfer: 0.3,
    read: 1.5,
    compact: 0.5,
    skew: 0.3,
    campaign: 0.2,
    propose: 4,
    heal: 0.8,
    burst: 0.5,
    isolateLeader: 0.5,
    stall: 0.2,
    leaderDiskLag: 0.3,
    deliver: 1,
  },
  {
    name: 'reconfig',
    drop: 1,
    dup: 0.5,
    crash: 0.3,
    pause: 0.2,
    partition: 0.3,
    conf: 2.5,
    transfer: 0.6,
    read: 1,
    compact: 0.8,
    skew: 0.3,
    campaign: 0.1,
    propose: 4,
    heal: 0.8,
    burst: 0.3,
    isolateLeader: 0.3,
    stall: 0.1,
    leaderDiskLag: 0.3,
    deliver: 1,
  },
  {
    name: 'slow-network',
    drop: 1,
    dup: 0.5,
    crash: 0.3,
    pause: 0.2,
    partition: 0.3,
    conf: 0.5,
    transfer: 0.3,
    read: 1,
    compact: 0.5,
    skew: 0.5,
    campaign: 0.2,
    propose: 8,
    heal: 0.8,
    burst: 1,
    isolateLeader: 0.3,
    stall: 0.3,
    leaderDiskLag: 0.3,
    deliver: 0.12,
  },
  {
    name: 'storm',
    drop: 3,
    dup: 1,
    crash: 0.6,
    pause: 0.3,
    partition: 0.6,
    conf: 0.6,
    transfer: 0.4,
    read: 1,
    compact: 0.6,
    skew: 1,
    campaign: 0.5,
    propose: 8,
    heal: 0.8,
    burst: 0.5,
    isolateLeader: 0.3,
    stall: 0.2,
    leaderDiskLag: 0.5,
    deliver: 0.3,
  },
  // Two leaders at once and logs that disagree: the leader is cut off with a
  // minority and keeps appending (no CheckQuorum to stop it), the majority
  // elects another, and the two streams of appends meet at followers, often
  // in one Ready (bursts, slow delivery, stalled Ready loops).
  {
    name: 'conflicts',
    noCheckQuorum: true,
    share: 3,
    drop: 0.3,
    dup: 0.1,
    crash: 0.05,
    pause: 0.05,
    partition: 0.6,
    conf: 0.1,
    transfer: 0.1,
    read: 1,
    compact: 0.3,
    skew: 0.1,
    campaign: 0.1,
    propose: 8,
    heal: 0.2,
    burst: 3,
    isolateLeader: 0.9,
    stall: 0.5,
    leaderDiskLag: 0.3,
    deliver: 1,
  },
];

/** A profile drawn by its share. */
export function drawProfile(rng: Rng): Profile {
  return profileNamed(rng.weighted(Object.fromEntries(PROFILES.map((p) => [p.name, p.share ?? 1]))));
}

export function profileNamed(name: string): Profile {
  const p = PROFILES.find((x) => x.name === name);
  if (p === undefined) throw new RangeError(`unknown profile "${name}"`);
  return p;
}

type Kind =
  | 'process'
  | 'deliver'
  | 'burst'
  | 'stall'
  | 'drop'
  | 'dup'
  | 'ready'
  | 'persist'
  | 'apply'
  | 'tick'
  | 'skew'
  | 'propose'
  | 'crash'
  | 'restart'
  | 'pause'
  | 'resume'
  | 'partition'
  | 'heal'
  | 'conf'
  | 'transfer'
  | 'read'
  | 'compact'
  | 'campaign';

/**
 * Draws the next event from the simulator's present state and one Rng. The
 * event is concrete (it names nodes and messages), so the schedule that comes
 * out replays without the generator. Weights favour the steady work so that
 * the cluster makes progress between faults; faults heal on their own often
 * enough that long runs do not sit in one broken state.
 */
export class Generator {
  private readonly rng: Rng;
  readonly profile: Profile;
  private readonly tickRates: readonly number[] | undefined;
  private counter = 0;
  /** Events drawn so far: the generator's clock, for disk stalls. */
  private drawn = 0;
  /** node -> the draw after which its stalled Ready loop goes on. */
  private readonly stalledUntil = new Map<number, number>();
  /** node -> the draw before which the write of its outstanding (leader's) Ready does not land. */
  private readonly writeLagsUntil = new Map<number, number>();
  /**
   * Events already decided, each made concrete when its turn comes: a global
   * tick's extra ticks for the nodes whose clocks run faster, the deliveries
   * of a burst. One that no longer applies (its message is gone) is skipped.
   */
  private readonly planned: Array<(sim: Simulator) => SimEvent | undefined> = [];

  constructor(rng: Rng, profile: Profile, tickRates?: readonly number[]) {
    this.rng = rng;
    this.profile = profile;
    this.tickRates = tickRates;
  }

  next(sim: Simulator): SimEvent {
    for (let plan = this.planned.shift(); plan !== undefined; plan = this.planned.shift()) {
      const e = plan(sim);
      if (e !== undefined) return e;
    }
    const e = this.draw(sim);
    if (e.kind === 'tick' && e.node === undefined && this.tickRates !== undefined)
      this.tickRates.forEach((rate, i) => {
        for (let k = 1; k < rate; k++) this.planned.push(() => ({ kind: 'tick', node: i + 1 }));
      });
    return e;
  }

  /** Every message in flight to one node arrives, oldest first, before anything else happens. */
  private burst(sim: Simulator): SimEvent {
    const waiting = new Map<number, Envelope[]>();
    for (const env of sim.network.inFlight) {
      if (sim.nodes.get(env.to)?.running !== true) continue;
      const list = waiting.get(env.to) ?? [];
      list.push(env);
      waiting.set(env.to, list);
    }
    const backlogs = [...waiting.values()].filter((l) => l.length > 1);
    if (backlogs.length === 0) return { kind: 'tick' };
    const [first, ...rest] = this.rng.pick(backlogs);
    for (const env of rest)
      this.planned.push((now) => {
        const idx = now.network.inFlight.indexOf(env);
        if (idx < 0) return undefined;
        return { kind: 'deliver', from: env.from, to: env.to, type: env.type, nth: now.network.rank(idx) };
      });
    const idx = sim.network.inFlight.indexOf(first!);
    return {
      kind: 'deliver',
      from: first!.from,
      to: first!.to,
      type: first!.type,
      nth: sim.network.rank(idx),
    };
  }

  private draw(sim: Simulator): SimEvent {
    this.drawn++;
    const nodes = [...sim.nodes.values()];
    const running = nodes.filter((n) => n.running);
    const loop = running.filter((n) => (this.stalledUntil.get(n.id) ?? 0) <= this.drawn);
    const canProcess = loop.filter((n) => n.outstanding.length === 0 && n.core.hasReady());
    // A leader whose writes lag goes on taking Readies, and they go out before the writes land.
    const pipelining = loop.filter((n) => n.outstanding.length > 0 && n.mayTakeReady && n.core.hasReady());
    const canReady = [...canProcess, ...pipelining];
    const canPersist = loop.filter(
      (n) => n.unpersisted !== undefined && (this.writeLagsUntil.get(n.id) ?? 0) <= this.drawn,
    );
    const canApply = loop.filter((n) => n.outstanding[0]?.persisted === true);
    const unwritten = running.filter((n) => n.unpersisted?.sent === true);
    const down = nodes.filter((n) => !n.up && sim.restartable(n));
    const paused = nodes.filter((n) => n.up && n.paused);
    const inFlight = sim.network.inFlight.length;
    const p = this.profile;
    const leader = sim.leader();
    // Deposed leaders that do not know it yet: the split-brain window where stale reads and lost writes live.
    const stale = running.filter((n) => n.observed?.role === 'leader' && n !== leader);
    const weights: Record<Kind, number> = {
      deliver: inFlight === 0 ? 0 : p.deliver * Math.min(80, 8 + 6 * inFlight),
      burst: inFlight < 2 ? 0 : p.burst,
      stall: running.length === 0 ? 0 : p.stall,
      drop: inFlight === 0 ? 0 : p.drop,
      dup: inFlight === 0 ? 0 : p.dup,
      // Mostly a whole Ready cycle at once; sometimes its steps apart, so that crashes and other events fall in between.
      process: canProcess.length === 0 ? 0 : 30,
      ready: canReady.length === 0 ? 0 : pipelining.length > 0 ? 20 : 8,
      persist: canPersist.length === 0 ? 0 : 30,
      apply: canApply.length === 0 ? 0 : 30,
      tick: 6,
      skew: p.skew,
      propose: running.length === 0 ? 0 : p.propose + (stale.length > 0 ? 5 : 0),
      // A leader whose sent Readies are not written yet is worth crashing: it loses them, and its
      // followers may hold (and have heard committed) what it no longer has.
      crash: running.length === 0 ? 0 : p.crash * (unwritten.length > 0 ? 3 : 1),
      restart: down.length === 0 ? 0 : 1.5,
      pause: running.length === 0 ? 0 : p.pause,
      resume: paused.length === 0 ? 0 : 0.6,
      partition: sim.network.partitioned ? 0 : p.partition,
      heal: sim.network.partitioned ? p.heal : 0,
      conf: leader === undefined ? 0 : p.conf,
      transfer: leader === undefined ? 0 : p.transfer,
      // A deposed leader that still believes it leads gets asked things while the window lasts.
      read: running.length === 0 ? 0 : p.read + (stale.length > 0 ? 10 : 0),
      compact: running.length === 0 ? 0 : p.compact,
      campaign: running.length === 0 ? 0 : p.campaign,
    };
    const rng = this.rng;
    switch (rng.weighted(weights)) {
      case 'deliver': {
        // Mostly the oldest messages (links are roughly FIFO), sometimes any: that is reordering.
        const len = inFlight;
        const idx = rng.chance(0.7) ? Math.floor(len * rng.next() ** 3) : rng.int(len);
        const env = sim.network.inFlight[idx]!;
        if (sim.nodes.get(env.to)?.paused === true) return { kind: 'tick' };
        return { kind: 'deliver', from: env.from, to: env.to, type: env.type, nth: sim.network.rank(idx) };
      }
      case 'burst':
        return this.burst(sim);
      case 'drop':
      case 'dup': {
        const idx = rng.int(inFlight);
        const env = sim.network.inFlight[idx]!;
        return {
          kind: rng.chance(p.drop / (p.drop + p.dup)) ? 'drop' : 'dup',
          from: env.from,
          to: env.to,
          type: env.type,
          nth: sim.network.rank(idx),
        };
      }
      case 'process': {
        const n = rng.pick(canProcess);
        if (n.observed?.role !== 'leader' || !rng.chance(p.leaderDiskLag))
          return { kind: 'process', node: n.id };
        this.writeLagsUntil.set(n.id, this.drawn + 5 + rng.int(60));
        return { kind: 'ready', node: n.id };
      }
      case 'ready':
        return { kind: 'ready', node: rng.pick(canReady).id };
      case 'stall': {
        // Mostly a follower of the leader: the node that stands between two leaders.
        const followers = running.filter((n) => n !== leader && n.observed?.role === 'follower');
        const n = followers.length > 0 && rng.chance(0.8) ? rng.pick(followers) : rng.pick(running);
        this.stalledUntil.set(n.id, this.drawn + 50 + rng.int(250));
        return { kind: 'tick' };
      }
      case 'persist':
        return { kind: 'persist', node: rng.pick(canPersist).id };
      case 'apply':
        return { kind: 'apply', node: rng.pick(canApply).id };
      case 'tick':
        return { kind: 'tick' };
      case 'skew':
        return running.length === 0 ? { kind: 'tick' } : { kind: 'tick', node: rng.pick(running).id };
      case 'propose': {
        const n =
          stale.length > 0 && rng.chance(0.4)
            ? rng.pick(stale)
            : leader !== undefined && rng.chance(0.75)
              ? leader
              : rng.pick(running);
        return { kind: 'propose', node: n.id, data: `p${++this.counter}` };
      }
      case 'crash':
        // Leaders crash more often than their share: that is where histories get interesting (Figure 8).
        if (unwritten.length > 0 && rng.chance(0.5)) return { kind: 'crash', node: rng.pick(unwritten).id };
        return {
          kind: 'crash',
          node: leader !== undefined && rng.chance(0.4) ? leader.id : rng.pick(running).id,
        };
      case 'restart':
        return { kind: 'restart', node: rng.pick(down).id };
      case 'pause':
        return { kind: 'pause', node: rng.pick(running).id };
      case 'resume':
        return { kind: 'resume', node: rng.pick(paused).id };
      case 'partition':
        return this.partition(sim, leader);
      case 'heal':
        return { kind: 'heal' };
      case 'conf':
        return this.conf(sim, leader!);
      case 'transfer': {
        const voters = leader!.app.confState.voters.filter((v) => v !== leader!.bid);
        if (voters.length === 0) return { kind: 'tick' };
        return { kind: 'transfer', node: leader!.id, target: Number(rng.pick(voters)) };
      }
      case 'read': {
        const n =
          stale.length > 0 && rng.chance(0.5)
            ? rng.pick(stale)
            : leader !== undefined && rng.chance(0.6)
              ? leader
              : rng.pick(running);
        return { kind: 'read', node: n.id, ctx: `r${++this.counter}` };
      }
      case 'compact':
        return { kind: 'compact', node: rng.pick(running).id, keep: rng.int(6) };
      case 'campaign':
        return { kind: 'campaign', node: rng.pick(running).id };
    }
  }

  private partition(sim: Simulator, leader: SimNode | undefined): SimEvent {
    const ids = [...sim.nodes.values()].filter((n) => n.started).map((n) => n.id);
    if (ids.length < 2) return { kind: 'tick' };
    if (leader !== undefined && ids.length > 2 && this.rng.chance(this.profile.isolateLeader)) {
      // The leader and at most a minority of the others on one side...
      const others = ids.filter((id) => id !== leader.id);
      const most = Math.ceil(others.length / 2) - 1;
      const company = most === 0 ? 0 : 1 + this.rng.int(most);
      const left = [leader.id];
      for (let k = 0; k < company; k++) left.push(others.splice(this.rng.int(others.length), 1)[0]!);
      if (this.rng.chance(0.5)) return { kind: 'partition', groups: [left, others] };
      // ...or only its words to the majority are lost: the majority elects another leader, which
      // the minority hears as well as the old one. If a node of the minority stalls meanwhile, both
      // leaders' appends meet in its one next Ready.
      if (company > 0 && this.rng.chance(this.profile.stall))
        this.stalledUntil.set(left[1]!, this.drawn + 100 + this.rng.int(400));
      const [first, ...rest] = others;
      for (const to of rest) this.planned.push(() => ({ kind: 'cut', from: leader.id, to }));
      return { kind: 'cut', from: leader.id, to: first! };
    }
    if (this.rng.chance(0.35)) {
      // One-way: a link (or a node's whole inbound or outbound side) goes dark.
      const a = this.rng.pick(ids);
      const b = this.rng.pick(ids.filter((x) => x !== a));
      return { kind: 'cut', from: a, to: b };
    }
    const left: number[] = [];
    const right: number[] = [];
    for (const id of ids) (this.rng.chance(0.5) ? left : right).push(id);
    if (left.length === 0) left.push(right.pop()!);
    if (right.length === 0) right.push(left.pop()!);
    return { kind: 'partition', groups: [left, right] };
  }

  /** A membership change that makes sense in the leader's configuration. */
  private conf(sim: Simulator, leader: SimNode): SimEvent {
    const cs = leader.app.confState;
    const rng = this.rng;
    if (cs.votersOutgoing.length > 0) return { kind: 'leave', node: leader.id };
    const fresh = [...sim.nodes.values()]
      .filter(
        (n) => !isMember(cs, n.bid) && !sim.ghost.removedSelf.has(n.id) && !leader.app.removed.has(n.id),
      )
      .map((n) => n.id);
    const voters = cs.voters.map(Number);
    const learners = cs.learners.map(Number);
    const options: ConfOp[] = [];
    for (const id of fresh) options.push({ op: 'learner', id }, { op: 'add', id });
    for (const id of learners) options.push({ op: 'promote', id }, { op: 'remove', id });
    // Keep at least two voters around so that removals leave a cluster worth testing.
    if (voters.length > 2) for (const id of voters) options.push({ op: 'remove', id });
    if (options.length === 0) return { kind: 'tick' };
    const first = rng.pick(options);
    if (rng.chance(0.3)) {
      const second = options.filter((o) => o.id !== first.id);
      if (second.length > 0) {
        const ops = [first, rng.pick(second)];
        // Operators keep a majority of the old voters in the new configuration (etcd's strict
        // reconfiguration checks do too). Without it, a lone survivor that missed the commit of the
        // leave can be stranded: see test/sim/findings/stranded-survivor-after-joint-leave.txt.
        const removed = ops.filter((o) => o.op === 'remove' && voters.includes(o.id)).length;
        if (voters.length - removed > voters.length / 2)
          return { kind: 'conf', node: leader.id, ops, joint: rng.chance(0.5) ? 'explicit' : 'auto' };
      }
    }
    if (rng.chance(0.15)) return { kind: 'conf', node: leader.id, ops: [first], joint: 'auto' };
    return { kind: 'conf', node: leader.id, ops: [first], joint: 'none' };
  }
}
