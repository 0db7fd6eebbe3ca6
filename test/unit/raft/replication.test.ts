import { describe, expect, it } from 'vitest';
import { MessageType, type Message } from '../../../src/proto/raftpb.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import { Cluster } from './cluster.js';
import { entriesOfTerms, msg, singleNode } from './single.js';

const { MsgApp, MsgAppResp, MsgVoteResp, MsgHeartbeat } = MessageType;
const ents = (pairs: Array<[number, number]>) =>
  pairs.map(([index, term]) => ({ index, term, type: 0, data: new Uint8Array(0) }));

/** Storage for `peers` holding entries of the given terms, with hard state term/vote. */
function storageWith(peers: bigint[], terms: number[], term: number, vote = 0n): MemoryStorage {
  const s = new MemoryStorage();
  RaftNode.bootstrap(s, peers);
  if (terms.length > 0) s.append(entriesOfTerms(terms));
  s.setHardState({ term, vote, commit: 0 });
  return s;
}

function termsOf(s: MemoryStorage): number[] {
  const out: number[] = [];
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push(s.term(i));
  return out;
}

describe('A5 AppendEntries consistency check and conflict truncation', () => {
  const follower = () => singleNode(1n, [1n, 2n, 3n], { terms: [1, 2], hardState: { term: 2, commit: 1 } });
  it('(a) prev=(2,t2) + [(3,t2)] is accepted', () => {
    const n = follower();
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 2,
        logTerm: 2,
        entries: ents([[3, 2]]),
        commit: 1,
      }),
    );
    const rd = n.drain();
    expect(rd.messages).toMatchObject([{ type: MsgAppResp, index: 3, reject: false }]);
    expect(termsOf(n.storage)).toEqual([1, 2, 2]);
  });
  it('(b) prev=(2,t1) is rejected: term mismatch; the log is unchanged', () => {
    const n = follower();
    n.raft.step(msg({ type: MsgApp, from: 2n, to: 1n, term: 2, index: 2, logTerm: 1, commit: 1 }));
    expect(n.drain().messages).toMatchObject([
      { type: MsgAppResp, index: 2, reject: true, rejectHint: 1, logTerm: 1 },
    ]);
    expect(termsOf(n.storage)).toEqual([1, 2]);
  });
  it('(c) prev=(3,t2) is rejected: gap', () => {
    const n = follower();
    n.raft.step(msg({ type: MsgApp, from: 2n, to: 1n, term: 2, index: 3, logTerm: 2, commit: 1 }));
    expect(n.drain().messages).toMatchObject([
      { type: MsgAppResp, index: 3, reject: true, rejectHint: 2, logTerm: 2 },
    ]);
  });
  it('(d) prev=(1,t1) + [(2,t3)] replaces index 2 and drops everything after it', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { terms: [1, 2, 2], hardState: { term: 2, commit: 1 } });
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 3,
        index: 1,
        logTerm: 1,
        entries: ents([[2, 3]]),
        commit: 1,
      }),
    );
    expect(n.drain().messages).toMatchObject([{ type: MsgAppResp, index: 2, reject: false }]);
    expect(termsOf(n.storage)).toEqual([1, 3]);
  });
  it('(e) an older, shorter append truncates nothing: index 3 stays', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { terms: [1, 2, 2], hardState: { term: 2, commit: 1 } });
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 1,
        logTerm: 1,
        entries: ents([[2, 2]]),
        commit: 1,
      }),
    );
    expect(n.drain().messages).toMatchObject([{ type: MsgAppResp, index: 2, reject: false }]);
    expect(termsOf(n.storage)).toEqual([1, 2, 2]);
  });
  it('(f) entries replaced before they were persisted take their queued ack with them', () => {
    const n = follower();
    // The leader of term 2 appends 3 and 4; the ack of 4 waits for the next Ready...
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 2,
        logTerm: 2,
        entries: ents([
          [3, 2],
          [4, 2],
        ]),
        commit: 1,
      }),
    );
    // ...in which the leader of term 3 replaces them. Sent, that ack would tell
    // node 2 that 3 and 4 of term 2 are durable here: they never will be.
    n.raft.step(
      msg({
        type: MsgApp,
        from: 3n,
        to: 1n,
        term: 3,
        index: 2,
        logTerm: 2,
        entries: ents([[3, 3]]),
        commit: 1,
      }),
    );
    const rd = n.drain();
    expect(rd.messages).toMatchObject([{ type: MsgAppResp, to: 3n, term: 3, index: 3, reject: false }]);
    expect(rd.messages).toHaveLength(1);
    expect(termsOf(n.storage)).toEqual([1, 2, 3]);
  });
  it('(g) an append that only extends the log keeps the queued acks', () => {
    const n = follower();
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 2,
        logTerm: 2,
        entries: ents([[3, 2]]),
        commit: 1,
      }),
    );
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 3,
        logTerm: 2,
        entries: ents([[4, 2]]),
        commit: 1,
      }),
    );
    expect(n.drain().messages).toMatchObject([
      { type: MsgAppResp, index: 3, reject: false },
      { type: MsgAppResp, index: 4, reject: false },
    ]);
  });
  it('(h) a repeated append of entries already held keeps the queued acks', () => {
    const n = follower();
    const app = (entries: Array<[number, number]>): Message =>
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 2,
        logTerm: 2,
        entries: ents(entries),
        commit: 1,
      });
    n.raft.step(
      app([
        [3, 2],
        [4, 2],
      ]),
    );
    n.raft.step(app([[3, 2]]));
    expect(n.drain().messages).toMatchObject([
      { type: MsgAppResp, index: 4, reject: false },
      { type: MsgAppResp, index: 3, reject: false },
    ]);
  });
  it('(i) replacing entries drops only their acks: rejections and heartbeat answers still go out', () => {
    const n = follower();
    const fromLeader2 = { from: 2n, to: 1n, term: 2, commit: 1 };
    n.raft.step(msg({ type: MsgHeartbeat, ...fromLeader2 }));
    n.raft.step(msg({ type: MsgApp, ...fromLeader2, index: 5, logTerm: 2 }));
    n.raft.step(msg({ type: MsgApp, ...fromLeader2, index: 2, logTerm: 2, entries: ents([[3, 2]]) }));
    n.raft.step(
      msg({ type: MsgApp, from: 3n, to: 1n, term: 3, index: 2, logTerm: 2, entries: ents([[3, 3]]) }),
    );
    expect(n.drain().messages.map((m) => [MessageType[m.type], m.to, m.index, m.reject])).toEqual([
      ['MsgHeartbeatResp', 2n, 0, false],
      ['MsgAppResp', 2n, 5, true],
      ['MsgAppResp', 3n, 3, false],
    ]);
  });
  it('an append below the commit index is answered with the commit index', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { terms: [1, 2, 2], hardState: { term: 2, commit: 2 } });
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 0,
        logTerm: 0,
        entries: ents([[1, 1]]),
        commit: 2,
      }),
    );
    expect(n.drain().messages).toMatchObject([{ type: MsgAppResp, index: 2, reject: false }]);
  });
});

