import { afterEach, describe, expect, it, vi } from 'vitest';
import { WatchableStore, type WatchableStoreOptions } from '../../../src/mvcc/watchableStore.js';
import type { WatchReply } from '../../../src/mvcc/watcher.js';
import { ERR_DUPLICATE_WATCH_ID, ERR_EMPTY_WATCHER_RANGE } from '../../../src/mvcc/watcherStream.js';
import { Event_EventType } from '../../../src/proto/mvccpb.js';
import { FakeKvStore, bytes, installSnapshot, settle, str, summary } from './watchFakeStore.js';

const open: WatchableStore[] = [];
afterEach(() => {
  for (const ws of open.splice(0)) ws.close();
  vi.useRealTimers();
});

function setup(opts: WatchableStoreOptions = {}, lookup = false): { kv: FakeKvStore; ws: WatchableStore } {
  const kv = new FakeKvStore();
  const ws = new WatchableStore(kv, opts, lookup ? (k, r) => kv.kvAt(k, r) : undefined);
  open.push(ws);
  return { kv, ws };
}

function record<T>(source: { subscribe(fn: (v: T) => void): unknown }): T[] {
  const out: T[] = [];
  source.subscribe((v) => out.push(v));
  return out;
}

const eventsOf = (replies: WatchReply[]) => replies.flatMap((r) => summary(r.events));
const isProgress = (r: WatchReply) => r.events.length === 0 && !r.created && !r.canceled;

describe('watch from now and from history', () => {
  it('start revision 0 delivers only changes after the current revision; created carries it', async () => {
    const { kv, ws } = setup();
    kv.put('a', '1');
    kv.put('a', '2');
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    const w = stream.watch({ key: bytes('a') })!;
    kv.put('a', '3');
    await settle();
    expect(replies[0]).toEqual({ watchId: 0, revision: 3, events: [], created: true });
    expect(w.startRevision).toBe(4);
    expect(eventsOf(replies)).toEqual(['PUT a@4']);
  });

  it('scenario 38: a prefix watch from rev 5 gets exactly the matching changes >= 5, txn ops in order', async () => {
    const { kv, ws } = setup();
    for (let i = 2; i <= 20; i++) {
      if (i === 12)
        kv.txn([
          { put: 'p/z', value: 'x' },
          { put: 'q', value: 'y' },
          { put: 'p/a', value: 'x' },
        ]);
      else if (i === 15) kv.del('p/3');
      else kv.put(i % 2 === 0 ? `p/${i % 5}` : `other${i}`, `v${i}`);
    }
    expect(kv.currentRevision).toBe(20);
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('p/'), rangeEnd: bytes('p0'), startRevision: 5 });
    await settle();
    expect(replies[0]!.created).toBe(true);
    const want = kv.history
      .filter((rc) => rc.revision >= 5)
      .flatMap((rc) => summary(rc.events.filter((ev) => str(ev.kv!.key).startsWith('p/'))));
    expect(eventsOf(replies)).toEqual(want);
    expect(want).toContain('PUT p/z@12');
    expect(want.indexOf('PUT p/z@12')).toBeLessThan(want.indexOf('PUT p/a@12'));
  });

  it('whole key space ([0x00, 0x00)) and open-ended ranges', async () => {
    const { kv, ws } = setup();
    const stream = ws.newStream();
    const all = record(stream.watch({ key: new Uint8Array(0), rangeEnd: new Uint8Array([0]) })!.events$);
    const fromB = record(stream.watch({ key: bytes('b'), rangeEnd: new Uint8Array([0]) })!.events$);
    kv.put('a', '1');
    kv.put('b', '1');
    kv.put('\xff\xff', '1');
    await settle();
    expect(eventsOf(all)).toEqual(['PUT a@2', 'PUT b@3', 'PUT \xff\xff@4']);
    expect(eventsOf(fromB)).toEqual(['PUT b@3', 'PUT \xff\xff@4']);
  });
});

