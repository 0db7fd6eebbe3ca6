import type { Observable, Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { Event_EventType, type Event } from '../proto/mvccpb.js';
import type { RevisionChanges } from './kvStoreHistory.js';
import type { Watcher, WatchOptions } from './watcher.js';
import { WatcherGroup } from './watcherGroup.js';
import { fillPrevKv, hasReadView, missingPrev, prevKvFromStore, type PrevKvLookup } from './watcherPrevKv.js';
import { keyString } from './watcherRanges.js';
import { RecentChanges } from './watcherRecent.js';
import { WatcherStream, type WatchHub, type WatcherStreamOptions } from './watcherStream.js';

export type { RevisionChanges } from './kvStoreHistory.js';
export { prevKvFromStore, type PrevKvLookup } from './watcherPrevKv.js';

/** What the watchable store needs of the key-value store (KvStore satisfies it). */
export interface WatchSource {
  readonly currentRevision: number;
  readonly compactRevision: number;
  /** One emission per write that changed something, after it is visible to reads. */
  readonly changes$: Observable<RevisionChanges>;
  /** History of [fromRev, toRev], both inclusive, oldest first; throws when fromRev is compacted. */
  eventsBetween(
    fromRev: number,
    toRev: number,
    opts?: { key?: Uint8Array; rangeEnd?: Uint8Array; limit?: number },
  ): Promise<RevisionChanges[]>;
}

export interface WatchableStoreOptions {
  logger?: Logger;
  /** Interval of progress_notify replies (etcd: 10 minutes). */
  progressIntervalMs?: number;
  /** Responses at or above this size are split for fragment watchers (etcd: max request bytes + 512 KiB). */
  maxResponseBytes?: number;
  /** Revisions per catch-up response and per history read (etcd's watchBatchMaxRevs: 1000). */
  catchUpRevisions?: number;
  /** Unsynced watchers served per catch-up round (etcd's maxWatchersPerSync: 512). */
  maxWatchersPerSync?: number;
  /** Events kept in memory from recent revisions, so lagging watchers mostly catch up without disk. */
  recentEvents?: number;
  /** Keys whose latest pair is remembered to give live events their prev_kv without a read. */
  recentKeys?: number;
  /** Default buffer of a stream, in replies (etcd: 128). */
  streamBufferSize?: number;
  /** Wait before retrying a history read that failed. */
  retryMs?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 1.5 * 1024 * 1024 + 512 * 1024;

/**
 * etcd's watchable store over RxJS.
 *
 * Watchers live in one of two groups. Synced watchers have everything up to
 * `revision`; each revision the store emits is fanned out to them at once,
 * per event through the group's key map and interval index, and queued on
 * their streams (the writer never waits for a consumer). Unsynced watchers
 * (a start revision in the past, or a stream too full to take their last
 * events) are caught up by one sync loop: from the recent revisions kept in
 * memory when they reach back far enough, else from disk in bounded chunks
 * while live events keep flowing to the synced group. A watcher joins the
 * synced group only in a synchronous step in which it has every revision up
 * to `revision`, so it can neither miss nor repeat the revision being fanned out.
 */
export class WatchableStore implements WatchHub {
  readonly progressIntervalMs: number;
  readonly maxResponseBytes: number;
  private readonly catchUpRevisions: number;
  private readonly maxWatchersPerSync: number;
  private readonly streamBufferSize: number;
  private readonly retryMs: number;
  private readonly logger: Logger | undefined;
  private readonly synced = new WatcherGroup();
  private readonly unsynced = new WatcherGroup();
  private readonly streams = new Set<WatcherStream>();
  private readonly progressWaiters = new Set<WatcherStream>();
  /** The latest revisions (ending at `current`) and the latest pairs of recently changed keys. */
  private readonly recent: RecentChanges;
  private current: number;
  private readonly subscription: Subscription;
  private syncing = false;
  private syncAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Times a synced watcher fell behind because its stream was full (etcd's slow watchers). */
  slowEvents = 0;
  /** Events handed to watch streams (etcd_debugging_mvcc_events_total). */
  eventsSent = 0;

  private readonly prevKvLookup: PrevKvLookup | undefined;

  /**
   * prevKvLookup defaults to point reads on the source when it has a
   * readView() (the KvStore does); without any, prev_kv comes only from the
   * remembered recent changes and from the history window being replayed.
   */
  constructor(
    private readonly source: WatchSource,
    opts: WatchableStoreOptions = {},
    prevKvLookup?: PrevKvLookup,
  ) {
    this.prevKvLookup = prevKvLookup ?? (hasReadView(source) ? prevKvFromStore(source) : undefined);
    this.progressIntervalMs = opts.progressIntervalMs ?? 10 * 60 * 1000;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.catchUpRevisions = Math.max(1, opts.catchUpRevisions ?? 1000);
    this.maxWatchersPerSync = Math.max(1, opts.maxWatchersPerSync ?? 512);
    this.recent = new RecentChanges(
      Math.max(0, opts.recentEvents ?? 8192),
      Math.max(0, opts.recentKeys ?? 65536),
    );
    this.streamBufferSize = opts.streamBufferSize ?? 128;
    this.retryMs = opts.retryMs ?? 100;
    this.logger = opts.logger;
    this.current = source.currentRevision;
    this.subscription = source.changes$.subscribe({
      next: (rc) => this.apply(rc),
      error: (err: unknown) => this.logger?.error({ err }, 'watchable store: change stream failed'),
    });
  }

  /** The last revision fanned out to synced watchers. */
  get revision(): number {
    return this.current;
  }

  get syncedCount(): number {
    return this.synced.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Events in the streams' buffers, not yet taken by their clients (etcd_debugging_mvcc_pending_events_total). */
  get pendingEvents(): number {
    let n = 0;
    for (const s of this.streams) n += s.bufferedEvents;
    return n;
  }

  /** A new watch stream (one per client stream). */
  newStream(opts: WatcherStreamOptions = {}): WatcherStream {
    const stream = new WatcherStream(this, { bufferSize: this.streamBufferSize, ...opts });
    if (this.closed) stream.close();
    else this.streams.add(stream);
    return stream;
  }

  /**
   * One watcher on a stream of its own; the stream closes when the watcher is
   * canceled. Returns null (after the failure reply) for an invalid request.
   */
  watch(opts: WatchOptions, streamOpts: WatcherStreamOptions = {}): Watcher | null {
    return this.newStream({ ...streamOpts, closeWhenEmpty: true }).watch(opts);
  }

  /**
   * The store's history moved without the change stream (a snapshot was
   * installed): every synced watcher goes back to catching up from the store,
   * which delivers what lies between or cancels it with the compact revision.
   * A start revision in the future is kept, never lowered.
   */
  resync(): void {
    if (this.closed) return;
    const known = this.current;
    this.current = Math.max(this.current, this.source.currentRevision);
    this.recent.clear();
    for (const w of [...this.synced.watchers()]) {
      this.synced.delete(w);
      w.minRev = Math.max(w.minRev, known + 1);
      w.state = 'unsynced';
      this.unsynced.add(w);
    }
    this.kickSync();
  }

  /** Stops listening to the store and ends every stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription.unsubscribe();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    for (const s of [...this.streams]) s.close();
    this.recent.clear();
  }

  // ---- WatchHub ----

  register(w: Watcher): void {
    if (this.closed) return;
    if (w.minRev > this.current) {
      // From now, or a future start: live fan-out skips it until the store gets there.
      w.state = 'synced';
      this.synced.add(w);
    } else {
      w.state = 'unsynced';
      this.unsynced.add(w);
      this.kickSync();
    }
  }

  unregister(w: Watcher): void {
    this.synced.delete(w);
    this.unsynced.delete(w);
  }

  streamHasRoom(): void {
    if (this.unsynced.size > 0) this.kickSync();
  }

  progressPending(stream: WatcherStream): void {
    this.progressWaiters.add(stream);
  }

  streamClosed(stream: WatcherStream): void {
    this.streams.delete(stream);
    this.progressWaiters.delete(stream);
  }

  // ---- live fan-out ----

  private apply(rc: RevisionChanges): void {
    if (this.closed) return;
    if (rc.revision <= this.current) {
      // Never re-deliver a revision: that would break uniqueness for every synced watcher.
      this.logger?.warn(
        { revision: rc.revision, current: this.current },
        'watchable store: stale revision ignored',
      );
      return;
    }
    if (rc.revision > this.current + 1) {
      // Revisions arrived that were never emitted: history must come from the store.
      this.logger?.warn(
        { revision: rc.revision, current: this.current },
        'watchable store: revision gap; resyncing watchers',
      );
      this.resync();
    }
    this.current = rc.revision;
    rc = this.recent.add(rc);
    if (this.synced.size > 0) this.fanOut(rc);
    if (this.progressWaiters.size > 0) {
      const waiting = [...this.progressWaiters];
      this.progressWaiters.clear();
      for (const s of waiting) s.checkPendingProgress();
    }
  }

  private fanOut(rc: RevisionChanges): void {
    const rev = rc.revision;
    const perWatcher = new Map<Watcher, Event[]>();
    collectEvents(this.synced, rc, perWatcher, new Map());
    for (const [w, events] of perWatcher) {
      if (w.prevKv && this.prevKvLookup !== undefined && events.some(missingPrev)) {
        // The previous pair needs a read: let the catch-up path do it, off the write path.
        this.lag(w, rev);
        continue;
      }
      if (w.stream.offerEvents(w, events, rev)) {
        w.minRev = rev + 1;
        this.eventsSent += events.length;
      } else {
        this.slowEvents++;
        this.lag(w, rev);
      }
    }
  }

  /** Moves a synced watcher that has everything below rev to the unsynced group. */
  private lag(w: Watcher, rev: number): void {
    this.synced.delete(w);
    w.minRev = rev;
    w.state = 'unsynced';
    this.unsynced.add(w);
    this.kickSync();
  }

  /** The oldest revision held in memory (current + 1 when none). */
  private recentOldest(): number {
    return this.recent.oldest(this.current + 1);
  }

  // ---- catch-up ----

  private kickSync(): void {
    if (this.closed) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    // Deferred: watchers created together are caught up in one round, and a
    // create returns (its created reply queued) before any catch-up work runs.
    queueMicrotask(() => void this.runSync());
  }

  private async runSync(): Promise<void> {
    try {
      for (;;) {
        this.syncAgain = false;
        const progressed = await this.syncRound();
        if (this.closed || (!progressed && !this.syncAgain)) break;
      }
    } catch (err) {
      this.logger?.error({ err }, 'watchable store: catch-up failed; retrying');
      if (!this.closed && this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kickSync();
        }, this.retryMs);
        this.retryTimer.unref();
      }
    } finally {
      this.syncing = false;
    }
  }

  /**
   * One catch-up round; true when it did work (another round may then find
   * more to do). It terminates: a watcher in the batch either advances, or is
   * refused by a full stream and left out until that stream drains.
   */
  private async syncRound(): Promise<boolean> {
    // etcd's compact revision is -1 before the first compaction (ours is 0): a
    // watcher asking for a negative start revision is then cancelled with -1.
    const compactRev = this.source.compactRevision === 0 ? -1 : this.source.compactRevision;
    const batch: Watcher[] = [];
    let progressed = false;
    for (const w of this.unsynced.watchers()) {
      if (!w.stream.hasRoomOrNotify()) continue; // the stream asks again when it drains
      if (w.minRev < compactRev) {
        w.stream.cancelCompacted(w, compactRev);
        progressed = true;
        continue;
      }
      if (w.minRev > this.current) {
        this.join(w);
        progressed = true;
        continue;
      }
      batch.push(w);
      if (batch.length >= this.maxWatchersPerSync) break;
    }
    if (batch.length === 0) return progressed;
    progressed = true;
    let from = Infinity;
    for (const w of batch) from = Math.min(from, w.minRev);

    // From memory when it reaches back far enough (the whole way to `current`),
    // else one bounded chunk from disk while live events keep flowing.
    const inMemory = from >= this.recentOldest();
    const to = inMemory ? this.current : Math.min(this.current, from + this.catchUpRevisions - 1);
    let changes: RevisionChanges[];
    if (inMemory) changes = this.recent.range(from, to);
    else {
      try {
        changes = await this.source.eventsBetween(from, to, singleRange(batch));
      } catch (err) {
        // Compaction overtook the read: the next round cancels whom it overtook.
        if (this.source.compactRevision > from) return true;
        throw err;
      }
    }
    if (this.closed) return false;
    if (batch.some((w) => w.prevKv) && changes.some((rc) => rc.events.some(missingPrev))) {
      changes = await fillPrevKv(changes, this.prevKvLookup);
      if (this.closed) return false;
    }
    if (this.source.compactRevision > from) {
      // Compaction ran meanwhile and may have removed part of what was read:
      // the next round cancels the watchers it overtook and re-reads for the others.
      return true;
    }
    let i = 0;
    for (let lo = from; lo <= to; lo += this.catchUpRevisions) {
      const hi = Math.min(to, lo + this.catchUpRevisions - 1);
      const start = i;
      while (i < changes.length && changes[i]!.revision <= hi) i++;
      this.deliver(batch, changes.slice(start, i), lo, hi);
    }
    // Synchronous with the check: no revision can be fanned out between "has
    // everything up to current" and joining the group that receives current + 1.
    for (const w of batch) if (w.state === 'unsynced' && w.minRev > this.current) this.join(w);
    return progressed;
  }

  /**
   * Hands each watcher of the batch its events of revisions [from, to] as one
   * response, from its own minRev on. A watcher that missed an earlier chunk
   * (its stream was full) gets nothing here and is served again later.
   */
  private deliver(batch: Watcher[], changes: RevisionChanges[], from: number, to: number): void {
    const group = new WatcherGroup();
    for (const w of batch) if (w.state === 'unsynced' && w.minRev >= from && w.minRev <= to) group.add(w);
    if (group.size === 0) return;
    const perWatcher = new Map<Watcher, Event[]>();
    const stripped = new Map<Event, Event>();
    for (const rc of changes) {
      if (rc.revision >= from && rc.revision <= to) collectEvents(group, rc, perWatcher, stripped);
    }
    for (const w of group.watchers()) {
      const events = perWatcher.get(w);
      if (events === undefined) w.minRev = to + 1;
      else if (w.stream.offerEvents(w, events, to)) {
        w.minRev = to + 1;
        this.eventsSent += events.length;
      }
    }
  }

  private join(w: Watcher): void {
    this.unsynced.delete(w);
    w.state = 'synced';
    this.synced.add(w);
    w.stream.checkPendingProgress();
  }
}

/**
 * Adds each event of `rc` to the list of every watcher in `group` that wants
 * it: watching its key, from its revision on, not filtered out. Watchers that
 * did not ask for prevKv share one stripped copy of each event (`stripped`).
 */
function collectEvents(
  group: WatcherGroup,
  rc: RevisionChanges,
  perWatcher: Map<Watcher, Event[]>,
  stripped: Map<Event, Event>,
): void {
  for (const ev of rc.events) {
    const kv = ev.kv;
    if (kv === undefined) continue;
    group.forKey(keyString(kv.key), (w) => {
      if (w.minRev > rc.revision || filteredOut(w, ev)) return;
      const out = w.prevKv ? ev : strip(ev, stripped);
      const list = perWatcher.get(w);
      if (list === undefined) perWatcher.set(w, [out]);
      else list.push(out);
    });
  }
}

function filteredOut(w: Watcher, ev: Event): boolean {
  return ev.type === Event_EventType.PUT ? w.noPut : w.noDelete;
}

/** The event without prevKv, made once per event and shared by every watcher that did not ask for it. */
function strip(ev: Event, cache: Map<Event, Event>): Event {
  if (ev.prevKv === undefined) return ev;
  let out = cache.get(ev);
  if (out === undefined) {
    out = { type: ev.type, kv: ev.kv };
    cache.set(ev, out);
  }
  return out;
}

/** When all the batch watches one key or range, the history read can be narrowed to it. */
function singleRange(batch: Watcher[]): { key: Uint8Array; rangeEnd?: Uint8Array } | undefined {
  const first = batch[0]!;
  for (const w of batch) {
    if (w.keyString !== first.keyString || w.endString !== first.endString) return undefined;
  }
  return first.rangeEnd === undefined ? { key: first.key } : { key: first.key, rangeEnd: first.rangeEnd };
}