describe('A6 the leader repairs divergent logs (paper Figure 7)', () => {
  const fig7: Record<string, number[]> = {
    leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  it("every log ends equal to the leader's, with few rejections thanks to the term hints", () => {
    const ids = [1n, 2n, 3n, 4n, 5n, 6n, 7n];
    const logs = Object.values(fig7);
    const per = new Map(ids.map((id, i) => [id, storageWith(ids, logs[i]!, 7)]));
    const c = new Cluster(ids, {}, [], per);
    let rejections = 0;
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 8 });
    c.raft(1n).propose(new Uint8Array([1]));
    c.stabilize((m) => {
      if (m.type === MsgAppResp && m.reject) rejections++;
      return true;
    });
    const want = [...fig7.leader!, 8, 8];
    for (const id of ids) expect(termsOf(c.node(id).storage)).toEqual(want);
    // Without hints, f alone would need 7 probes; by term each diverging follower needs at most a few.
    expect(rejections).toBeLessThanOrEqual(12);
  });
});

describe('A7 commit only current-term entries by counting (Figure 8)', () => {
  it('(a) 2 voters: acks of index 1 and 2 commit nothing; the ack of 3 (term 3) commits all', () => {
    const n = singleNode(1n, [1n, 2n], { terms: [1, 2], hardState: { term: 2 } });
    n.raft.campaign();
    n.drain();
    n.raft.step(msg({ type: MsgVoteResp, from: 2n, to: 1n, term: 3 }));
    expect(n.raft.status()).toMatchObject({ role: 'leader', term: 3 });
    n.drain();
    for (const [idx, want] of [
      [1, 0],
      [2, 0],
      [3, 3],
    ] as const) {
      n.raft.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 3, index: idx }));
      expect(n.raft.status().commit).toBe(want);
    }
  });

  it('the leader counts its own copy only once persisted', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { hardState: { term: 1 } });
    n.raft.campaign();
    n.drain();
    n.raft.step(msg({ type: MsgVoteResp, from: 2n, to: 1n, term: 2 }));
    expect(n.raft.status().role).toBe('leader');
    // Entry 1 (term 2) is not yet durable on the leader: one follower ack is not a quorum.
    n.raft.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 2, index: 1 }));
    expect(n.raft.status().commit).toBe(0);
    n.drain(); // persisted: advance() self-acknowledges
    expect(n.raft.status().commit).toBe(1);
  });

  it('(b) Figure 8 with 5 nodes: (2,t2) is never applied anywhere', () => {
    const ids = [1n, 2n, 3n, 4n, 5n];
    const c = new Cluster(ids, { maxSizePerMsg: 1 });
    const everApplied = () => [...c.nodes.values()].flatMap((n) => n.applied.map((e) => [e.index, e.term]));
    c.elect(2n); // (1,t1) everywhere
    // S1 leads term 2 and replicates (2,t2) to S2 only.
    c.raft(1n).campaign();
    c.stabilize((m) => !(m.type === MsgApp && m.from === 1n && m.to !== 2n));
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 2 });
    expect(termsOf(c.node(2n).storage)).toEqual([1, 2]);
    // S1 crashes. S5 leads term 3 (votes of S3, S4) and writes (2,t3) only locally, then crashes.
    c.isolate(1n);
    c.cut.add('5->2');
    c.raft(5n).campaign();
    c.stabilize((m) => m.type !== MsgApp);
    expect(c.raft(5n).status()).toMatchObject({ role: 'leader', term: 3 });
    expect(termsOf(c.node(5n).storage)).toEqual([1, 3]);
    c.heal();
    c.isolate(5n);
    c.node(5n).restart();
    c.node(1n).restart();
    // S1 is back, leads term 4, and copies (2,t2) (but not its (3,t4)) to S3.
    // Drop every append that would place (3,t4); probes rejected for a gap still pass.
    const onlyIndex2 = (m: Message) =>
      !(
        m.type === MsgApp &&
        m.entries.some((e) => e.index >= 3) &&
        c.node(m.to).storage.lastIndex() >= m.index
      );
    for (let i = 0; i < 5 && c.raft(1n).status().role !== 'leader'; i++) {
      c.raft(1n).campaign();
      c.stabilize(onlyIndex2);
    }
    c.raft(1n).tick();
    c.stabilize(onlyIndex2);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 4 });
    expect(termsOf(c.node(3n).storage)).toEqual([1, 2]);
    // (2,t2) is on a majority (S1, S2, S3) but is not of term 4: commit stays 1.
    expect(c.raft(1n).status().commit).toBe(1);
    // S1 crashes; S5 returns and wins, overwriting index 2 with t3 everywhere.
    c.heal();
    c.isolate(1n);
    c.node(1n).restart();
    for (let i = 0; i < 5 && c.raft(5n).status().role !== 'leader'; i++) c.elect(5n);
    expect(c.raft(5n).status().role).toBe('leader');
    c.heal();
    c.raft(5n).propose(new Uint8Array([5]));
    c.raft(5n).tick();
    c.stabilize();
    for (const id of ids) expect(termsOf(c.node(id).storage).slice(0, 2)).toEqual([1, 3]);
    expect(everApplied().some(([i, t]) => i === 2 && t === 2)).toBe(false);
    expect(everApplied().some(([i, t]) => i === 2 && t === 3)).toBe(true);
  });
});

