import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/proto/raftpb.js';
import { Cluster } from './cluster.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import { entriesOfTerms, msg, singleNode } from './single.js';

const {
  MsgVote,
  MsgVoteResp,
  MsgApp,
  MsgHeartbeat,
  MsgPreVote,
  MsgPreVoteResp,
  MsgAppResp,
  MsgHeartbeatResp,
} = MessageType;

describe('A1 basic election, 3 voters', () => {
  it('node 1 wins term 1, followers voted for it, the empty entry commits after one ack', () => {
    const c = new Cluster([1n, 2n, 3n]);
    let ticks = 0;
    while (c.raft(1n).status().role === 'follower') {
      c.raft(1n).tick();
      ticks++;
    }
    // The randomized timeout lies in [electionTick, 2*electionTick).
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThan(20);
    c.stabilize();
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
    expect(c.raft(1n).status().role).toBe('leader');
    for (const id of [2n, 3n]) {
      expect(c.raft(id).status()).toMatchObject({ role: 'follower', term: 1, vote: 1n, lead: 1n, commit: 1 });
    }
    expect(c.logOf(2n)).toEqual([[1, 1]]);
  });

  it('commits the empty entry with one follower ack (the other is unreachable)', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.isolate(3n);
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
    expect(c.raft(3n).status().term).toBe(0);
  });

  it('no other node is ever leader in term 1 when two campaign at once', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.raft(1n).campaign();
    c.raft(2n).campaign();
    c.stabilize();
    const leaders = [1n, 2n, 3n].filter(
      (id) => c.raft(id).status().role === 'leader' && c.raft(id).status().term === 1,
    );
    expect(leaders.length).toBeLessThanOrEqual(1);
  });
});

describe('A2 at most one vote per term', () => {
  it('grants 2, rejects 3, grants 2 again; the vote is persisted with the reply; survives restart', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { hardState: { term: 1 } });
    n.raft.step(msg({ type: MsgVote, from: 2n, to: 1n, term: 1 }));
    let rd = n.drain();
    expect(rd.messages).toMatchObject([{ type: MsgVoteResp, to: 2n, reject: false }]);
    // The vote is in the same Ready as the reply, which is sent only after it is durable.
    expect(rd.hardState).toMatchObject({ term: 1, vote: 2n });
    expect(rd.mustSync).toBe(true);
    n.raft.step(msg({ type: MsgVote, from: 3n, to: 1n, term: 1 }));
    rd = n.drain();
    expect(rd.messages).toMatchObject([{ type: MsgVoteResp, to: 3n, reject: true }]);
    n.raft.step(msg({ type: MsgVote, from: 2n, to: 1n, term: 1 }));
    expect(n.drain().messages).toMatchObject([{ type: MsgVoteResp, to: 2n, reject: false }]);
    n.restart();
    n.raft.step(msg({ type: MsgVote, from: 3n, to: 1n, term: 1 }));
    expect(n.drain().messages).toMatchObject([{ type: MsgVoteResp, to: 3n, reject: true }]);
  });
});

describe('A3 vote restricted to up-to-date logs', () => {
  const cases: Array<[number[], number, number, boolean]> = [
    [[1], 1, 1, true],
    [[1], 1, 2, true],
    [[1], 2, 1, true],
    [[1], 2, 2, true],
    [[1, 1], 1, 1, false],
    [[1, 1], 2, 1, true],
    [[2], 1, 1, false],
    [[2], 1, 2, false],
    [[2, 2], 1, 1, false],
  ];
  for (const [terms, logTerm, index, grant] of cases) {
    it(`voter log ${JSON.stringify(terms)}, candidate (term ${logTerm}, index ${index}) -> ${grant ? 'grant' : 'reject'}`, () => {
      const n = singleNode(1n, [1n, 2n, 3n], { terms, hardState: { term: 2 } });
      n.raft.step(msg({ type: MsgVote, from: 2n, to: 1n, term: 3, logTerm, index }));
      const rd = n.drain();
      expect(rd.messages).toMatchObject([{ type: MsgVoteResp, term: 3, reject: !grant }]);
    });
  }
});

