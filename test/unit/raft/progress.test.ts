import { describe, expect, it } from 'vitest';
import { Inflights } from '../../../src/raft/inflights.js';
import { Progress } from '../../../src/raft/progress.js';
import { majorityCommittedIndex, majorityVoteResult } from '../../../src/raft/quorum/majority.js';
import { jointCommittedIndex, jointVoteResult } from '../../../src/raft/quorum/joint.js';
import { ReadOnly } from '../../../src/raft/readOnly.js';
import { Message, MessageType } from '../../../src/proto/raftpb.js';

describe('Inflights', () => {
  it('is full by count or by bytes, and frees in index order', () => {
    const f = new Inflights(3, 1000);
    f.add(1, 100);
    f.add(2, 100);
    expect(f.full()).toBe(false);
    f.add(3, 100);
    expect(f.full()).toBe(true);
    f.freeLE(2);
    expect(f.size()).toBe(1);
    f.add(4, 950);
    expect(f.full()).toBe(true); // 1050 bytes
    f.freeFirstOne();
    expect(f.inflightBytes()).toBe(950);
    f.freeLE(10);
    expect(f.size()).toBe(0);
    expect(() => {
      const g = new Inflights(1, Infinity);
      g.add(1, 1);
      g.add(2, 1);
    }).toThrow();
  });

  it('wraps around its ring', () => {
    const f = new Inflights(2, Infinity);
    for (let i = 1; i <= 10; i++) {
      f.add(i, 1);
      f.freeLE(i - 1);
      expect(f.size()).toBe(1);
    }
    expect(f.clone().size()).toBe(1);
  });
});

describe('Progress', () => {
  const pr = () => new Progress(5, new Inflights(2, Infinity), false);
  it('maybeUpdate moves match forward only', () => {
    const p = pr();
    expect(p.maybeUpdate(3)).toBe(true);
    expect(p).toMatchObject({ match: 3, next: 5 });
    expect(p.maybeUpdate(3)).toBe(false); // a repeated ack moves nothing
    expect(p.maybeUpdate(2)).toBe(false);
    p.msgAppFlowPaused = true;
    expect(p.maybeUpdate(7)).toBe(true);
    expect(p).toMatchObject({ match: 7, next: 8, msgAppFlowPaused: false });
  });

  it('maybeDecrTo: stale rejections are ignored; probe backs off to the hint, never below match+1', () => {
    const p = pr();
    p.match = 2;
    expect(p.maybeDecrTo(3, 0)).toBe(false); // we did not send index 3 as prev
    expect(p.maybeDecrTo(4, 0)).toBe(true);
    expect(p.next).toBe(3);
    p.becomeReplicate();
    p.optimisticUpdate(9);
    expect(p.maybeDecrTo(2, 0)).toBe(false); // below match: stale
    expect(p.maybeDecrTo(5, 1)).toBe(true);
    expect(p.next).toBe(3);
  });

  it('pauses: probe after a send, replicate when inflights are full, always in snapshot', () => {
    const p = pr();
    expect(p.isPaused()).toBe(false);
    p.msgAppFlowPaused = true;
    expect(p.isPaused()).toBe(true);
    p.becomeReplicate();
    expect(p.isPaused()).toBe(false);
    p.inflights.add(5, 1);
    p.inflights.add(6, 1);
    expect(p.isPaused()).toBe(true);
    p.becomeSnapshot(20);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p).toMatchObject({ state: 'probe', next: 21, pendingSnapshot: 0 });
  });

  it('leaving snapshot state, next stays above match even when match passed the snapshot', () => {
    const p = pr();
    p.becomeSnapshot(20);
    p.maybeUpdate(25);
    p.becomeProbe();
    expect(p).toMatchObject({ state: 'probe', match: 25, next: 26 });
  });
});

describe('quorum', () => {
  const voters = (...ids: number[]) => new Set(ids.map(BigInt));
  const acked = (m: Record<number, number>) => (id: bigint) => m[Number(id)];
  it('majority committed index', () => {
    expect(majorityCommittedIndex(voters(1, 2, 3), acked({ 1: 5, 2: 3, 3: 1 }))).toBe(3);
    expect(majorityCommittedIndex(voters(1, 2, 3, 4), acked({ 1: 5, 2: 3, 3: 1, 4: 4 }))).toBe(3);
    expect(majorityCommittedIndex(voters(1, 2, 3), acked({ 1: 5 }))).toBe(0);
    expect(majorityCommittedIndex(voters(), acked({}))).toBe(Infinity);
  });
  it('joint committed index is the smaller of both halves', () => {
    expect(
      jointCommittedIndex(
        { incoming: voters(1, 2, 3), outgoing: voters(1, 4, 5) },
        acked({ 1: 9, 2: 9, 3: 9, 4: 2, 5: 1 }),
      ),
    ).toBe(2);
    expect(
      jointCommittedIndex({ incoming: voters(1, 2, 3), outgoing: voters() }, acked({ 1: 9, 2: 9 })),
    ).toBe(9);
  });
  it('vote results: won, pending, lost; joint needs both', () => {
    const v = (m: Record<number, boolean>) => new Map(Object.entries(m).map(([k, b]) => [BigInt(k), b]));
    expect(majorityVoteResult(voters(1, 2, 3), v({ 1: true, 2: true }))).toBe('won');
    expect(majorityVoteResult(voters(1, 2, 3), v({ 1: true, 2: false }))).toBe('pending');
    expect(majorityVoteResult(voters(1, 2, 3), v({ 1: true, 2: false, 3: false }))).toBe('lost');
    expect(majorityVoteResult(voters(), v({}))).toBe('won');
    const j = { incoming: voters(1, 2, 3), outgoing: voters(3, 4, 5) };
    expect(jointVoteResult(j, v({ 1: true, 2: true, 3: true }))).toBe('pending');
    expect(jointVoteResult(j, v({ 1: true, 2: true, 3: true, 4: true }))).toBe('won');
    expect(jointVoteResult(j, v({ 1: true, 2: true, 3: false, 4: false }))).toBe('lost');
  });
});

describe('ReadOnly', () => {
  const req = (ctx: string) =>
    Message.create({
      type: MessageType.MsgReadIndex,
      entries: [{ term: 0, index: 0, type: 0, data: new TextEncoder().encode(ctx) }],
    });
  it('an ack quorum for a later request releases every earlier one, in order', () => {
    const ro = new ReadOnly('safe');
    ro.addRequest(5, req('a'));
    ro.addRequest(6, req('b'));
    ro.addRequest(6, req('b')); // duplicate context: ignored
    expect(ro.pendingCount()).toBe(2);
    expect(new TextDecoder().decode(ro.lastPendingRequestCtx())).toBe('b');
    const acks = ro.recvAck(2n, new TextEncoder().encode('b'));
    expect([...acks.keys()]).toEqual([2n]);
    const done = ro.advance(new TextEncoder().encode('b'));
    expect(done.map((d) => d.index)).toEqual([5, 6]);
    expect(ro.pendingCount()).toBe(0);
    expect(ro.advance(new TextEncoder().encode('zzz'))).toEqual([]);
  });
});