describe('guarantees', () => {
  it('scenario 39: all events of one revision arrive in one response', async () => {
    const { kv, ws } = setup();
    const w = ws.watch({ key: bytes('k'), rangeEnd: bytes('l') })!;
    const replies = record(w.events$);
    kv.txn([
      { put: 'k1', value: 'a' },
      { put: 'k2', value: 'b' },
      { put: 'k3', value: 'c' },
    ]);
    await settle();
    expect(replies).toHaveLength(1);
    expect(summary(replies[0]!.events)).toEqual(['PUT k1@2', 'PUT k2@2', 'PUT k3@2']);
    expect(replies[0]!.revision).toBe(2);
  });

  it('scenario 40: cancel after rev X, re-watch from X+1: nothing missing, nothing repeated', async () => {
    const { kv, ws } = setup();
    const w1 = ws.watch({ key: bytes('k'), startRevision: 1 })!;
    const first = record(w1.events$);
    for (let i = 0; i < 5; i++) kv.put('k', `v${i}`);
    await settle();
    w1.cancel();
    for (let i = 5; i < 10; i++) kv.put('k', `v${i}`);
    await settle();
    const got1 = eventsOf(first);
    expect(first.at(-1)!.canceled).toBe(true);
    const x = first
      .filter((r) => r.events.length > 0)
      .at(-1)!
      .events.at(-1)!.kv!.modRevision;
    const w2 = ws.watch({ key: bytes('k'), startRevision: x + 1 })!;
    const second = record(w2.events$);
    kv.put('k', 'last');
    await settle();
    const all = [...got1, ...eventsOf(second)];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(kv.history.flatMap((rc) => summary(rc.events)));
  });

  it('scenario 41: a start revision below the compaction is canceled with compact_revision; at it, accepted', async () => {
    const { kv, ws } = setup();
    for (let i = 0; i < 60; i++) kv.put(`k${i % 7}`, `v${i}`);
    kv.compact(50);
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('k'), rangeEnd: bytes('l'), startRevision: 40 });
    const ok = stream.watch({ key: bytes('k'), rangeEnd: bytes('l'), startRevision: 50 })!;
    await settle();
    expect(replies[0]).toMatchObject({ watchId: 0, created: true });
    expect(replies[1]).toMatchObject({ watchId: 1, created: true });
    const canceled = replies.find((r) => r.watchId === 0 && r.canceled)!;
    expect(canceled).toEqual({ watchId: 0, revision: 0, events: [], canceled: true, compactRevision: 50 });
    expect(replies.filter((r) => r.watchId === 0)).toHaveLength(2);
    expect(ok.state).toBe('synced');
    expect(eventsOf(replies.filter((r) => r.watchId === 1))[0]).toBe('PUT k6@50');
  });

  it('scenario 42: a stalled watcher overtaken by compaction is canceled, never silently skipped', async () => {
    const { kv, ws } = setup({ streamBufferSize: 4, recentEvents: 16 });
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('k') });
    await settle();
    stream.pause();
    for (let i = 0; i < 30; i++) kv.put('k', `v${i}`);
    await settle();
    expect(ws.unsyncedCount).toBe(1);
    kv.compact(25);
    stream.resume();
    await settle();
    const got = replies
      .filter((r) => r.events.length > 0)
      .flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    // Contiguous from the first revision up to where it stopped, then a compaction cancel.
    expect(got).toEqual(got.map((_, i) => i + 2));
    const last = replies.at(-1)!;
    expect(last).toMatchObject({ canceled: true, compactRevision: 25 });
    expect(got.at(-1)! + 1).toBeLessThan(25);
  });

  it('a negative start revision is created, then canceled as compacted (etcd: compact_revision -1 before any compaction)', async () => {
    const { kv, ws } = setup();
    kv.put('k', 'v');
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('k'), startRevision: -5 });
    await settle();
    expect(replies).toEqual([
      { watchId: 0, revision: 2, events: [], created: true },
      { watchId: 0, revision: 0, events: [], canceled: true, compactRevision: -1 },
    ]);
    kv.compact(2);
    stream.watch({ key: bytes('k'), startRevision: -1 });
    await settle();
    expect(replies.at(-1)).toEqual({
      watchId: 1,
      revision: 0,
      events: [],
      canceled: true,
      compactRevision: 2,
    });
  });

  it('scenario 43: a delete at the compaction revision is delivered to a watch from it', async () => {
    const { kv, ws } = setup();
    for (let i = 2; i < 10; i++) kv.put('x', `${i}`);
    expect(kv.put('k', 'v')).toBe(10);
    expect(kv.del('k')).toBe(11);
    kv.compact(11);
    const w = ws.watch({ key: bytes('k'), startRevision: 11 })!;
    const replies = record(w.events$);
    await settle();
    expect(eventsOf(replies)).toEqual(['DEL k@11']);
  });

  it('scenario 45: a watch on a future revision waits for it and gets no earlier progress', async () => {
    const { kv, ws } = setup();
    for (let i = 0; i < 9; i++) kv.put('k', `${i}`);
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('k'), startRevision: 15 });
    stream.requestProgress();
    for (let i = 0; i < 10; i++) {
      kv.put('k', `later${i}`);
      await settle(2);
    }
    const progress = replies.filter(isProgress);
    expect(progress.length).toBe(1);
    expect(progress[0]!.revision).toBeGreaterThanOrEqual(14);
    expect(eventsOf(replies)[0]).toBe('PUT k@15');
    expect(replies.flatMap((r) => r.events).every((e) => e.kv!.modRevision >= 15)).toBe(true);
  });

  it('scenario 48: revision 0 never replays history', async () => {
    const { kv, ws } = setup();
    for (let i = 0; i < 5; i++) kv.put('k', `${i}`);
    const w = ws.watch({ key: bytes('k'), startRevision: 0 })!;
    const replies = record(w.events$);
    await settle();
    expect(replies).toEqual([]);
    kv.put('k', 'now');
    await settle();
    expect(eventsOf(replies)).toEqual(['PUT k@7']);
  });
});