describe('A4 term rules and stale messages', () => {
  const roles = ['follower', 'candidate', 'leader'] as const;
  for (const role of roles) {
    it(`${role} in term 3: a term-2 message changes nothing, a term-4 message makes it a follower of term 4 with no vote`, () => {
      const peers = role === 'leader' ? [1n] : [1n, 2n, 3n];
      const n = singleNode(1n, peers, { hardState: { term: role === 'follower' ? 3 : 2 } });
      if (role !== 'follower') {
        n.raft.campaign();
      }
      n.drain();
      while (n.raft.hasReady()) n.drain();
      const before = n.raft.status();
      expect(before).toMatchObject({ role, term: 3 });
      n.raft.step(
        msg({
          type: MsgApp,
          from: 2n,
          to: 1n,
          term: 2,
          index: 0,
          logTerm: 0,
          entries: [{ term: 2, index: 1, type: 0, data: new Uint8Array(1) }],
        }),
      );
      n.raft.step(msg({ type: MsgVote, from: 2n, to: 1n, term: 2 }));
      expect(n.raft.status()).toMatchObject({ role, term: 3, vote: before.vote });
      expect(n.raft.hasReady()).toBe(false);
      n.raft.step(msg({ type: MsgHeartbeat, from: 2n, to: 1n, term: 4 }));
      expect(n.raft.status()).toMatchObject({ role: 'follower', term: 4, vote: 0n, lead: 2n });
      expect(n.raft.status().role).toBe('follower');
    });
  }

  it('with CheckQuorum a stale append is answered so the old leader learns the new term', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { hardState: { term: 3 }, checkQuorum: true });
    n.raft.step(msg({ type: MsgApp, from: 2n, to: 1n, term: 2 }));
    expect(n.drain().messages).toMatchObject([{ type: MsgAppResp, to: 2n, term: 3 }]);
  });

  it('a stale append of an old leader leaves no trace; the log is [(1,1),(2,2),(3,3),(4,3,somedata)]', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.elect(2n);
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 3 });
    c.raft(1n).step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 3,
        logTerm: 2,
        entries: [{ term: 2, index: 4, type: 0, data: new Uint8Array(0) }],
      }),
    );
    c.raft(1n).propose(new TextEncoder().encode('somedata'));
    c.stabilize();
    for (const id of [1n, 2n, 3n]) {
      expect(c.logOf(id)).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 3],
      ]);
      expect(new TextDecoder().decode(c.node(id).storage.entries(4, 5, Infinity)[0]!.data)).toBe('somedata');
    }
  });
});

describe('A9 dueling candidates with a cut link', () => {
  it('without pre-vote: 3 forces a new term but loses; all end as followers in term 2', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.cut.add('1->3').add('3->1');
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
    c.elect(3n);
    expect(c.raft(3n).status()).toMatchObject({ role: 'candidate', term: 1 });
    c.heal();
    c.elect(3n);
    for (const id of [1n, 2n, 3n]) expect(c.raft(id).status()).toMatchObject({ role: 'follower', term: 2 });
    expect(c.node(1n).storage.lastIndex()).toBe(1);
    expect(c.node(2n).storage.lastIndex()).toBe(1);
    expect(c.node(3n).storage.lastIndex()).toBe(0);
  });

  it('with pre-vote: 1 stays leader in term 1 and 3 stays a follower', () => {
    const c = new Cluster([1n, 2n, 3n], { preVote: true });
    c.cut.add('1->3').add('3->1');
    c.elect(1n);
    c.elect(3n);
    // Its pre-vote is rejected by 2 with term 1: it reverts to follower (of term 1) without having bumped anyone.
    expect(c.raft(3n).status()).toMatchObject({ role: 'follower', term: 1 });
    c.heal();
    c.elect(3n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.raft(2n).status()).toMatchObject({ role: 'follower', term: 1 });
    expect(c.raft(3n).status()).toMatchObject({ role: 'follower', term: 1 });
  });
});

