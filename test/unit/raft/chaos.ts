import { EntryType, MessageType, type Message } from '../../../src/proto/raftpb.js';
import { ProposalDroppedError } from '../../../src/raft/errors.js';
import { Cluster, seeded, type NodeOptions } from './cluster.js';

/**
 * A small randomized fault harness for the G scenarios: random ticks,
 * deliveries out of order, drops, duplicates, partitions, crashes before or
 * after persisting, proposals, transfers and compactions, with the Raft
 * safety properties checked after every step. (The full deterministic
 * simulation lives in test/sim/.)
 */
export interface ChaosOptions extends NodeOptions {
  seed: number;
  voters: number;
  steps: number;
  /** Per-step probabilities. */
  drop?: number;
  duplicate?: number;
  crash?: number;
  partition?: number;
  /** Ticks per step multiplier per node: different tick rates. */
  tickRates?: number[];
}

export class Chaos {
  readonly c: Cluster;
  readonly rnd: () => number;
  readonly ids: bigint[];
  queue: Message[] = [];
  /** term -> leader id, over the whole run. */
  leaders = new Map<number, bigint>();
  /** index -> "term:data" of every entry any node applied. */
  committed = new Map<number, string>();
  maxTerm = new Map<bigint, number>();
  events = 0;
  proposals = 0;

  constructor(readonly o: ChaosOptions) {
    this.ids = Array.from({ length: o.voters }, (_, i) => BigInt(i + 1));
    const {
      seed: _s,
      voters: _v,
      steps: _st,
      drop: _d,
      duplicate: _du,
      crash: _c,
      partition: _p,
      tickRates: _t,
      ...node
    } = o;
    this.c = new Cluster(this.ids, node);
    this.rnd = seeded(o.seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }

  /** Processes a node's Ready, or crashes it before (losing the Ready) when unlucky. */
  private handleReady(id: bigint): void {
    const n = this.c.node(id);
    if (!n.raft.hasReady()) return;
    if (this.rnd() < (this.o.crash ?? 0) / 2) {
      n.restart(); // power loss before the write: nothing of the Ready survives
      return;
    }
    const rd = n.raft.ready();
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.queue.push(m);
    const snapIndex = rd.snapshot?.metadata?.index ?? 0;
    if (snapIndex > 0) {
      // The application restores the snapshot: everything up to it counts as applied.
      n.applied = n.applied.filter((e) => e.index > snapIndex);
    }
    n.apply(rd.committedEntries);
    for (const e of rd.committedEntries)
      this.recordApplied(id, e.index, `${e.term}:${e.type}:${Buffer.from(e.data).toString('hex')}`);
    n.raft.advance(rd);
  }

  private recordApplied(id: bigint, index: number, key: string): void {
    const prev = this.committed.get(index);
    if (prev !== undefined && prev !== key) {
      throw new Error(
        `seed ${this.o.seed}: state machine safety: node ${id} applied ${key} at ${index}, another applied ${prev}`,
      );
    }
    this.committed.set(index, key);
  }

  private check(): void {
    for (const id of this.ids) {
      const st = this.c.raft(id).status();
      const last = this.maxTerm.get(id) ?? 0;
      if (st.term < last)
        throw new Error(`seed ${this.o.seed}: term of ${id} went back from ${last} to ${st.term}`);
      this.maxTerm.set(id, st.term);
      if (st.role === 'leader') {
        const l = this.leaders.get(st.term);
        if (l !== undefined && l !== id)
          throw new Error(`seed ${this.o.seed}: two leaders in term ${st.term}: ${l} and ${id}`);
        if (l === undefined) {
          this.leaders.set(st.term, id);
          this.checkLeaderCompleteness(id);
        }
      }
      if (st.applied > st.commit)
        throw new Error(`seed ${this.o.seed}: applied ${st.applied} > commit ${st.commit}`);
    }
  }

  /** A new leader's log holds every entry any node applied. */
  private checkLeaderCompleteness(id: bigint): void {
    const s = this.c.node(id).storage;
    const raftLast = Math.max(s.lastIndex(), 0);
    for (const [index, key] of this.committed) {
      if (index < s.firstIndex()) continue;
      const term = Number(key.split(':')[0]);
      // Entries not yet persisted by the new leader are still in its unstable log; check what we can see.
      if (index > raftLast) continue;
      if (s.term(index) !== term) {
        throw new Error(
          `seed ${this.o.seed}: leader completeness: leader ${id} has term ${s.term(index)} at ${index}, committed ${term}`,
        );
      }
    }
  }

  /** Log matching over the persisted logs. */
  checkLogMatching(): void {
    for (let a = 0; a < this.ids.length; a++) {
      for (let b = a + 1; b < this.ids.length; b++) {
        const sa = this.c.node(this.ids[a]!).storage;
        const sb = this.c.node(this.ids[b]!).storage;
        const lo = Math.max(sa.firstIndex(), sb.firstIndex());
        const hi = Math.min(sa.lastIndex(), sb.lastIndex());
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const same = sa.term(i) === sb.term(i);
          if (matched && !same)
            throw new Error(
              `seed ${this.o.seed}: log matching broken at ${i} between ${this.ids[a]} and ${this.ids[b]}`,
            );
          if (same) matched = true;
        }
      }
    }
  }

