/**
 * Watch fan-out: 1,000 watchers on a real KvStore (classic-level), writes of
 * 256-byte values, and the events per second delivered to the watchers'
 * streams (counted where a gRPC layer would write them), from the first write
 * until the last event is out. Three shapes:
 *
 *   same key   1,000 watchers on one key (100 streams x 10); one put per revision
 *   prefix     1,000 watchers on one prefix; txns of 10 puts under it
 *   own keys   1,000 watchers on 1,000 keys; txns of 100 puts over those keys
 *   history    1,000 watchers created after 2,000 revisions of one key, from revision 2,
 *              nothing in memory: the catch-up replay from disk (chunks of 1,000 revisions)
 *
 * Part of `npm run bench:mvcc`; runs alone with `npx tsx bench/mvccWatch.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { KvStore } from '../src/mvcc/kvStore.js';
import { WatchableStore, prevKvFromStore } from '../src/mvcc/watchableStore.js';
import type { WatcherStream } from '../src/mvcc/watcherStream.js';

export interface WatchFanOutResult {
  shape: string;
  watchers: number;
  revisions: number;
  eventsDelivered: number;
  seconds: number;
  eventsPerSecond: number;
  /** Same writes with no watcher at all: what the fan-out adds to the write path (live shapes only). */
  writeOnlySeconds?: number;
}

interface Shape {
  name: string;
  revisions: number;
  /** The watch ranges: [key, rangeEnd?] per watcher. */
  watch(i: number): { key: string; rangeEnd?: string };
  /** Keys written in revision r. */
  keys(r: number): string[];
}

const WATCHERS = 1000;
const PER_STREAM = 10;
const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');

const shapes: Shape[] = [
  { name: 'same key', revisions: 2000, watch: () => ({ key: 'hot' }), keys: () => ['hot'] },
  {
    name: 'prefix',
    revisions: 500,
    watch: () => ({ key: 'p/', rangeEnd: 'p0' }),
    keys: (r) => Array.from({ length: 10 }, (_, i) => `p/${(r * 10 + i) % 5000}`),
  },
  {
    name: 'own keys',
    revisions: 1000,
    watch: (i) => ({ key: `k/${String(i).padStart(4, '0')}` }),
    keys: (r) =>
      Array.from({ length: 100 }, (_, i) => `k/${String((r * 37 + i * 13) % WATCHERS).padStart(4, '0')}`),
  },
];

async function runShape(
  shape: Shape,
  withWatchers: boolean,
): Promise<{ seconds: number; delivered: number; expected: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'xetcd-bench-watch-'));
  const kv = await KvStore.open(dir, { logger: pino({ level: 'silent' }) });
  const ws = new WatchableStore(kv, {}, prevKvFromStore(kv));
  const value = new Uint8Array(256).fill(120);
  let delivered = 0;
  let expected = 0;
  const streams: WatcherStream[] = [];
  const ranges = Array.from({ length: WATCHERS }, (_, i) => shape.watch(i));
  if (withWatchers) {
    for (let i = 0; i < WATCHERS; i++) {
      if (i % PER_STREAM === 0) {
        const s = ws.newStream();
        s.replies$.subscribe((r) => (delivered += r.events.length));
        streams.push(s);
      }
      const r = ranges[i]!;
      streams
        .at(-1)!
        .watch({ key: enc(r.key), rangeEnd: r.rangeEnd === undefined ? undefined : enc(r.rangeEnd) });
    }
  }
  // What the watchers should receive, counted from the shapes themselves.
  for (let rev = 0; rev < shape.revisions; rev++) {
    for (const k of new Set(shape.keys(rev))) {
      for (const r of ranges)
        if (r.rangeEnd === undefined ? r.key === k : k >= r.key && k < r.rangeEnd) expected++;
    }
  }
  if (!withWatchers) expected = 0;
  const t0 = performance.now();
  for (let rev = 0; rev < shape.revisions; rev++) {
    const keys = [...new Set(shape.keys(rev))];
    await kv.write(async (txn) => {
      for (const k of keys) await txn.put(enc(k), value);
    });
    if (rev % 100 === 99) await kv.commit({ consistentIndex: rev + 1 });
  }
  while (delivered < expected) await new Promise((r) => setImmediate(r));
  const seconds = (performance.now() - t0) / 1000;
  ws.close();
  await kv.close();
  await rm(dir, { recursive: true, force: true });
  return { seconds, delivered, expected };
}

/** 1,000 watchers replaying history from disk: written first, watched afterwards. */
async function runHistory(revisions: number): Promise<WatchFanOutResult> {
  const dir = await mkdtemp(join(tmpdir(), 'xetcd-bench-watch-'));
  const kv = await KvStore.open(dir, { logger: pino({ level: 'silent' }) });
  const ws = new WatchableStore(kv, { recentEvents: 0 });
  const value = new Uint8Array(256).fill(120);
  for (let rev = 0; rev < revisions; rev++) {
    await kv.put(enc('hist'), value);
    if (rev % 100 === 99) await kv.commit({ consistentIndex: rev + 1 });
  }
  await kv.commit({ consistentIndex: revisions + 1 });
  let delivered = 0;
  const expected = WATCHERS * revisions;
  const t0 = performance.now();
  let stream: WatcherStream | undefined;
  for (let i = 0; i < WATCHERS; i++) {
    if (i % PER_STREAM === 0) {
      stream = ws.newStream();
      stream.replies$.subscribe((r) => (delivered += r.events.length));
    }
    stream!.watch({ key: enc('hist'), startRevision: 2 });
  }
  while (delivered < expected) await new Promise((r) => setTimeout(r, 1));
  const seconds = (performance.now() - t0) / 1000;
  ws.close();
  await kv.close();
  await rm(dir, { recursive: true, force: true });
  return {
    shape: 'history',
    watchers: WATCHERS,
    revisions,
    eventsDelivered: delivered,
    seconds,
    eventsPerSecond: Math.round(delivered / seconds),
  };
}

export async function benchWatchFanOut(): Promise<WatchFanOutResult[]> {
  const results: WatchFanOutResult[] = [];
  for (const shape of shapes) {
    const base = await runShape(shape, false);
    const run = await runShape(shape, true);
    if (run.delivered !== run.expected)
      throw new Error(`${shape.name}: delivered ${run.delivered}, expected ${run.expected}`);
    results.push({
      shape: shape.name,
      watchers: WATCHERS,
      revisions: shape.revisions,
      eventsDelivered: run.delivered,
      seconds: run.seconds,
      eventsPerSecond: Math.round(run.delivered / run.seconds),
      writeOnlySeconds: base.seconds,
    });
  }
  results.push(await runHistory(2000));
  return results;
}

export function printWatchFanOut(results: WatchFanOutResult[]): void {
  console.log('\nwatch fan-out (1,000 watchers, 256-byte values, events delivered to streams):');
  for (const r of results) {
    console.log(
      `  ${r.shape.padEnd(9)} ${r.eventsDelivered.toLocaleString('en-US').padStart(10)} events in ${r.seconds.toFixed(2)} s` +
        ` = ${r.eventsPerSecond.toLocaleString('en-US')} events/s` +
        (r.writeOnlySeconds === undefined
          ? ' (replayed from disk)'
          : ` (same writes, no watchers: ${r.writeOnlySeconds.toFixed(2)} s)`),
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printWatchFanOut(await benchWatchFanOut());
}