describe('A11 pre-vote stops a lagging node from bumping terms', () => {
  it('the lagging node is refused and returns to follower; an up-to-date one can win', () => {
    const c = new Cluster([1n, 2n, 3n], { preVote: true });
    c.elect(1n);
    c.cut.add('1->3');
    c.raft(1n).propose(new Uint8Array([1]));
    c.stabilize();
    c.heal();
    c.raft(3n).campaign();
    expect(c.raft(3n).status().role).toBe('preCandidate');
    const preVotes = c.takeMessages();
    expect(preVotes.every((m) => m.type === MsgPreVote && m.term === 2)).toBe(true);
    for (const m of preVotes) c.deliver(m);
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(c.raft(id).status().term).toBe(1);
    expect(c.raft(3n).status().role).toBe('follower');
    expect(c.raft(1n).status().role).toBe('leader');
    c.elect(2n);
    expect(c.raft(2n).status()).toMatchObject({ role: 'leader', term: 2 });
  });

  it('a pre-vote of a higher term is answered with that term and does not move ours', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { hardState: { term: 1 }, preVote: true });
    n.raft.step(msg({ type: MsgPreVote, from: 2n, to: 1n, term: 2 }));
    expect(n.drain().messages).toMatchObject([{ type: MsgPreVoteResp, term: 2, reject: false }]);
    expect(n.raft.status()).toMatchObject({ term: 1, vote: 0n });
  });
});

describe('A12 CheckQuorum step-down and leader stickiness', () => {
  it('a leader that hears from no quorum for an election timeout steps down', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.elect(1n);
    c.isolate(1n);
    for (let i = 0; i < 2 * 10; i++) {
      c.raft(1n).tick();
      c.stabilize();
    }
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', term: 1 });
  });

  it('a new leader that never hears from its followers steps down after one election timeout', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.dropTypes.add(MsgAppResp);
    c.dropTypes.add(MsgHeartbeatResp);
    c.elect(1n);
    expect(c.raft(1n).status().role).toBe('leader');
    for (let i = 0; i < 9; i++) c.raft(1n).tick();
    expect(c.raft(1n).status().role).toBe('leader');
    c.raft(1n).tick();
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', term: 1 });
  });

  it('a follower that heard from the leader within the election timeout ignores a vote request', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.elect(1n);
    c.elect(3n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.raft(2n).status()).toMatchObject({ role: 'follower', term: 1, lead: 1n });
    expect(c.raft(3n).status()).toMatchObject({ role: 'candidate', term: 2 });
  });

  it('once the lease expired, the vote request is considered', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.elect(1n);
    c.isolate(1n);
    for (let i = 0; i < 10; i++) c.raft(2n).tick();
    c.elect(3n);
    expect(c.raft(3n).status()).toMatchObject({ role: 'leader', term: 2 });
  });
});

describe('A13 disruptive follower, with and without pre-vote', () => {
  it('without pre-vote the candidate answers a late heartbeat with its higher term and deposes the leader', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.elect(1n);
    c.raft(1n).tick();
    const late = c.takeMessages().filter((m) => m.type === MsgHeartbeat && m.to === 3n);
    expect(late.length).toBe(1);
    while (c.raft(3n).status().role !== 'candidate') c.raft(3n).tick();
    expect(c.raft(3n).status().term).toBe(2);
    c.takeMessages(); // vote requests: n1 and n2 are in lease and would ignore them anyway
    c.deliver(late[0]!);
    c.stabilize();
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', term: 2 });
    expect(c.raft(2n).status().term).toBe(1);
  });

  it('with pre-vote the late heartbeat turns the pre-candidate back into a follower and n1 stays leader', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.elect(1n);
    c.raft(1n).tick();
    const late = c.takeMessages().filter((m) => m.type === MsgHeartbeat && m.to === 3n);
    while (c.raft(3n).status().role !== 'preCandidate') c.raft(3n).tick();
    expect(c.raft(3n).status().term).toBe(1);
    c.takeMessages();
    c.deliver(late[0]!);
    c.stabilize();
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1 });
    expect(c.raft(3n).status()).toMatchObject({ role: 'follower', term: 1, lead: 1n });
  });

  it('a candidate stuck at a higher term is freed (CheckQuorum) and the cluster elects a leader', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true });
    c.elect(1n);
    c.isolate(3n);
    for (let k = 0; k < 3; k++) {
      while (c.raft(3n).status().role !== 'candidate' || c.raft(3n).status().term < 2 + k) c.raft(3n).tick();
    }
    c.heal();
    // Heartbeats to the stuck candidate get answered with its term, which deposes 1; then someone wins.
    for (let i = 0; i < 60 && !(c.leader() !== undefined && c.raft(c.leader()!).status().term >= 4); i++) {
      for (const id of [1n, 2n, 3n]) c.raft(id).tick();
      c.stabilize();
    }
    const lead = c.leader();
    expect(lead).toBeDefined();
    expect(c.raft(lead!).status().term).toBeGreaterThanOrEqual(4);
  });
});

