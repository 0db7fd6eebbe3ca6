import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/proto/raftpb.js';
import { ProposalDroppedError } from '../../../src/raft/errors.js';
import type { ReadState } from '../../../src/raft/ready.js';
import { runSeed, type RunOptions } from '../../sim/runner.js';
import { Cluster, enc } from './cluster.js';

function leaderAmong(c: Cluster, ids: bigint[]): bigint | undefined {
  return ids.find((id) => c.raft(id).status().role === 'leader');
}

function tickAll(c: Cluster, rounds: number, ids = [...c.nodes.keys()]): void {
  for (let i = 0; i < rounds; i++) {
    for (const id of ids) c.raft(id).tick();
    c.stabilize();
  }
}

describe('G63 kill the leader', () => {
  it('a new leader within about one election timeout; the old one rejoins as follower; nothing committed is lost', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).propose(enc('acked'));
    c.stabilize();
    c.isolate(1n);
    let ticks = 0;
    while (leaderAmong(c, [2n, 3n]) === undefined) {
      tickAll(c, 1, [2n, 3n]);
      if (++ticks > 40) break;
    }
    expect(ticks).toBeLessThanOrEqual(20);
    const lead = leaderAmong(c, [2n, 3n])!;
    c.node(1n).restart();
    c.heal();
    tickAll(c, 3);
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', lead });
    expect(c.node(1n).storage.entries(2, 3, Infinity)[0]!.data).toEqual(enc('acked'));
    expect(c.node(lead).applied.some((e) => new TextDecoder().decode(e.data) === 'acked')).toBe(true);
  });
});

describe('G65 kill a majority', () => {
  it('the survivor commits nothing and answers no read; after the restart everything is there', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).propose(enc('before'));
    c.stabilize();
    c.isolate(2n);
    c.isolate(3n);
    const reads: ReadState[] = [];
    c.raft(1n).readState$.subscribe((r) => reads.push(r));
    const commit = c.raft(1n).status().commit;
    c.raft(1n).propose(enc('never acked'));
    c.raft(1n).readIndex(enc('r'));
    tickAll(c, 30, [1n]);
    expect(c.raft(1n).status().commit).toBe(commit);
    expect(reads).toEqual([]);
    c.node(2n).restart();
    c.node(3n).restart();
    c.heal();
    tickAll(c, 40);
    const lead = c.leader()!;
    expect(lead).toBeDefined();
    expect(c.node(lead).applied.some((e) => new TextDecoder().decode(e.data) === 'before')).toBe(true);
  });
});

describe('G66 leader cut off in a minority', () => {
  it('the majority elects a leader; with CheckQuorum the old one steps down; its uncommitted tail is overwritten', () => {
    const ids = [1n, 2n, 3n, 4n, 5n];
    const c = new Cluster(ids, { checkQuorum: true });
    c.elect(1n);
    const minority = new Set([1n, 2n]);
    for (const a of ids)
      for (const b of ids) if (minority.has(a) !== minority.has(b)) c.cut.add(`${a}->${b}`);
    c.raft(1n).propose(enc('lost write'));
    const commit = c.raft(1n).status().commit;
    tickAll(c, 25);
    expect(c.raft(1n).status().role).toBe('follower');
    expect(c.raft(1n).status().commit).toBe(commit);
    const lead = c.leader()!;
    expect([3n, 4n, 5n]).toContain(lead);
    c.raft(lead).propose(enc('majority write'));
    c.stabilize();
    c.heal();
    tickAll(c, 5);
    for (const id of ids) {
      const data = c.node(id).applied.map((e) => new TextDecoder().decode(e.data));
      expect(data).toContain('majority write');
      expect(data).not.toContain('lost write');
    }
    expect(() => c.raft(1n).propose(enc('x'))).not.toThrow();
  });
});

describe('G68 asymmetric partitions', () => {
  it("(a) the leader's inbound traffic is dropped: it steps down (CheckQuorum) and another is elected", () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.elect(1n);
    c.cut.add('2->1').add('3->1');
    tickAll(c, 40);
    const lead = leaderAmong(c, [2n, 3n]);
    expect(lead === 2n || lead === 3n).toBe(true);
    // It hears nothing, so it can only keep pre-campaigning, never lead again.
    expect(c.raft(1n).status().role).not.toBe('leader');
  });

  it("(b) only a follower's outbound traffic is dropped: the others keep working and it stays a follower", () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.elect(1n);
    c.cut.add('3->1').add('3->2');
    c.raft(1n).propose(enc('a'));
    tickAll(c, 40);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.raft(3n).status()).toMatchObject({ role: 'follower', term: 1, lead: 1n });
    expect(c.raft(2n).status().commit).toBe(2);
  });

  it("(c) only a follower's inbound traffic is dropped: without pre-vote it keeps deposing leaders", () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.cut.add('1->3').add('2->3');
    tickAll(c, 60);
    expect(c.raft(1n).status().term).toBeGreaterThan(1);
  });

  it('(c) with PreVote+CheckQuorum its pre-votes are refused and the leader stays', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.elect(1n);
    c.cut.add('1->3').add('2->3');
    tickAll(c, 60);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.raft(3n).status().term).toBe(1);
  });
});

/**
 * Runs generated schedules on the deterministic simulation (test/sim): every
 * property is checked after every event, then liveness once the faults heal.
 * Returns the events run and the lowest commit index a run reached.
 */
