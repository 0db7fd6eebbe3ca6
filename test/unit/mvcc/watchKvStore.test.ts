import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { KvStore } from '../../../src/mvcc/kvStore.js';
import {
  WatchableStore,
  prevKvFromStore,
  type WatchableStoreOptions,
} from '../../../src/mvcc/watchableStore.js';
import type { WatchReply } from '../../../src/mvcc/watcher.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { bytes, settle, str, summary } from './watchFakeStore.js';

/** The watchable store over the real KvStore on classic-level. */

const logger = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function openStore(
  dir?: TempDir,
  opts: { batch?: number } = {},
): Promise<{ kv: KvStore; dir: TempDir }> {
  const d = dir ?? (await makeTempDir('xetcd-watchkv-'));
  if (dir === undefined) cleanup.push(() => d.remove());
  const kv = await KvStore.open(d.path, {
    logger,
    compactionBatchLimit: opts.batch ?? 1000,
    compactionBatchIntervalMs: 0,
  });
  return { kv, dir: d };
}

function watchable(kv: KvStore, opts: WatchableStoreOptions = {}): WatchableStore {
  const ws = new WatchableStore(kv, opts, prevKvFromStore(kv));
  cleanup.push(async () => ws.close());
  return ws;
}

function record(ws: WatchableStore, opts: Parameters<WatchableStore['watch']>[0]): WatchReply[] {
  const out: WatchReply[] = [];
  ws.watch(opts)!.events$.subscribe((r) => out.push(r));
  return out;
}

const put = (kv: KvStore, k: string, v: string) => kv.put(bytes(k), bytes(v));
const events = (rs: WatchReply[]) => rs.flatMap((r) => summary(r.events));

describe('watching a KvStore', () => {
  it('scenario 43: the delete at the compaction revision survives multi-batch compaction and a restart mid-way', async () => {
    const first = await openStore(undefined, { batch: 2 });
    for (let i = 0; i < 8; i++) await put(first.kv, `x${i % 3}`, `${i}`);
    expect((await put(first.kv, 'k', 'v')).revision).toBe(10);
    await first.kv.deleteRange(bytes('k'));
    for (let i = 0; i < 20; i++) await put(first.kv, `y${i}`, 'later');
    const { physicalDone } = await first.kv.compact(11);
    await first.kv.commit({ consistentIndex: 1, sync: true });
    // Stop the physical pass part-way (close interrupts it); reopening resumes it.
    await first.kv.close();
    await physicalDone.catch(() => undefined);
    const { kv } = await openStore(first.dir, { batch: 2 });
    cleanup.push(() => kv.close());
    expect(kv.compactRevision).toBe(11);
    const ws = watchable(kv, { recentEvents: 0 });
    const fromBoundary = record(ws, { key: bytes('k'), startRevision: 11 });
    const below = record(ws, { key: bytes('k'), startRevision: 10 });
    await vi.waitFor(() => expect(events(fromBoundary)).toEqual(['DEL k@11']));
    await vi.waitFor(() => expect(below.at(-1)).toMatchObject({ canceled: true, compactRevision: 11 }));
    expect(below.filter((r) => r.events.length > 0)).toEqual([]);
  });

  it('catches up from disk (committed and pending records) while writes go on, then stays live', async () => {
    const { kv } = await openStore();
    cleanup.push(() => kv.close());
    for (let i = 0; i < 300; i++) {
      await put(kv, `k${i % 17}`, `v${i}`);
      if (i % 50 === 0) await kv.commit({ consistentIndex: i + 1 });
    }
    const ws = watchable(kv, { recentEvents: 0, catchUpRevisions: 25 });
    const replies = record(ws, { key: bytes('k'), rangeEnd: bytes('l'), startRevision: 2, prevKv: true });
    for (let i = 0; i < 100; i++) await put(kv, `k${i % 17}`, `w${i}`);
    await vi.waitFor(() => expect(events(replies)).toHaveLength(400));
    await put(kv, 'k1', 'last');
    await vi.waitFor(() => expect(events(replies)).toHaveLength(401));
    const revs = replies.flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    expect(revs).toEqual(Array.from({ length: 401 }, (_, i) => i + 2));
    // prev_kv from the store: the previous value of the same key, none for the first puts.
    const last = new Map<string, { rev: number; value: string }>();
    for (const e of replies.flatMap((r) => r.events)) {
      const k = str(e.kv!.key);
      const prev = last.get(k);
      if (prev === undefined) expect(e.prevKv).toBeUndefined();
      else expect([e.prevKv!.modRevision, str(e.prevKv!.value)]).toEqual([prev.rev, prev.value]);
      last.set(k, { rev: e.kv!.modRevision, value: str(e.kv!.value) });
    }
  });

  it('a watcher catching up from disk that compaction passes is canceled after a gap-free prefix', async () => {
    const { kv } = await openStore();
    cleanup.push(() => kv.close());
    for (let i = 0; i < 50; i++) await put(kv, 'k', `${i}`);
    const ws = watchable(kv, { recentEvents: 0, catchUpRevisions: 5 });
    const stream = ws.newStream();
    const replies: WatchReply[] = [];
    stream.replies$.subscribe((r) => replies.push(r));
    stream.watch({ key: bytes('k'), startRevision: 2 });
    await settle(1);
    await kv.compact(30);
    await vi.waitFor(() => expect(replies.at(-1)).toMatchObject({ canceled: true, compactRevision: 30 }));
    const got = replies.flatMap((r) => r.events.map((e) => e.kv!.modRevision));
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 2));
  });

  it('looks prev_kv up in the KvStore by default when nothing in memory has it', async () => {
    const { kv } = await openStore();
    cleanup.push(() => kv.close());
    await put(kv, 'k', 'old');
    const ws = new WatchableStore(kv, { recentKeys: 0, recentEvents: 0 });
    cleanup.push(async () => ws.close());
    const replies: WatchReply[] = [];
    ws.watch({ key: bytes('k'), prevKv: true })!.events$.subscribe((r) => replies.push(r));
    await put(kv, 'k', 'new');
    await kv.deleteRange(bytes('k'));
    await vi.waitFor(() => expect(replies.flatMap((r) => r.events)).toHaveLength(2));
    const prevs = replies.flatMap((r) => r.events.map((e) => str(e.prevKv!.value)));
    expect(prevs).toEqual(['old', 'new']);
  });
});