describe('scenario 46: no time travel when the store jumps (snapshot install)', () => {
  it('synced watchers catch up across the jump from the store, in order, without repeats', async () => {
    const { kv, ws } = setup();
    const w = ws.watch({ key: bytes('snap'), rangeEnd: bytes('snaq') })!;
    const replies = record(w.events$);
    kv.put('snap0', 'before');
    await settle();
    installSnapshot(kv, 10);
    kv.put('snap1', 'after'); // the first announced revision after the jump reveals the gap
    await settle(20);
    const revs = replies.flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    expect(revs).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    expect(w.state).toBe('synced');
  });

  it('a watcher whose next revision the snapshot compacted is canceled; a future start is kept', async () => {
    const { kv, ws } = setup();
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    const behind = stream.watch({ key: bytes('snap0') })!;
    const future = stream.watch({ key: bytes('snap2'), startRevision: 40 })!;
    kv.put('snap0', 'x');
    await settle();
    installSnapshot(kv, 20, 15);
    ws.resync();
    await settle(20);
    expect(replies.filter((r) => r.watchId === behind.id).at(-1)).toMatchObject({
      canceled: true,
      compactRevision: 15,
    });
    expect(future.minRev).toBe(40);
    for (let i = 0; i < 30; i++) kv.put('snap2', `later${i}`);
    await settle();
    const got = replies
      .filter((r) => r.watchId === future.id)
      .flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    expect(got[0]).toBe(40);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 40));
  });
});