describe('A8 a new leader may erase newer-term entries that were never committed', () => {
  it('n1 loses once, wins term 3; every log is [(1,t1),(2,t3)]', () => {
    const ids = [1n, 2n, 3n, 4n, 5n];
    const per = new Map<bigint, MemoryStorage>([
      [1n, storageWith(ids, [1], 1)],
      [2n, storageWith(ids, [1], 1)],
      [3n, storageWith(ids, [2], 2, 3n)],
      [4n, storageWith(ids, [], 2, 3n)],
      [5n, storageWith(ids, [], 2, 3n)],
    ]);
    const c = new Cluster(ids, {}, [], per);
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', term: 2 });
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 3 });
    for (const id of ids) expect(termsOf(c.node(id).storage)).toEqual([1, 3]);
  });
});

describe('A10 reordered and duplicated appends', () => {
  it('the leader never moves next below match; redelivery changes nothing', () => {
    const c = new Cluster([1n, 2n]);
    c.elect(1n);
    c.raft(1n).propose(new Uint8Array([2]));
    const app2 = c.takeMessages();
    c.raft(1n).propose(new Uint8Array([3]));
    const app3 = c.takeMessages();
    expect(app2).toMatchObject([{ type: MsgApp, index: 1 }]);
    expect(app3).toMatchObject([{ type: MsgApp, index: 2 }]);
    c.deliver(app3[0]!);
    c.deliver(app2[0]!);
    const [reject3, ack2] = c.takeMessages();
    expect(reject3).toMatchObject({ type: MsgAppResp, reject: true, index: 2 });
    expect(ack2).toMatchObject({ type: MsgAppResp, reject: false, index: 2 });
    c.deliver(ack2!);
    expect(c.raft(1n).status().progress!.get(2n)).toMatchObject({ match: 2 });
    c.raft(1n).reportUnreachable(2n);
    expect(c.raft(1n).status().progress!.get(2n)).toMatchObject({ state: 'probe', match: 2, next: 3 });
    c.takeMessages();
    c.deliver(reject3!);
    const p = c.raft(1n).status().progress!.get(2n)!;
    expect(p.match).toBe(2);
    expect(p.next).toBeGreaterThanOrEqual(3);
    c.stabilize();
    expect(termsOf(c.node(2n).storage)).toEqual([1, 1, 1]);
    expect(c.raft(2n).status().commit).toBe(3);
    // Redeliver every old append: nothing changes.
    for (const m of [...app2, ...app3]) c.deliver(m);
    c.stabilize();
    expect(termsOf(c.node(2n).storage)).toEqual([1, 1, 1]);
    expect(c.node(2n).applied.map((e) => e.index)).toEqual([1, 2, 3]);
  });
});

