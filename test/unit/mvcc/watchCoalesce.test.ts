// A coalescing stream (gRPC and gateway watch streams): while its consumer is
// paused, a watcher's new events join its reply still waiting in the buffer, so
// a slow client gets one response for several revisions (headed by the newest)
// instead of its watchers falling behind. Progress, created and canceled
// replies are barriers: no events move ahead of them.
import { afterEach, describe, expect, it } from 'vitest';
import { WatchableStore, type WatchableStoreOptions } from '../../../src/mvcc/watchableStore.js';
import type { WatchReply } from '../../../src/mvcc/watcher.js';
import { FakeKvStore, bytes, settle, summary } from './watchFakeStore.js';

const open: WatchableStore[] = [];
afterEach(() => {
  for (const ws of open.splice(0)) ws.close();
});

function setup(opts: WatchableStoreOptions = {}): { kv: FakeKvStore; ws: WatchableStore } {
  const kv = new FakeKvStore();
  const ws = new WatchableStore(kv, opts);
  open.push(ws);
  return { kv, ws };
}

function record(stream: { replies$: { subscribe(fn: (v: WatchReply) => void): unknown } }): WatchReply[] {
  const out: WatchReply[] = [];
  stream.replies$.subscribe((v) => out.push(v));
  return out;
}

/** A stream whose one watcher (on `a`) is created, then paused: what follows waits in its buffer. */
async function pausedOnA(storeOpts: WatchableStoreOptions = {}, { coalesce = true } = {}) {
  const { kv, ws } = setup(storeOpts);
  const stream = ws.newStream(coalesce ? { coalesce } : {});
  const replies = record(stream);
  stream.watch({ key: bytes('a') });
  await settle();
  stream.pause();
  return { kv, stream, replies };
}

const shape = (replies: WatchReply[]) =>
  replies.map((r) => ({
    id: r.watchId,
    rev: r.revision,
    events: summary(r.events),
    ...(r.created ? { created: true } : {}),
  }));

describe('a coalescing watch stream', () => {
  it("while paused, joins each watcher's events into its waiting reply, headed by the newest revision", async () => {
    const { kv, ws } = setup();
    const stream = ws.newStream({ coalesce: true });
    const replies = record(stream);
    stream.watch({ key: bytes('a') });
    stream.watch({ key: bytes('b') });
    await settle();
    stream.pause();
    kv.put('a', '1');
    kv.put('b', '1');
    kv.put('a', '2');
    kv.put('a', '3');
    await settle();
    stream.resume();
    await settle();
    expect(shape(replies).slice(2)).toEqual([
      { id: 0, rev: 5, events: ['PUT a@2', 'PUT a@4', 'PUT a@5'] },
      { id: 1, rev: 3, events: ['PUT b@3'] },
    ]);
    // Flowing again: one reply per revision.
    kv.put('a', '4');
    await settle();
    expect(shape(replies).slice(4)).toEqual([{ id: 0, rev: 6, events: ['PUT a@6'] }]);
  });

  it('lets no events join a reply queued before a progress or created reply', async () => {
    const { kv, stream, replies } = await pausedOnA();
    kv.put('a', '1');
    stream.requestProgress();
    kv.put('a', '2');
    stream.watch({ key: bytes('c') });
    kv.put('a', '3');
    kv.put('a', '4');
    stream.resume();
    await settle();
    expect(shape(replies).slice(1)).toEqual([
      { id: 0, rev: 2, events: ['PUT a@2'] },
      { id: -1, rev: 2, events: [] },
      { id: 0, rev: 3, events: ['PUT a@3'] },
      { id: 1, rev: 3, events: [], created: true },
      { id: 0, rev: 5, events: ['PUT a@4', 'PUT a@5'] },
    ]);
  });

  it('starts a new reply once the waiting one holds max-response-bytes', async () => {
    const { kv, stream, replies } = await pausedOnA({ maxResponseBytes: 250 });
    for (let i = 0; i < 4; i++) kv.put('a', 'x'.repeat(60));
    stream.resume();
    await settle();
    expect(
      shape(replies)
        .slice(1)
        .map((r) => r.events.length),
    ).toEqual([2, 2]);
  });

  it('without coalesce (the default), sends one reply per revision however slow the consumer', async () => {
    const { kv, stream, replies } = await pausedOnA({}, { coalesce: false });
    kv.put('a', '1');
    kv.put('a', '2');
    stream.resume();
    await settle();
    expect(shape(replies).slice(1)).toEqual([
      { id: 0, rev: 2, events: ['PUT a@2'] },
      { id: 0, rev: 3, events: ['PUT a@3'] },
    ]);
  });
});