describe('progress notifications (scenario 44)', () => {
  it('a requested progress on a quiet key reports a revision >= every delivered event, and in order', async () => {
    const { kv, ws } = setup();
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('quiet') });
    stream.watch({ key: bytes('busy') });
    kv.put('busy', '1');
    kv.put('busy', '2');
    stream.requestProgress();
    kv.put('busy', '3');
    await settle();
    const p = replies.findIndex(isProgress);
    expect(replies[p]).toEqual({ watchId: -1, revision: 3, events: [] });
    const before = replies.slice(0, p).flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    const after = replies.slice(p + 1).flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    expect(Math.max(...before)).toBeLessThanOrEqual(3);
    expect(Math.min(...after)).toBeGreaterThan(3);
  });

  it('a watcher still catching up holds the stream-wide progress back until its events are out', async () => {
    const { kv, ws } = setup({ recentEvents: 0 });
    for (let i = 0; i < 50; i++) kv.put('k', `${i}`);
    kv.readDelayMs = 5;
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('k'), startRevision: 2 });
    stream.requestProgress();
    await vi.waitFor(() => expect(replies.some(isProgress)).toBe(true));
    const p = replies.findIndex(isProgress);
    const before = replies.slice(0, p).flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    expect(before).toHaveLength(50);
    expect(replies[p]!.revision).toBe(51);
  });

  it('progress_notify: periodic replies only to synced, idle watchers, never below their last event', async () => {
    const { kv, ws } = setup({ progressIntervalMs: 20 });
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    const quiet = stream.watch({ key: bytes('quiet'), progressNotify: true })!;
    const plain = stream.watch({ key: bytes('other') })!;
    kv.put('x', '1');
    await vi.waitFor(() => expect(replies.filter(isProgress).length).toBeGreaterThanOrEqual(2));
    const progress = replies.filter(isProgress);
    expect(progress.every((r) => r.watchId === quiet.id && r.revision === 2)).toBe(true);
    expect(replies.some((r) => r.watchId === plain.id && isProgress(r))).toBe(false);
    stream.close();
  });
});

describe('prev_kv and filters (scenario 47)', () => {
  const variants = [
    { name: 'store fills prevKv', fill: true, opts: {}, lookup: false },
    { name: 'remembered from recent changes', fill: false, opts: {}, lookup: false },
    { name: 'looked up in the store', fill: false, opts: { recentEvents: 0, recentKeys: 0 }, lookup: true },
  ];
  for (const v of variants) {
    it(`prev_kv is the pair at rev-1, creations have none (${v.name})`, async () => {
      const { kv, ws } = setup(v.opts, v.lookup);
      kv.fillPrevKv = v.fill;
      kv.put('k', 'a');
      const live = ws.watch({ key: bytes('k'), prevKv: true })!;
      const liveReplies = record(live.events$);
      kv.put('k', 'b');
      kv.del('k');
      kv.put('k', 'c');
      kv.txn([
        { put: 'k', value: 'd' },
        { put: 'z', value: '1' },
      ]);
      const hist = ws.watch({ key: bytes('k'), prevKv: true, startRevision: 1 })!;
      const histReplies = record(hist.events$);
      const plain = ws.watch({ key: bytes('k'), startRevision: 1 })!;
      const plainReplies = record(plain.events$);
      await settle(20);
      const shape = (rs: WatchReply[]) =>
        rs.flatMap((r) =>
          r.events.map((e) => `${summary([e])[0]} prev=${e.prevKv ? str(e.prevKv.value) : '-'}`),
        );
      expect(shape(liveReplies)).toEqual([
        'PUT k@3 prev=a',
        'DEL k@4 prev=b',
        'PUT k@5 prev=-',
        'PUT k@6 prev=c',
      ]);
      expect(shape(histReplies)).toEqual(['PUT k@2 prev=-', ...shape(liveReplies)]);
      expect(plainReplies.flatMap((r) => r.events).every((e) => e.prevKv === undefined)).toBe(true);
      for (const e of liveReplies.flatMap((r) => r.events)) {
        expect(e.type === Event_EventType.PUT && e.kv!.version === 1).toBe(e.prevKv === undefined);
      }
    });
  }

  it('NOPUT yields only deletes, NODELETE only puts, all inside the range; an empty result sends nothing', async () => {
    const { kv, ws } = setup();
    const stream = ws.newStream();
    const noPut = record(
      stream.watch({ key: bytes('a'), rangeEnd: bytes('c'), filters: { noPut: true } })!.events$,
    );
    const noDel = record(
      stream.watch({ key: bytes('a'), rangeEnd: bytes('c'), filters: { noDelete: true } })!.events$,
    );
    kv.put('a1', '1');
    kv.put('b1', '1');
    kv.put('c1', '1');
    kv.del('a1');
    kv.txn([{ del: 'b1' }, { put: 'a2', value: '2' }]);
    await settle();
    expect(eventsOf(noPut)).toEqual(['DEL a1@5', 'DEL b1@6']);
    expect(eventsOf(noDel)).toEqual(['PUT a1@2', 'PUT b1@3', 'PUT a2@6']);
    expect(noPut.every((r) => r.events.length > 0)).toBe(true);
  });
});

