import type { Rng } from './rng.js';
import type { ConfOp, SimEvent } from './schedule.js';
import type { SimNode } from './node.js';
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
    deliver: 0.3,
  },
];

export function profileNamed(name: string): Profile {
  const p = PROFILES.find((x) => x.name === name);
  if (p === undefined) throw new RangeError(`unknown profile "${name}"`);
  return p;
}

type Kind =
  | 'process'
  | 'deliver'
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
  /** Events already decided: a global tick's extra ticks for the nodes whose clocks run faster. */
  private readonly planned: SimEvent[] = [];

  constructor(rng: Rng, profile: Profile, tickRates?: readonly number[]) {
    this.rng = rng;
    this.profile = profile;
    this.tickRates = tickRates;
  }

  next(sim: Simulator): SimEvent {
    const planned = this.planned.shift();
    if (planned !== undefined) return planned;
    const e = this.draw(sim);
    if (e.kind === 'tick' && e.node === undefined && this.tickRates !== undefined)
      this.tickRates.forEach((rate, i) => {
        for (let k = 1; k < rate; k++) this.planned.push({ kind: 'tick', node: i + 1 });
      });
    return e;
  }

  private draw(sim: Simulator): SimEvent {
    const nodes = [...sim.nodes.values()];
    const running = nodes.filter((n) => n.running);
    const canReady = running.filter((n) => n.outstanding === undefined && n.core.hasReady());
    const canPersist = running.filter((n) => n.outstanding !== undefined && !n.outstanding.persisted);
    const canApply = running.filter((n) => n.outstanding?.persisted === true);
    const down = nodes.filter((n) => !n.up && sim.restartable(n));
    const paused = nodes.filter((n) => n.up && n.paused);
    const inFlight = sim.network.inFlight.length;
    const p = this.profile;
    const leader = sim.leader();
    // Deposed leaders that do not know it yet: the split-brain window where stale reads and lost writes live.
    const stale = running.filter((n) => n.observed?.role === 'leader' && n !== leader);
    const weights: Record<Kind, number> = {
      deliver: inFlight === 0 ? 0 : p.deliver * Math.min(80, 8 + 6 * inFlight),
      drop: inFlight === 0 ? 0 : p.drop,
      dup: inFlight === 0 ? 0 : p.dup,
      // Mostly a whole Ready cycle at once; sometimes its steps apart, so that crashes and other events fall in between.
      process: canReady.length === 0 ? 0 : 30,
      ready: canReady.length === 0 ? 0 : 8,
      persist: canPersist.length === 0 ? 0 : 30,
      apply: canApply.length === 0 ? 0 : 30,
      tick: 6,
      skew: p.skew,
      propose: running.length === 0 ? 0 : p.propose + (stale.length > 0 ? 5 : 0),
      crash: running.length === 0 ? 0 : p.crash,
      restart: down.length === 0 ? 0 : 1.5,
      pause: running.length === 0 ? 0 : p.pause,
      resume: paused.length === 0 ? 0 : 0.6,
      partition: sim.network.partitioned ? 0 : p.partition,
      heal: sim.network.partitioned ? 0.8 : 0,
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
      case 'process':
        return { kind: 'process', node: rng.pick(canReady).id };
      case 'ready':
        return { kind: 'ready', node: rng.pick(canReady).id };
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
        return this.partition(sim);
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

  private partition(sim: Simulator): SimEvent {
    const ids = [...sim.nodes.values()].filter((n) => n.started).map((n) => n.id);
    if (ids.length < 2) return { kind: 'tick' };
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
