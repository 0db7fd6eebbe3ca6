import { describe, expect, it } from 'vitest';
import { Message, MessageType } from '../../../src/proto/raftpb.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import type { ReadState } from '../../../src/raft/ready.js';
import { Cluster, dec, enc } from './cluster.js';
import { entriesOfTerms, singleNode } from './single.js';

const { MsgApp, MsgHeartbeat, MsgHeartbeatResp, MsgReadIndex, MsgReadIndexResp } = MessageType;
const entry = (ctx: string) => ({ term: 0, index: 0, type: 0, data: enc(ctx) });

/** Collects every read state handed out, per node, through readState$. */
function watchReads(c: Cluster): Map<bigint, ReadState[]> {
  const out = new Map<bigint, ReadState[]>();
  for (const [id, n] of c.nodes) {
    const list: ReadState[] = [];
    out.set(id, list);
    n.raft.readState$.subscribe((rs) => list.push(rs));
  }
  return out;
}

describe('A14 ReadIndex waits for a commit in the current term', () => {
  it('a new leader parks the read until it commits in its term, then answers with the commit index', () => {
    const ids = [1n, 2n, 3n];
    const per = new Map<bigint, MemoryStorage>();
    for (const id of ids) {
      const s = new MemoryStorage();
      RaftNode.bootstrap(s, ids);
      s.append(entriesOfTerms([1, 1]));
      s.setHardState({ term: 1, vote: 0n, commit: id === 1n ? 1 : 2 });
      per.set(id, s);
    }
    const c = new Cluster(ids, {}, [], per);
    const reads = watchReads(c);
    c.dropTypes.add(MsgApp);
    c.elect(1n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 2, commit: 1 });
    c.raft(1n).readIndex(enc('ctx1'));
    c.stabilize();
    expect(reads.get(1n)).toEqual([]);
    c.heal();
    c.raft(1n).propose(enc('x'));
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().commit).toBe(4);
    expect(reads.get(1n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[4, 'ctx1']]);
    // Later requests are answered after one heartbeat round.
    c.raft(1n).readIndex(enc('ctx2'));
    c.stabilize();
    expect(reads.get(1n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([
      [4, 'ctx1'],
      [4, 'ctx2'],
    ]);
  });

  it('safe: the answer waits for a heartbeat acknowledged by a majority', () => {
    const c = new Cluster([1n, 2n, 3n]);
    const reads = watchReads(c);
    c.elect(1n);
    c.raft(1n).readIndex(enc('r'));
    const hbs = c.takeMessages().filter((m) => m.type === MsgHeartbeat);
    expect(hbs.length).toBe(2);
    expect(hbs.every((m) => dec(m.context) === 'r')).toBe(true);
    expect(reads.get(1n)).toEqual([]);
    c.deliver(hbs[0]!);
    const acks = c.takeMessages();
    expect(acks).toMatchObject([{ type: MsgHeartbeatResp }]);
    c.deliver(acks[0]!);
    c.processAllReadies();
    expect(reads.get(1n)!.map((r) => r.index)).toEqual([1]);
  });

  it('safe, five voters: one follower ack is not a quorum, a second one is', () => {
    const c = new Cluster([1n, 2n, 3n, 4n, 5n]);
    const reads = watchReads(c);
    c.elect(1n);
    c.raft(1n).propose(enc('a'));
    c.stabilize();
    c.raft(1n).readIndex(enc('r5'));
    const hbs = c.takeMessages().filter((m) => m.type === MsgHeartbeat);
    expect(hbs.map((m) => m.to)).toEqual([2n, 3n, 4n, 5n]);
    for (const m of hbs) c.deliver(m);
    const acks = c.takeMessages();
    expect(acks.map((m) => [m.type, m.from, dec(m.context)])).toEqual(
      [2n, 3n, 4n, 5n].map((id) => [MsgHeartbeatResp, id, 'r5']),
    );
    // The leader and one follower are two of five; the same ack twice is still one.
    c.deliver(acks[0]!);
    c.deliver(acks[0]!);
    c.processAllReadies();
    expect(reads.get(1n)).toEqual([]);
    c.deliver(acks[1]!);
    c.processAllReadies();
    expect(reads.get(1n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[2, 'r5']]);
    // Late acks of an answered request answer nothing again.
    c.deliver(acks[2]!);
    c.deliver(acks[3]!);
    c.processAllReadies();
    expect(reads.get(1n)!.length).toBe(1);
  });

  it('safe: a read parked until the first commit of the term still waits for a heartbeat quorum', () => {
    const c = new Cluster([1n, 2n, 3n]);
    const reads = watchReads(c);
    c.dropTypes.add(MsgApp);
    c.elect(1n);
    c.raft(1n).readIndex(enc('parked'));
    c.heal();
    // The appends commit the leader's entry; the heartbeats of the read's round are lost.
    const roundLost = (m: Message): boolean => !(m.type === MsgHeartbeat && m.context.length > 0);
    c.raft(1n).tick();
    c.stabilize(roundLost);
    expect(c.raft(1n).status().commit).toBe(1);
    expect(reads.get(1n)).toEqual([]);
    // The next periodic heartbeat carries the pending request's context, and its acks confirm it.
    c.raft(1n).tick();
    c.stabilize();
    expect(reads.get(1n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[1, 'parked']]);
  });

  it('lease-based: a read parked until the first commit of the term is answered at that commit', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, readOnlyOption: 'leaseBased' });
    const reads = watchReads(c);
    c.dropTypes.add(MsgApp);
    c.elect(1n);
    c.raft(1n).readIndex(enc('lease-parked'));
    c.processAllReadies();
    expect(reads.get(1n)).toEqual([]);
    c.heal();
    c.raft(1n).tick();
    c.stabilize();
    expect(reads.get(1n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[1, 'lease-parked']]);
  });

  it('a partitioned leader never answers a safe read', () => {
    const c = new Cluster([1n, 2n, 3n]);
    const reads = watchReads(c);
    c.elect(1n);
    c.isolate(1n);
    c.raft(1n).readIndex(enc('stale?'));
    for (let i = 0; i < 30; i++) {
      c.raft(1n).tick();
      c.stabilize();
    }
    expect(reads.get(1n)).toEqual([]);
  });

  it('lease-based: the leader answers at once with its commit index', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, readOnlyOption: 'leaseBased' });
    const reads = watchReads(c);
    c.elect(1n);
    c.raft(1n).readIndex(enc('lease'));
    c.processAllReadies();
    expect(reads.get(1n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[1, 'lease']]);
  });

  it("a follower forwards the request and gets the leader's index back", () => {
    const c = new Cluster([1n, 2n, 3n]);
    const reads = watchReads(c);
    c.elect(1n);
    c.raft(1n).propose(enc('a'));
    c.stabilize();
    c.raft(2n).readIndex(enc('from-2'));
    const fwd = c.takeMessages();
    expect(fwd).toMatchObject([{ type: MsgReadIndex, from: 2n, to: 1n, term: 0 }]);
    c.deliver(fwd[0]!);
    c.stabilize();
    expect(reads.get(2n)!.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[2, 'from-2']]);
    expect(reads.get(1n)).toEqual([]);
  });

  it('a follower without a leader drops the request', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.raft(2n).readIndex(enc('nobody'));
    expect(c.takeMessages()).toEqual([]);
  });

  it('a single voter answers at once', () => {
    const n = singleNode(1n, [1n]);
    const reads: ReadState[] = [];
    n.raft.readState$.subscribe((r) => reads.push(r));
    n.raft.campaign();
    n.drain();
    n.drain();
    n.raft.readIndex(enc('one'));
    const rd = n.drain();
    expect(rd.readStates.map((r) => [r.index, dec(r.requestCtx)])).toEqual([[1, 'one']]);
    expect(reads.length).toBe(1);
  });

  it('a MsgReadIndexResp without exactly one entry is dropped', () => {
    const c = new Cluster([1n, 2n, 3n]);
    const reads = watchReads(c);
    c.elect(1n);
    const resp = { type: MsgReadIndexResp, from: 1n, to: 2n, term: 1, index: 1 };
    c.deliver(Message.create(resp));
    c.deliver(Message.create({ ...resp, entries: [entry('a'), entry('b')] }));
    c.processAllReadies();
    expect(reads.get(2n)).toEqual([]);
  });

  it('MsgReadIndexResp reaches only the follower that asked', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(3n).readIndex(enc('three'));
    c.stabilize((m) => {
      if (m.type === MsgReadIndexResp) expect(m.to).toBe(3n);
      return true;
    });
  });
});