describe('A15 single voter: never report an entry committed before it is stable', () => {
  it('an entry is "to persist" in one Ready and "committed" only in a later one', () => {
    const n = singleNode(1n, [1n]);
    n.raft.campaign();
    expect(n.raft.status().role).toBe('leader');
    let rd = n.drain();
    expect(rd.entries.map((e) => e.index)).toEqual([1]);
    expect(rd.committedEntries).toEqual([]);
    rd = n.drain();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
    n.raft.propose(new Uint8Array([7]));
    rd = n.raft.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.committedEntries).toEqual([]);
    expect(rd.hardState?.commit ?? 1).toBe(1);
    n.storage.append(rd.entries);
    n.raft.advance(rd);
    rd = n.drain();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2]);
    expect(rd.hardState?.commit).toBe(2);
  });
});

describe('flow control', () => {
  function replicating(opts: Parameters<typeof singleNode>[2]) {
    const n = singleNode(1n, [1n, 2n], { hardState: { term: 1 }, ...opts });
    n.raft.campaign();
    n.drain();
    n.raft.step(msg({ type: MsgVoteResp, from: 2n, to: 1n, term: 2 }));
    n.drain();
    n.raft.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 2, index: 1 }));
    n.drain();
    expect(n.raft.status().progress!.get(2n)!.state).toBe('replicate');
    return n;
  }
  const appsTo2 = (ms: Message[]) =>
    ms.filter((m) => m.type === MsgApp && m.to === 2n && m.entries.length > 0);

  it('maxInflightMsgs bounds the MsgApps in flight; acks open the window again', () => {
    const n = replicating({ maxInflightMsgs: 2 });
    let sent = 0;
    for (let i = 0; i < 5; i++) {
      n.raft.propose(new Uint8Array([i]));
      sent += appsTo2(n.drain().messages).length;
    }
    expect(sent).toBe(2);
    n.raft.step(msg({ type: MsgAppResp, from: 2n, to: 1n, term: 2, index: 3 }));
    const more = appsTo2(n.drain().messages);
    expect(more.length).toBeGreaterThan(0);
    expect(more[0]!.index).toBe(3);
  });

  it('maxInflightBytes bounds the payload bytes in flight', () => {
    const n = replicating({ maxInflightMsgs: 100, maxSizePerMsg: 500, maxInflightBytes: 1000 });
    let sent = 0;
    for (let i = 0; i < 5; i++) {
      n.raft.propose(new Uint8Array(400));
      sent += appsTo2(n.drain().messages).length;
    }
    expect(sent).toBe(3); // 1200 bytes >= 1000 after the third
  });

  it('maxSizePerMsg splits entries over several MsgApps (at least one entry each)', () => {
    const n = replicating({ maxSizePerMsg: 1000, maxInflightMsgs: 100 });
    n.raft.proposeMany([new Uint8Array(600), new Uint8Array(600), new Uint8Array(600)]);
    const apps = appsTo2(n.drain().messages);
    expect(apps.map((m) => m.entries.length)).toEqual([1, 1, 1]);
  });

  it('in probe state only one MsgApp is outstanding until an answer arrives', () => {
    const n = singleNode(1n, [1n, 2n], { hardState: { term: 1 } });
    n.raft.campaign();
    n.drain();
    n.raft.step(msg({ type: MsgVoteResp, from: 2n, to: 1n, term: 2 }));
    expect(appsTo2(n.drain().messages).length).toBe(1);
    n.raft.propose(new Uint8Array([1]));
    n.raft.propose(new Uint8Array([2]));
    expect(appsTo2(n.drain().messages).length).toBe(0);
    n.raft.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: 2 }));
    expect(appsTo2(n.drain().messages).length).toBe(1);
  });

  it('heartbeats carry min(match, commit) so a follower never commits what it lacks', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.cut.add('1->3');
    c.raft(1n).propose(new Uint8Array([1]));
    c.stabilize();
    c.heal();
    expect(c.raft(1n).status().commit).toBe(2);
    c.raft(1n).tick();
    const hbs = c.takeMessages().filter((m) => m.type === MsgHeartbeat);
    expect(hbs.find((m) => m.to === 2n)!.commit).toBe(2);
    expect(hbs.find((m) => m.to === 3n)!.commit).toBe(1);
  });
});

