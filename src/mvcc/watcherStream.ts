import { Subject, type Observable } from 'rxjs';
import { Event } from '../proto/mvccpb.js';
import { Watcher, type WatchOptions, type WatchReply } from './watcher.js';

/** etcd's texts for failed creates (mvcc/watcher.go), sent as cancel_reason. */
export const ERR_EMPTY_WATCHER_RANGE = 'mvcc: watcher range is empty';
export const ERR_DUPLICATE_WATCH_ID = 'mvcc: duplicate watch ID provided on the WatchStream';

/** What a stream needs from the watchable store that feeds it. */
export interface WatchHub {
  /** The last revision whose events have been fanned out to synced watchers. */
  readonly revision: number;
  readonly progressIntervalMs: number;
  readonly maxResponseBytes: number;
  register(w: Watcher): void;
  unregister(w: Watcher): void;
  /** The stream drained after refusing a reply: retry its lagging watchers. */
  streamHasRoom(stream: WatcherStream): void;
  /** Remember that this stream waits to send a stream-wide progress reply. */
  progressPending(stream: WatcherStream): void;
  streamClosed(stream: WatcherStream): void;
}

export interface WatcherStreamOptions {
  /** Replies buffered before watchers are treated as slow (etcd's chanBufLen: 128). */
  bufferSize?: number;
  /** Close the stream once its last watcher is gone and its replies are out (a one-watcher stream). */
  closeWhenEmpty?: boolean;
  /**
   * While the consumer is slow, a watcher's new events join its reply still
   * waiting in the buffer: one response for several revisions (as etcd's
   * catch-up sends them), headed by the newest. A client then gets fewer,
   * larger responses instead of watchers falling behind one message each.
   * For gRPC and gateway streams; a sink that needs one reply per revision
   * leaves it off.
   */
  coalesce?: boolean;
}

/** A waiting reply that takes more events, and roughly how many bytes its events hold (once something joined). */
interface OpenReply {
  readonly reply: WatchReply;
  bytes?: number;
}

/** Roughly what an event adds to a response: its key and value, its previous pair's, and framing. */
function approxBytes(events: readonly Event[]): number {
  let n = 0;
  for (const ev of events) {
    const kv = ev.kv;
    const prev = ev.prevKv;
    n += 48 + (kv ? kv.key.length + kv.value.length : 0) + (prev ? prev.key.length + prev.value.length : 0);
  }
  return n;
}

/**
 * One client's watch stream: etcd's watchStream plus the ordered send path of
 * its gRPC server stream. Every reply of every watcher on the stream goes
 * through one bounded FIFO, so a created reply precedes that watcher's events
 * and a progress reply never overtakes the events it vouches for.
 *
 * Backpressure: the consumer calls pause() when its sink is full (a gRPC
 * write() returning false) and resume() on drain. While paused the buffer
 * fills; once it is full the store stops handing this stream's watchers
 * events and lets them lag (unsynced) instead of blocking writers, then
 * catches them up from history when the buffer has room again.
 */