describe('slow consumers and catch-up', () => {
  it('a paused consumer never blocks writers and loses nothing once resumed', async () => {
    const { kv, ws } = setup({ streamBufferSize: 8 });
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    stream.watch({ key: bytes('k'), rangeEnd: bytes('l') });
    stream.watch({ key: bytes('k5') });
    await settle();
    stream.pause();
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) kv.put(`k${i % 10}`, `v${i}`);
    expect(performance.now() - t0).toBeLessThan(2000);
    await settle();
    expect(stream.buffered).toBeLessThanOrEqual(8);
    expect(ws.unsyncedCount).toBe(2);
    expect(ws.slowEvents).toBeGreaterThan(0);
    stream.resume();
    await settle(50);
    kv.put('k5', 'end');
    await settle();
    const byWatcher = (id: number) =>
      replies.filter((r) => r.watchId === id).flatMap((r) => summary(r.events));
    const want = (pred: (k: string) => boolean) =>
      kv.history.flatMap((rc) => summary(rc.events.filter((e) => pred(str(e.kv!.key)))));
    expect(byWatcher(0)).toEqual(want((k) => k >= 'k' && k < 'l'));
    expect(byWatcher(1)).toEqual(want((k) => k === 'k5'));
    expect(ws.syncedCount).toBe(2);
  });

  it('catches up from disk in bounded chunks while writes continue, and joins exactly once', async () => {
    const { kv, ws } = setup({ recentEvents: 20, catchUpRevisions: 50 });
    for (let i = 0; i < 400; i++) kv.put(`k${i % 13}`, `v${i}`);
    kv.readDelayMs = 2;
    const w = ws.watch({ key: bytes('k'), rangeEnd: bytes('l'), startRevision: 2 })!;
    const replies = record(w.events$);
    const writer = setInterval(() => kv.put(`k${kv.currentRevision % 13}`, 'live'), 1);
    await vi.waitFor(() => expect(w.state).toBe('synced'), { timeout: 5000 });
    clearInterval(writer);
    kv.put('k1', 'last');
    await settle();
    expect(kv.historyReads).toBeGreaterThanOrEqual(8);
    const got = eventsOf(replies);
    expect(got).toEqual(kv.history.flatMap((rc) => summary(rc.events)));
    for (const r of replies) {
      const revs = new Set(r.events.map((e) => e.kv!.modRevision));
      expect(revs.size).toBeLessThanOrEqual(50);
      expect(r.revision).toBeGreaterThanOrEqual(Math.max(...revs));
    }
  });

  it('a history read that fails is retried', async () => {
    const { kv, ws } = setup({ recentEvents: 0, retryMs: 5 });
    for (let i = 0; i < 10; i++) kv.put('k', `${i}`);
    const real = kv.eventsBetween.bind(kv);
    let failures = 2;
    kv.eventsBetween = async (...args) => {
      if (failures-- > 0) throw new Error('disk hiccup');
      return real(...args);
    };
    const w = ws.watch({ key: bytes('k'), startRevision: 2 })!;
    const replies = record(w.events$);
    await vi.waitFor(() => expect(eventsOf(replies)).toHaveLength(10));
  });
});

