import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { KvStore } from '../../../src/mvcc/kvStore.js';
import {
  WatchableStore,
  prevKvFromStore,
  type PrevKvLookup,
  type RevisionChanges,
  type WatchSource,
} from '../../../src/mvcc/watchableStore.js';
import type { Watcher, WatchReply } from '../../../src/mvcc/watcher.js';
import type { WatcherStream } from '../../../src/mvcc/watcherStream.js';
import { Event_EventType, type KeyValue } from '../../../src/proto/mvccpb.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { FakeKvStore, bytes, inRange, settle, str } from './watchFakeStore.js';

/**
 * Random histories and random watchers, checked against the store's full
 * history: every watcher that is still alive at the end got exactly the
 * matching events from its start revision on (with the right prev_kv), one
 * response per revision; a canceled one got a prefix of that; progress
 * replies never claim a revision whose events are still to come.
 */

type Op =
  | { t: 'put'; key: string; value: string }
  | { t: 'del'; key: string; end?: string }
  | { t: 'txn'; puts: string[]; dels: string[] }
  | { t: 'compact'; back: number }
  | {
      t: 'watch';
      stream: number;
      range: number;
      start: number;
      prevKv: boolean;
      filter: number;
      progress: boolean;
    }
  | { t: 'cancel'; pick: number }
  | { t: 'pause'; stream: number }
  | { t: 'resume'; stream: number }
  | { t: 'progress'; stream: number }
  | { t: 'settle' }
  | { t: 'sleep' };

const KEYS = ['a', 'a1', 'a2', 'b', 'b1', 'c', 'c9', 'd'];
const RANGES: { key: string; end?: string }[] = [
  { key: 'a' },
  { key: 'b1' },
  { key: 'a', end: 'b' },
  { key: 'b', end: 'c9' },
  { key: 'c', end: '\x00' },
  { key: '\x00', end: '\x00' },
];
const key = fc.constantFrom(...KEYS);
const stream = fc.integer({ min: 0, max: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('put' as const), key, value: fc.string({ maxLength: 3 }) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), key }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('del' as const), key: fc.constant('a'), end: fc.constant('b') }),
  },
  {
    weight: 2,
    arbitrary: fc
      .uniqueArray(key, { minLength: 1, maxLength: 4 })
      .chain((ks) =>
        fc
          .integer({ min: 0, max: ks.length })
          .map((n) => ({ t: 'txn' as const, puts: ks.slice(n), dels: ks.slice(0, n) })),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 15 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('watch' as const),
      stream,
      range: fc.integer({ min: 0, max: RANGES.length - 1 }),
      start: fc.integer({ min: -25, max: 6 }),
      prevKv: fc.boolean(),
      filter: fc.integer({ min: 0, max: 4 }),
      progress: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('pause' as const), stream }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('resume' as const), stream }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('progress' as const), stream }) },
  { weight: 2, arbitrary: fc.constant({ t: 'settle' as const }) },
  // Long enough for periodic progress (every 3 ms under tight limits) to fire.
  { weight: 1, arbitrary: fc.constant({ t: 'sleep' as const }) },
);

/** What a test needs from a store: writes, compaction, and what to hand the watchable store. */
interface Subject {
  source: WatchSource;
  lookup?: PrevKvLookup;
  put(key: string, value: string): Promise<void>;
  del(key: string, end?: string): Promise<void>;
  txn(puts: string[], dels: string[]): Promise<void>;
  compact(rev: number): Promise<void>;
  close(): Promise<void>;
}

interface Expected {
  rev: number;
  key: string;
  line: string;
  put: boolean;
}

interface Tracked {
  w: Watcher;
  stream: number;
  replies: WatchReply[];
  canceledByUser: boolean;
}

function line(type: Event_EventType, kv: KeyValue, prev: KeyValue | undefined, withPrev: boolean): string {
  const head =
    type === Event_EventType.PUT
      ? `PUT ${str(kv.key)}=${str(kv.value)} c${kv.createRevision} v${kv.version}`
      : `DEL ${str(kv.key)}`;
  const p = withPrev && prev !== undefined ? ` prev=${str(prev.value)}@${prev.modRevision}` : '';
  return `${head}@${kv.modRevision}${p}`;
}