function simulate(seeds: readonly number[], opts: RunOptions): { events: number; minCommit: number } {
  let events = 0;
  let minCommit = Infinity;
  for (const seed of seeds) {
    const r = runSeed(seed, opts);
    expect(
      r.violation?.message,
      `seed ${seed} (${r.profile}): npm run sim -- --seed ${seed}`,
    ).toBeUndefined();
    events += r.stats.events;
    minCommit = Math.min(minCommit, r.stats.maxCommit);
  }
  return { events, minCommit };
}

const seeds = (first: number, count: number): number[] => Array.from({ length: count }, (_, i) => first + i);

describe('G70 loss, duplication and reordering', () => {
  for (const [preVote, checkQuorum] of [
    [false, false],
    [true, true],
  ] as const) {
    it(`safety holds and logs end identical (preVote=${preVote}, checkQuorum=${checkQuorum})`, () => {
      const { events } = simulate(seeds(1, 12), {
        nodes: 5,
        steps: 600,
        profile: 'lossy',
        preVote,
        checkQuorum,
      });
      // 600 events each, then settle: one leader, a new proposal applied everywhere, identical logs.
      expect(events).toBe(12 * 601);
    });
  }
});

describe('G69/G71/G74 delays, crashes, partitions, then liveness', () => {
  it('random partitions, crashes before/after persisting, transfers and compactions: safe, then live', () => {
    for (const seed of seeds(100, 12)) {
      const { minCommit } = simulate([seed], {
        nodes: 5,
        steps: 800,
        profile: seed % 2 === 0 ? 'partitions' : 'crashy',
        preVote: seed % 2 === 0,
        checkQuorum: seed % 2 === 0,
      });
      expect(minCommit).toBeGreaterThan(0);
    }
  });
});

describe('G72 paused process', () => {
  it('a leader paused past two election timeouts wakes up, adopts the new term, acks no write and serves no read', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.elect(1n);
    c.isolate(1n); // paused: it neither ticks nor receives
    tickAll(c, 25, [2n, 3n]);
    const lead = leaderAmong(c, [2n, 3n]);
    expect(lead === 2n || lead === 3n).toBe(true);
    // It wakes up: still believes it leads, for a moment.
    const reads: ReadState[] = [];
    c.raft(1n).readState$.subscribe((r) => reads.push(r));
    c.raft(1n).readIndex(enc('stale'));
    let dropped = false;
    try {
      c.raft(1n).propose(enc('stale write'));
    } catch (err) {
      dropped = err instanceof ProposalDroppedError;
    }
    c.heal();
    tickAll(c, 3);
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', lead });
    expect(c.raft(1n).status().term).toBe(c.raft(lead!).status().term);
    expect(reads).toEqual([]);
    for (const id of [1n, 2n, 3n])
      expect(c.node(id).applied.map((e) => new TextDecoder().decode(e.data))).not.toContain('stale write');
    expect(dropped).toBe(false); // it was accepted locally, and then overwritten: never acked
  });
});

describe('G73 nothing depends on clocks: nodes with different tick rates', () => {
  it('election safety and convergence when nodes tick at 1x, 2x and 3x', () => {
    simulate(seeds(200, 6), {
      nodes: 3,
      steps: 600,
      profile: 'calm',
      tickRates: [1, 2, 3],
      preVote: true,
      checkQuorum: true,
    });
    expect(MessageType.MsgApp).toBe(3);
  });
});

describe('G64/G67 a follower killed or cut off until it needs a snapshot', () => {
  for (const how of ['killed', 'cut off'] as const) {
    it(`${how}: it comes back, receives a snapshot and catches up`, () => {
      const c = new Cluster([1n, 2n, 3n]);
      c.elect(1n);
      c.isolate(3n);
      for (let i = 0; i < 20; i++) c.raft(1n).propose(enc(`w${i}`));
      c.stabilize();
      const n1 = c.node(1n);
      const applied = c.raft(1n).status().applied;
      n1.storage.createSnapshot(
        applied,
        n1.confState.voters.length > 0 ? n1.confState : undefined,
        enc('state'),
      );
      n1.storage.compact(applied);
      if (how === 'killed') c.node(3n).restart();
      let snaps = 0;
      c.heal();
      for (let i = 0; i < 5; i++) {
        c.raft(1n).tick();
        c.stabilize((m) => {
          if (m.type === MessageType.MsgSnap) snaps++;
          return true;
        });
      }
      expect(snaps).toBe(1);
      expect(c.raft(3n).status()).toMatchObject({ commit: applied, applied });
      expect(c.node(3n).storage.snapshot().data).toEqual(enc('state'));
    });
  }
});

describe('G71 slow disk', () => {
  it('a leader whose writes stall loses leadership; what it never persisted is never acknowledged and is overwritten', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.elect(1n);
    c.stalled.add(1n);
    c.raft(1n).propose(enc('unsynced'));
    tickAll(c, 30, [2n, 3n]);
    const lead = leaderAmong(c, [2n, 3n]);
    expect(lead).toBeDefined();
    c.raft(lead!).propose(enc('new leader write'));
    c.stabilize();
    c.stalled.clear();
    tickAll(c, 5);
    expect(c.raft(1n).status().role).toBe('follower');
    for (const id of [1n, 2n, 3n]) {
      const data = c.node(id).applied.map((e) => new TextDecoder().decode(e.data));
      expect(data).toContain('new leader write');
      expect(data).not.toContain('unsynced');
    }
  });
});