describe('fragments', () => {
  const big = (n: number) => new Uint8Array(n).fill(7);

  it('splits a response over the limit only for watchers that asked, each piece under it', async () => {
    const { kv, ws } = setup({ maxResponseBytes: 10_000 });
    const stream = ws.newStream();
    const frag = record(stream.watch({ key: bytes('k'), rangeEnd: bytes('l'), fragment: true })!.events$);
    const whole = record(stream.watch({ key: bytes('k'), rangeEnd: bytes('l') })!.events$);
    kv.txn(Array.from({ length: 10 }, (_, i) => ({ put: `k${i}`, value: big(3000) })));
    kv.txn([
      { put: 'k0', value: big(20_000) },
      { put: 'k1', value: 'small' },
    ]);
    await settle();
    expect(whole).toHaveLength(2);
    const firstRev = frag.filter((r) => r.revision === 2);
    expect(firstRev.length).toBeGreaterThan(2);
    expect(firstRev.slice(0, -1).every((r) => r.fragment === true)).toBe(true);
    expect(firstRev.at(-1)!.fragment).toBeUndefined();
    expect(firstRev.flatMap((r) => summary(r.events))).toEqual(summary(whole[0]!.events));
    for (const r of firstRev) expect(r.events.length * 3000).toBeLessThan(10_000);
    // A single event bigger than the limit still travels, alone.
    const second = frag.filter((r) => r.revision === 3);
    expect(second.map((r) => r.events.length)).toEqual([1, 1]);
    expect(second.map((r) => r.fragment)).toEqual([true, undefined]);
  });
});

describe('stream protocol', () => {
  it('assigns IDs from 0, rejects duplicates and empty ranges, answers cancels, then stays silent', async () => {
    const { kv, ws } = setup();
    const stream = ws.newStream();
    const replies = record(stream.replies$);
    const a = stream.watch({ key: bytes('a') })!;
    const b = stream.watch({ key: bytes('a'), watchId: 7 })!;
    expect(stream.watch({ key: bytes('a'), watchId: 7 })).toBeNull();
    expect(stream.watch({ key: bytes('b'), rangeEnd: bytes('a') })).toBeNull();
    const c = stream.watch({ key: bytes('a') })!;
    expect([a.id, b.id, c.id]).toEqual([0, 7, 1]);
    await settle();
    expect(replies.slice(2, 4)).toEqual([
      {
        watchId: -1,
        revision: 1,
        events: [],
        created: true,
        canceled: true,
        cancelReason: ERR_DUPLICATE_WATCH_ID,
      },
      {
        watchId: -1,
        revision: 1,
        events: [],
        created: true,
        canceled: true,
        cancelReason: ERR_EMPTY_WATCHER_RANGE,
      },
    ]);
    expect(stream.cancel(99)).toBe(false);
    a.cancel();
    kv.put('a', '1');
    await settle();
    const forA = replies.filter((r) => r.watchId === 0);
    expect(forA).toEqual([
      { watchId: 0, revision: 1, events: [], created: true },
      { watchId: 0, revision: 1, events: [], canceled: true },
    ]);
    expect(replies.filter((r) => r.watchId === 7 && r.events.length === 1)).toHaveLength(1);
    stream.close();
    expect(ws.syncedCount).toBe(0);
  });

  it('a one-watcher stream closes itself after the cancel reply; close() ends every stream', async () => {
    const { kv, ws } = setup();
    const w = ws.watch({ key: bytes('a') })!;
    let done = false;
    w.stream.replies$.subscribe({ complete: () => (done = true) });
    w.cancel();
    await settle();
    expect(done).toBe(true);
    const s = ws.newStream();
    let ended = false;
    s.replies$.subscribe({ complete: () => (ended = true) });
    ws.close();
    expect(ended).toBe(true);
    kv.put('a', '1');
  });
});