describe('B26 term and vote survive restart', () => {
  it('node 2 votes for 1 in term 5, restarts, and refuses 3 in term 5; its term is 5 from disk, not from its log', () => {
    const n = singleNode(2n, [1n, 2n, 3n], { hardState: { term: 4 } });
    n.raft.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 5 }));
    n.drain();
    expect(n.storage.initialState().hardState).toMatchObject({ term: 5, vote: 1n });
    n.restart();
    expect(n.raft.status()).toMatchObject({ term: 5, vote: 1n });
    n.raft.step(msg({ type: MsgVote, from: 3n, to: 2n, term: 5 }));
    expect(n.drain().messages).toMatchObject([{ type: MsgVoteResp, to: 3n, reject: true }]);
  });

  it('a vote that was never persisted is not remembered (the reply was never sent either)', () => {
    const n = singleNode(2n, [1n, 2n, 3n], { hardState: { term: 4 } });
    n.raft.step(msg({ type: MsgVote, from: 1n, to: 2n, term: 5 }));
    expect(n.raft.hasReady()).toBe(true);
    n.restart(); // crash before the Ready was persisted
    expect(n.raft.status()).toMatchObject({ term: 4, vote: 0n });
  });
});

describe('A8 (pre-vote variant) a new leader may erase newer-term entries that were never committed', () => {
  it('with pre-vote n1 also ends as leader of term 3 and every log is [(1,t1),(2,t3)]', () => {
    const ids = [1n, 2n, 3n, 4n, 5n];
    const mk = (terms: number[], term: number, vote: bigint) => {
      const s = new MemoryStorage();
      RaftNode.bootstrap(s, ids);
      if (terms.length) s.append(entriesOfTerms(terms));
      s.setHardState({ term, vote, commit: 0 });
      return s;
    };
    const per = new Map([
      [1n, mk([1], 1, 0n)],
      [2n, mk([1], 1, 0n)],
      [3n, mk([2], 2, 3n)],
      [4n, mk([], 2, 3n)],
      [5n, mk([], 2, 3n)],
    ]);
    const c = new Cluster(ids, { preVote: true }, [], per);
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', term: 2 });
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 3 });
    for (const id of ids)
      expect(c.logOf(id)).toEqual([
        [1, 1],
        [2, 3],
      ]);
  });
});

describe('A13 (liveness) a node rejoining with a smaller term while the leader is partitioned', () => {
  it('still lets the remaining majority elect a leader', () => {
    const c = new Cluster([1n, 2n, 3n], { preVote: true, checkQuorum: true });
    c.elect(1n);
    c.isolate(3n);
    c.raft(1n).transferLeadership(2n);
    c.stabilize();
    expect(c.raft(2n).status()).toMatchObject({ role: 'leader', term: 2 });
    expect(c.raft(3n).status().term).toBe(1);
    c.heal();
    c.isolate(2n);
    for (let i = 0; i < 80 && ![1n, 3n].some((id) => c.raft(id).status().role === 'leader'); i++) {
      for (const id of [1n, 3n]) c.raft(id).tick();
      c.stabilize();
    }
    expect([1n, 3n].some((id) => c.raft(id).status().role === 'leader')).toBe(true);
  });
});