describe('B27 async appends overlapping a term change', () => {
  it('completing an older write does not drop newer in-memory entries; storage ends with the newer ones', () => {
    const n = singleNode(1n, [1n, 2n, 3n], { terms: [1], hardState: { term: 2, commit: 1 } });
    n.raft.step(
      msg({
        type: MsgApp,
        from: 2n,
        to: 1n,
        term: 2,
        index: 1,
        logTerm: 1,
        entries: ents([
          [2, 2],
          [3, 2],
        ]),
        commit: 1,
      }),
    );
    const older = n.raft.ready(); // the write of (2,t2),(3,t2) is in flight
    expect(older.entries.map((e) => e.term)).toEqual([2, 2]);
    // A new leader of term 3 replaces index 2 and 3 before the older write completes.
    n.raft.step(
      msg({
        type: MsgApp,
        from: 3n,
        to: 1n,
        term: 3,
        index: 1,
        logTerm: 1,
        entries: ents([[2, 3]]),
        commit: 1,
      }),
    );
    n.storage.append(older.entries);
    n.raft.advance(older);
    const newer = n.raft.ready();
    expect(newer.entries.map((e) => [e.index, e.term])).toEqual([[2, 3]]);
    n.storage.append(newer.entries);
    n.raft.advance(newer);
    expect(termsOf(n.storage)).toEqual([1, 3]);
    expect(newer.messages).toMatchObject([{ type: MsgAppResp, to: 3n, index: 2 }]);
  });
});