  step(): void {
    this.events++;
    const r = this.rnd();
    const id = this.pick(this.ids);
    if (r < 0.35) {
      // Time passes for everyone (at each node's own rate).
      for (const nid of this.ids) {
        const times = this.o.tickRates ? this.o.tickRates[Number(nid) - 1]! : 1;
        for (let i = 0; i < times; i++) this.c.raft(nid).tick();
      }
    } else if (r < 0.75) {
      // Deliver random queued messages: reordering comes for free. A batch
      // per step keeps the backlog bounded (the network keeps up with time).
      const n = Math.min(this.queue.length, 1 + Math.floor(this.queue.length / 3));
      for (let k = 0; k < n; k++) {
        const i = Math.floor(this.rnd() * this.queue.length);
        const m = this.queue[i]!;
        this.queue.splice(i, 1);
        const lost = this.rnd() < (this.o.drop ?? 0);
        if (!lost) {
          if (this.rnd() < (this.o.duplicate ?? 0)) this.queue.push(m);
          this.c.deliver(m);
        }
        // The transport tells the sender how a snapshot went, as etcd's does.
        if (m.type === MessageType.MsgSnap)
          this.c.raft(m.from).reportSnapshot(m.to, lost ? 'failure' : 'finish');
      }
    } else if (r < 0.83) {
      try {
        this.c.raft(id).propose(new TextEncoder().encode(`p${this.proposals++}`));
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
      }
    } else if (r < 0.86) {
      if (this.rnd() < (this.o.partition ?? 0) * 20) {
        this.c.heal();
        // Half the time the leader is the one cut off: that is where safety is tested.
        const victim = this.rnd() < 0.5 ? (this.c.leader() ?? id) : id;
        if (this.rnd() < 0.6) this.c.isolate(victim);
        else
          for (const other of this.ids)
            if (other !== victim)
              this.c.cut.add(`${this.rnd() < 0.5 ? victim : other}->${this.rnd() < 0.5 ? other : victim}`);
      }
    } else if (r < 0.89) {
      this.c.heal();
    } else if (r < 0.91) {
      if (this.rnd() < (this.o.crash ?? 0) * 20)
        this.c.node(this.rnd() < 0.5 ? (this.c.leader() ?? id) : id).restart();
    } else if (r < 0.92) {
      this.c.raft(id).transferLeadership(this.pick(this.ids));
    } else if (r < 0.93) {
      const n = this.c.node(id);
      const applied = n.raft.status().applied;
      if (applied > n.storage.firstIndex() + 2) {
        n.storage.createSnapshot(applied, undefined, new Uint8Array(0));
        n.storage.compact(applied - 1);
      }
    }
    for (const nid of this.ids) this.handleReady(nid);
    this.check();
  }

  run(): void {
    for (let i = 0; i < this.o.steps; i++) this.step();
    this.checkLogMatching();
  }

  /** Heals everything and drives the cluster until one leader commits a new proposal everywhere. */
  settle(maxRounds = 400): { leader: bigint; index: number } {
    this.c.heal();
    for (const m of this.queue) this.c.inflight.push(m);
    this.queue = [];
    let marker: string | undefined;
    for (let round = 0; round < maxRounds; round++) {
      for (const id of this.ids) this.c.raft(id).tick();
      this.c.stabilize();
      for (const id of this.ids)
        for (const e of this.c.node(id).applied)
          this.recordApplied(id, e.index, `${e.term}:${e.type}:${Buffer.from(e.data).toString('hex')}`);
      this.check();
      const lead = this.c.leader();
      if (lead === undefined) continue;
      if (marker === undefined) {
        marker = `settle-${this.o.seed}`;
        try {
          this.c.raft(lead).propose(new TextEncoder().encode(marker));
        } catch {
          marker = undefined;
        }
        continue;
      }
      const want = this.c.node(lead).storage.lastIndex();
      const done = this.ids.every((id) => {
        const st = this.c.raft(id).status();
        return st.applied === want && this.c.node(id).storage.lastIndex() === want;
      });
      if (done) {
        const hasMarker = this.c
          .node(lead)
          .applied.some(
            (e) => e.type === EntryType.EntryNormal && new TextDecoder().decode(e.data) === marker,
          );
        if (!hasMarker) {
          marker = undefined;
          continue;
        }
        this.checkLogMatching();
        return { leader: lead, index: want };
      }
    }
    throw new Error(`seed ${this.o.seed}: no progress after healing`);
  }
}