export class WatcherStream {
  private readonly subject = new Subject<WatchReply>();
  /** Every reply of this stream, in send order, including created acks and stream-wide progress. */
  readonly replies$: Observable<WatchReply> = this.subject.asObservable();
  private readonly watchersById = new Map<number, Watcher>();
  private readonly capacity: number;
  private readonly closeWhenEmpty: boolean;
  private readonly coalesce: boolean;
  /**
   * coalesce: each watcher's events reply still in the buffer with no other
   * kind of reply queued after it (a created, canceled or progress reply is a
   * barrier: nothing moves ahead of it).
   */
  private readonly open = new Map<number, OpenReply>();
  private queue: WatchReply[] = [];
  private head = 0;
  private paused = false;
  private flushScheduled = false;
  /** A reply was refused for lack of room: tell the hub when there is room again. */
  private starved = false;
  private closed = false;
  private nextId = 0;
  private wantsProgress = false;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hub: WatchHub,
    opts: WatcherStreamOptions = {},
  ) {
    this.capacity = Math.max(1, opts.bufferSize ?? 128);
    this.closeWhenEmpty = opts.closeWhenEmpty === true;
    this.coalesce = opts.coalesce === true;
  }

  get watcherCount(): number {
    return this.watchersById.size;
  }

  watchers(): IterableIterator<Watcher> {
    return this.watchersById.values();
  }

  /** Replies waiting in the buffer. */
  get buffered(): number {
    return this.queue.length - this.head;
  }

  /** Events in the buffered replies. */
  get bufferedEvents(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) n += this.queue[i]?.events.length ?? 0;
    return n;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Creates a watcher and queues its created reply, or queues a failed-create
   * reply (watchId -1, canceled, with etcd's reason) and returns null.
   */
  watch(opts: WatchOptions): Watcher | null {
    // etcd treats an empty key as the key 0x00.
    const key = opts.key.length === 0 ? new Uint8Array([0]) : opts.key;
    const end = opts.rangeEnd !== undefined && opts.rangeEnd.length > 0 ? opts.rangeEnd : undefined;
    const openEnded = end !== undefined && end.length === 1 && end[0] === 0;
    if (this.closed || (end !== undefined && !openEnded && Buffer.compare(key, end) >= 0)) {
      this.failCreate(ERR_EMPTY_WATCHER_RANGE);
      return null;
    }
    let id = opts.watchId ?? 0;
    if (id !== 0) {
      if (this.watchersById.has(id)) {
        this.failCreate(ERR_DUPLICATE_WATCH_ID);
        return null;
      }
    } else {
      // etcd counts up from 0 and skips IDs that a client chose explicitly.
      while (this.watchersById.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    const now = this.hub.revision;
    // 0 means "from now"; a negative start is kept, and the hub cancels it as compacted (as etcd does).
    const start = opts.startRevision === undefined || opts.startRevision === 0 ? now + 1 : opts.startRevision;
    const w = new Watcher(id, this, key, end, start, opts);
    this.watchersById.set(id, w);
    this.enqueue({ watchId: id, revision: now, events: [], created: true });
    if (w.progressNotify) this.startProgressTimer();
    this.hub.register(w);
    return w;
  }

  /** Cancels a watcher of this stream; unknown IDs get no reply, as in etcd. */
  cancel(watchId: number): boolean {
    const w = this.watchersById.get(watchId);
    if (w === undefined) return false;
    this.watchersById.delete(watchId);
    this.hub.unregister(w);
    w.state = 'canceled';
    this.enqueue({ watchId, revision: this.hub.revision, events: [], canceled: true });
    this.checkPendingProgress();
    return true;
  }

  /**
   * Asks for one stream-wide progress reply (watchId -1). It is sent as soon as
   * every watcher of the stream is in sync, never earlier: a revision reported
   * while a watcher still has catch-up events to send would be a false promise.
   */
  requestProgress(): void {
    if (this.closed) return;
    this.wantsProgress = true;
    this.checkPendingProgress();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scheduleFlush();
  }

  /** Ends the stream: its watchers are dropped without replies and replies$ completes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchersById.values()) {
      this.hub.unregister(w);
      w.state = 'canceled';
    }
    this.watchersById.clear();
    if (this.progressTimer !== undefined) clearInterval(this.progressTimer);
    this.progressTimer = undefined;
    this.queue = [];
    this.head = 0;
    this.hub.streamClosed(this);
    this.subject.complete();
  }

  // ---- used by the watchable store ----

  /** Free slots in the buffer. */
  room(): number {
    return this.capacity - this.buffered;
  }

  /** Whether a reply fits now; if not, the hub is told once the buffer drains. */
  hasRoomOrNotify(): boolean {
    if (this.room() > 0) return true;
    this.starved = true;
    return false;
  }

  /**
   * Offers events to a watcher's client: all of them or none. Returns false
   * (and remembers to ask for a retry) when the buffer is full. A watcher
   * that asked for fragments gets a response of max-response-bytes or more
   * split into pieces, all but the last marked fragment.
   */
  offerEvents(w: Watcher, events: Event[], revision: number): boolean {
    if (this.closed || w.state === 'canceled') return true;
    if (this.joinWaitingReply(w, events, revision)) {
      w.sentSinceTick = true;
      return true;
    }
    // Refused only when full: a fragmented reply may overshoot the buffer by its
    // pieces, which keeps "room > 0" meaning "the next offer succeeds".
    if (this.room() <= 0) {
      this.starved = true;
      return false;
    }
    const pieces = w.fragment ? this.split(events) : [events];
    for (let i = 0; i < pieces.length; i++) {
      const reply: WatchReply = { watchId: w.id, revision, events: pieces[i]! };
      if (i < pieces.length - 1) reply.fragment = true;
      this.enqueue(reply, true);
    }
    // Only a paused stream keeps replies waiting: a flowing one sends them within the tick.
    if (this.coalesce && this.paused && !w.fragment) {
      this.open.set(w.id, { reply: this.queue[this.queue.length - 1]! });
    }
    w.sentSinceTick = true;
    return true;
  }

  /** coalesce: adds the events to the watcher's reply still waiting, if it has one with room for them. */
  private joinWaitingReply(w: Watcher, events: Event[], revision: number): boolean {
    const open = this.coalesce ? this.open.get(w.id) : undefined;
    if (open === undefined) return false;
    const bytes = (open.bytes ?? approxBytes(open.reply.events)) + approxBytes(events);
    if (bytes > this.hub.maxResponseBytes) return false;
    // A new array: the events given may be shared with other watchers' replies.
    open.reply.events = open.reply.events.concat(events);
    open.reply.revision = revision;
    open.bytes = bytes;
    return true;
  }

  /** Cancels a watcher that compaction overtook (etcd sends header revision 0). */
  cancelCompacted(w: Watcher, compactRevision: number): void {
    if (!this.watchersById.delete(w.id)) return;
    this.hub.unregister(w);
    w.state = 'canceled';
    this.enqueue({ watchId: w.id, revision: 0, events: [], canceled: true, compactRevision });
    this.checkPendingProgress();
  }

  /** Re-checks a deferred stream-wide progress request (a watcher synced, or the store moved). */
  checkPendingProgress(): boolean {
    if (!this.wantsProgress || this.closed) return false;
    for (const w of this.watchersById.values()) {
      if (!this.inSync(w)) {
        this.hub.progressPending(this);
        return true;
      }
    }
    this.wantsProgress = false;
    this.enqueue({ watchId: -1, revision: this.hub.revision, events: [] });
    return false;
  }

  /** In sync: synced and not waiting for a future start revision (etcd #20221). */
  private inSync(w: Watcher): boolean {
    return w.state === 'synced' && w.minRev <= this.hub.revision + 1;
  }

  /** Queues a failed-create reply (watchId -1, canceled) with `reason`: a create refused before it was made. */
  failCreate(reason: string): void {
    this.enqueue({
      watchId: -1,
      revision: this.hub.revision,
      events: [],
      created: true,
      canceled: true,
      cancelReason: reason,
    });
  }

  /** Queues a reply; any but a watcher's events is a barrier that no later events may join ahead of. */
  private enqueue(reply: WatchReply, events = false): void {
    if (this.closed) return;
    if (!events) this.open.clear();
    this.queue.push(reply);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.paused || this.closed) return;
    this.flushScheduled = true;
    // Delivery is never synchronous with a write: the writer only queues.
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    while (!this.paused && !this.closed && this.head < this.queue.length) {
      const reply = this.queue[this.head]!;
      this.queue[this.head] = undefined as unknown as WatchReply;
      this.head++;
      if (this.open.get(reply.watchId)?.reply === reply) this.open.delete(reply.watchId);
      this.subject.next(reply);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.starved && this.room() > 0 && !this.closed) {
      this.starved = false;
      this.hub.streamHasRoom(this);
    }
    if (this.closeWhenEmpty && this.watchersById.size === 0 && this.buffered === 0) this.close();
  }

  private startProgressTimer(): void {
    if (this.progressTimer !== undefined || this.closed) return;
    // etcd adds up to 10% jitter so that streams created together do not tick together.
    const interval = this.hub.progressIntervalMs * (1 + Math.random() * 0.1);
    this.progressTimer = setInterval(() => this.progressTick(), interval);
    this.progressTimer.unref();
  }

  /** Periodic progress: only to synced watchers that got nothing for a whole interval. */
  private progressTick(): void {
    for (const w of this.watchersById.values()) {
      if (w.progressNotify && !w.sentSinceTick && this.inSync(w) && this.room() > 0) {
        this.enqueue({ watchId: w.id, revision: this.hub.revision, events: [] });
      }
      w.sentSinceTick = false;
    }
  }

  /** Splits events so that each piece stays under the byte limit (a single event is never split). */
  private split(events: Event[]): Event[][] {
    const limit = this.hub.maxResponseBytes;
    // Header, watch id and flags: a generous constant keeps the estimate on the safe side.
    const overhead = 64;
    const sizes = events.map((ev) => {
      const n = Event.encode(ev).length;
      return n + 1 + varintLength(n);
    });
    let total = overhead;
    for (const s of sizes) total += s;
    if (total < limit || events.length < 2) return [events];
    const pieces: Event[][] = [];
    let cur: Event[] = [];
    let curSize = overhead;
    for (let i = 0; i < events.length; i++) {
      const s = sizes[i]!;
      if (cur.length > 0 && curSize + s >= limit) {
        pieces.push(cur);
        cur = [];
        curSize = overhead;
      }
      cur.push(events[i]!);
      curSize += s;
    }
    pieces.push(cur);
    return pieces;
  }
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}
