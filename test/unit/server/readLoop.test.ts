import { BehaviorSubject, Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { LinearizableReadLoop } from '../../../src/server/readLoop.js';
import type { ReadState } from '../../../src/raft/ready.js';

function harness(timeoutMs = 1_000, retryMs = 60_000) {
  const requests: Uint8Array[] = [];
  const readState$ = new Subject<ReadState>();
  const leaderChanged$ = new Subject<void>();
  const applied$ = new BehaviorSubject(0);
  const stopping$ = new Subject<void>();
  let id = 100n;
  const loop = new LinearizableReadLoop({
    requestReadIndex: (ctx) => requests.push(ctx),
    nextRequestId: () => id++,
    readState$,
    leaderChanged$,
    applied$,
    stopping$,
    timeoutMs,
    retryMs,
    errors: {
      leaderChanged: () => new Error('etcdserver: leader changed'),
      timeout: () => new Error('etcdserver: request timed out'),
      stopped: () => new Error('etcdserver: server stopped'),
    },
  });
  const answer = (i: number, index: number) => readState$.next({ index, requestCtx: requests[i]! });
  return { loop, requests, readState$, leaderChanged$, applied$, stopping$, answer };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('linearizable read loop', () => {
  it('releases a read once the applied index reaches the read index', async () => {
    const h = harness();
    cleanup = () => h.loop.stop();
    let released = false;
    const read = h.loop.waitLinearizable().then(() => (released = true));
    await tick();
    expect(h.requests).toHaveLength(1);
    h.answer(0, 5);
    h.applied$.next(4);
    await tick();
    expect(released).toBe(false);
    h.applied$.next(5);
    await read;
    expect(released).toBe(true);
  });

  it('batches reads that arrive during a round into one next round', async () => {
    const h = harness();
    cleanup = () => h.loop.stop();
    const first = h.loop.waitLinearizable();
    await tick();
    const later = [h.loop.waitLinearizable(), h.loop.waitLinearizable(), h.loop.waitLinearizable()];
    await tick();
    expect(h.requests).toHaveLength(1);
    h.applied$.next(10);
    h.answer(0, 3);
    await first;
    await tick();
    expect(h.requests).toHaveLength(2);
    h.answer(1, 10);
    await Promise.all(later);
    await tick();
    expect(h.requests).toHaveLength(2);
  });

  it('gives every round a fresh request id', async () => {
    const h = harness();
    cleanup = () => h.loop.stop();
    const a = h.loop.waitLinearizable();
    await tick();
    h.answer(0, 0);
    await a;
    const b = h.loop.waitLinearizable();
    await tick();
    expect(Buffer.from(h.requests[1]!).equals(Buffer.from(h.requests[0]!))).toBe(false);
    // An answer for the old context does not release the new round.
    h.readState$.next({ index: 0, requestCtx: h.requests[0]! });
    let released = false;
    void b.then(() => (released = true));
    await tick();
    expect(released).toBe(false);
    h.answer(1, 0);
    await b;
  });

  it('fails the round with a retryable error on a leader change', async () => {
    const h = harness();
    cleanup = () => h.loop.stop();
    const read = h.loop.waitLinearizable();
    await tick();
    h.leaderChanged$.next();
    await expect(read).rejects.toThrow('etcdserver: leader changed');
    // The loop keeps serving later reads.
    const next = h.loop.waitLinearizable();
    await tick();
    h.answer(1, 0);
    await next;
  });

  it('asks again with the same context while no answer comes (a lost request or answer)', async () => {
    const h = harness(1_000, 20);
    cleanup = () => h.loop.stop();
    const read = h.loop.waitLinearizable();
    await new Promise((r) => setTimeout(r, 70));
    expect(h.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of h.requests) expect(Buffer.from(r)).toEqual(Buffer.from(h.requests[0]!));
    h.answer(0, 0);
    await read;
    // Answered: no more requests for that round.
    const asked = h.requests.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(h.requests).toHaveLength(asked);
  });

  it('times out with etcd’s error when no read state arrives', async () => {
    const h = harness(30);
    cleanup = () => h.loop.stop();
    await expect(h.loop.waitLinearizable()).rejects.toThrow('etcdserver: request timed out');
  });

  it('fails waiting reads when the member stops', async () => {
    const h = harness();
    const read = h.loop.waitLinearizable();
    await tick();
    h.loop.stop();
    await expect(read).rejects.toThrow('etcdserver: server stopped');
    await expect(h.loop.waitLinearizable()).rejects.toThrow('etcdserver: server stopped');
  });
});