async function runScenario(make: () => Promise<Subject>, ops: Op[], small: boolean): Promise<void> {
  const subject = await make();
  // The oracle: every revision as emitted, and the state before it for prev_kv.
  const history: RevisionChanges[] = [];
  const sub = subject.source.changes$.subscribe((rc) => history.push(rc));
  const ws = new WatchableStore(
    subject.source,
    small
      ? {
          progressIntervalMs: 3,
          recentEvents: 6,
          recentKeys: 3,
          catchUpRevisions: 4,
          maxWatchersPerSync: 2,
          streamBufferSize: 3,
        }
      : {},
    subject.lookup,
  );
  const streams: WatcherStream[] = [0, 1, 2].map(() => ws.newStream());
  const streamReplies: WatchReply[][] = streams.map((s) => {
    const out: WatchReply[] = [];
    s.replies$.subscribe((r) => out.push(r));
    return out;
  });
  const tracked: Tracked[] = [];
  try {
    for (const o of ops) {
      const current = subject.source.currentRevision;
      switch (o.t) {
        case 'put':
          await subject.put(o.key, o.value);
          break;
        case 'del':
          await subject.del(o.key, o.end);
          break;
        case 'txn':
          await subject.txn(o.puts, o.dels);
          break;
        case 'compact': {
          const rev = current - o.back;
          if (rev > subject.source.compactRevision && rev >= 1) await subject.compact(rev);
          break;
        }
        case 'watch': {
          const r = RANGES[o.range]!;
          const w = streams[o.stream]!.watch({
            key: bytes(r.key),
            rangeEnd: r.end === undefined ? undefined : bytes(r.end),
            startRevision: o.start === 0 ? 0 : Math.max(1, current + o.start),
            prevKv: o.prevKv,
            filters: { noPut: o.filter === 1, noDelete: o.filter === 2 },
            progressNotify: o.progress,
          })!;
          const replies: WatchReply[] = [];
          w.events$.subscribe((x) => replies.push(x));
          tracked.push({ w, stream: o.stream, replies, canceledByUser: false });
          break;
        }
        case 'cancel': {
          const live = tracked.filter((t) => t.w.state !== 'canceled');
          if (live.length > 0) {
            const t = live[o.pick % live.length]!;
            t.canceledByUser = true;
            t.w.cancel();
          }
          break;
        }
        case 'pause':
          streams[o.stream]!.pause();
          break;
        case 'resume':
          streams[o.stream]!.resume();
          break;
        case 'progress':
          streams[o.stream]!.requestProgress();
          break;
        case 'settle':
          await settle(3);
          break;
        case 'sleep':
          await new Promise((r) => setTimeout(r, 4));
          break;
      }
    }
    for (const s of streams) s.resume();
    // Disk reads run on libuv's pool: wait by the clock, not by event-loop turns.
    const deadline = Date.now() + 10_000;
    for (;;) {
      await settle(2);
      const lagging = tracked.filter((t) => t.w.state === 'unsynced');
      if (lagging.length === 0 && streams.every((s) => s.buffered === 0)) break;
      if (Date.now() > deadline) {
        const info = lagging.map((t) => `${t.w.id}@${t.stream} minRev ${t.w.minRev}`).join(', ');
        throw new Error(`watchers did not catch up: ${info} (store at ${subject.source.currentRevision})`);
      }
      await new Promise((r) => setTimeout(r, 2));
    }

    // Expected events per revision, with prev from the oracle state.
    const state = new Map<string, KeyValue>();
    const expectedAll: { rev: number; events: { ev: Expected; withPrev: string }[] }[] = [];
    for (const rc of history) {
      const evs = rc.events.map((ev) => {
        const k = str(ev.kv!.key);
        const prev = state.get(k);
        if (ev.type === Event_EventType.PUT) state.set(k, ev.kv!);
        else state.delete(k);
        return {
          ev: {
            rev: rc.revision,
            key: k,
            line: line(ev.type, ev.kv!, prev, false),
            put: ev.type === Event_EventType.PUT,
          },
          withPrev: line(ev.type, ev.kv!, prev, true),
        };
      });
      expectedAll.push({ rev: rc.revision, events: evs });
    }
    const compactRev = subject.source.compactRevision;

    for (const t of tracked) {
      const w = t.w;
      const expected: { rev: number; line: string }[] = [];
      for (const rc of expectedAll) {
        if (rc.rev < w.startRevision) continue;
        for (const e of rc.events) {
          if (!inRange(bytes(e.ev.key), w.key, w.rangeEnd)) continue;
          if ((e.ev.put && w.noPut) || (!e.ev.put && w.noDelete)) continue;
          expected.push({ rev: rc.rev, line: w.prevKv ? e.withPrev : e.ev.line });
        }
      }
      const eventReplies = t.replies.filter((r) => r.events.length > 0);
      const got = eventReplies.flatMap((r) =>
        r.events.map((ev) => ({ rev: ev.kv!.modRevision, line: line(ev.type, ev.kv!, ev.prevKv, w.prevKv) })),
      );
      const label = `watcher ${w.id} on stream ${t.stream} from ${w.startRevision}`;
      // prev_kv may be missing only where revision rev-1 is compacted.
      const comparable = (xs: { rev: number; line: string }[]) =>
        xs.map((x) => (x.rev - 1 < compactRev ? x.line.replace(/ prev=.*$/, '') : x.line));
      const last = t.replies.at(-1);
      const canceled = last?.canceled === true;
      if (canceled) {
        expect(comparable(got), label).toEqual(comparable(expected.slice(0, got.length)));
        if (!t.canceledByUser) expect(last!.compactRevision, label).toBeGreaterThan(0);
      } else {
        expect(w.state, label).toBe('synced');
        expect(comparable(got), label).toEqual(comparable(expected));
      }
      // Atomic: one response per revision; header revision covers its events.
      const revs = eventReplies.flatMap((r) => [...new Set(r.events.map((e) => e.kv!.modRevision))]);
      expect(new Set(revs).size, label).toBe(revs.length);
      for (const r of eventReplies) {
        expect(r.revision, label).toBeGreaterThanOrEqual(Math.max(...r.events.map((e) => e.kv!.modRevision)));
      }
    }

    // Bookmarks: on each stream, a progress reply P is >= everything before it and
    // below everything after it, for the watchers it speaks for.
    streamReplies.forEach((replies, si) => {
      replies.forEach((r, i) => {
        if (r.events.length > 0 || r.created || r.canceled) return;
        // A stream-wide reply speaks for the watchers created before it.
        const existing = new Set(
          replies
            .slice(0, i)
            .filter((x) => x.created && !x.canceled)
            .map((x) => x.watchId),
        );
        const about = (x: WatchReply) =>
          r.watchId === -1 ? existing.has(x.watchId) : x.watchId === r.watchId;
        for (const before of replies.slice(0, i).filter(about)) {
          for (const ev of before.events)
            expect(ev.kv!.modRevision, `stream ${si}`).toBeLessThanOrEqual(r.revision);
        }
        for (const after of replies.slice(i + 1).filter(about)) {
          for (const ev of after.events)
            expect(ev.kv!.modRevision, `stream ${si}`).toBeGreaterThan(r.revision);
        }
      });
    });
  } finally {
    ws.close();
    sub.unsubscribe();
    await subject.close();
  }
}

function fakeSubject(): Promise<Subject> {
  const kv = new FakeKvStore();
  kv.fillPrevKv = false;
  return Promise.resolve({
    source: kv,
    lookup: (k, r) => kv.kvAt(k, r),
    put: async (k, v) => void kv.put(k, v),
    del: async (k, end) => {
      if (end === undefined) kv.del(k);
      else kv.txn([...KEYS].filter((x) => x >= k && x < end).map((x) => ({ del: x })));
    },
    txn: async (puts, dels) =>
      void kv.txn([
        ...dels.map((d) => ({ del: d })),
        ...puts.map((p) => ({ put: p, value: `t${kv.currentRevision}` })),
      ]),
    compact: async (rev) => kv.compact(rev),
    close: async () => undefined,
  });
}

const dirs: TempDir[] = [];
afterAll(async () => {
  for (const d of dirs.splice(0)) await d.remove();
});

async function realSubject(): Promise<Subject> {
  const dir = await makeTempDir('xetcd-watch-');
  dirs.push(dir);
  const kv = await KvStore.open(dir.path, {
    logger: pino({ level: 'silent' }),
    compactionBatchLimit: 3,
    compactionBatchIntervalMs: 0,
  });
  let applied = 0;
  // Commit now and then so that history reads merge disk and pending records, and physical compaction runs.
  const maybeCommit = async () => {
    if (++applied % 3 === 0) await kv.commit({ consistentIndex: applied });
  };
  return {
    source: kv,
    lookup: prevKvFromStore(kv),
    put: async (k, v) => {
      await kv.put(bytes(k), bytes(v));
      await maybeCommit();
    },
    del: async (k, end) => {
      await kv.deleteRange(bytes(k), end === undefined ? undefined : bytes(end));
      await maybeCommit();
    },
    txn: async (puts, dels) => {
      await kv.write(async (txn) => {
        for (const d of dels) await txn.deleteRange(bytes(d));
        for (const p of puts) await txn.put(bytes(p), bytes(`t${txn.beginRevision}`));
      });
      await maybeCommit();
    },
    compact: async (rev) => {
      await kv.compact(rev);
      await maybeCommit();
    },
    close: () => kv.close(),
  };
}

describe('watchers against the full history (random)', () => {
  it('fake store, tight limits (small buffers, chunks and memory)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 80 }), (ops) =>
        runScenario(fakeSubject, ops, true),
      ),
      { numRuns: 300 },
    );
  });

  it('real KvStore on classic-level, tight limits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60 }), (ops) =>
        runScenario(realSubject, ops, true),
      ),
      { numRuns: 40 },
    );
  });

  it('real KvStore on classic-level, default limits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60 }), (ops) =>
        runScenario(realSubject, ops, false),
      ),
      { numRuns: 15 },
    );
  });
});
