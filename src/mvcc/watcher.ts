import { filter, takeWhile, type Observable } from 'rxjs';
import type { Event } from '../proto/mvccpb.js';
import { keyString } from './watcherRanges.js';
import type { WatcherStream } from './watcherStream.js';

/** What a client asks for when it creates a watcher (etcd's WatchCreateRequest). */
export interface WatchOptions {
  key: Uint8Array;
  /** Absent or empty: the single key. [0x00]: every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd?: Uint8Array;
  /** First revision wanted, inclusive. 0 or absent: only changes after the current revision. */
  startRevision?: number;
  prevKv?: boolean;
  filters?: { noPut?: boolean; noDelete?: boolean };
  progressNotify?: boolean;
  /** Allow splitting a response larger than the stream's byte limit into fragments. */
  fragment?: boolean;
  /** 0 or absent: the stream picks one. */
  watchId?: number;
}

/**
 * One response on a watch stream, shaped like etcd's WatchResponse without the
 * header: `revision` is what the API layer puts in header.revision.
 *
 * - created: the acknowledgement of a create (revision = store revision then).
 * - events: all matching events of one or more whole revisions; revision is the
 *   highest revision this watcher is now complete up to.
 * - progress: no events, all flags false; nothing at or below `revision` is still to come.
 * - canceled: the watcher is gone; compactRevision > 0 when compaction overtook it.
 */
export interface WatchReply {
  /** The watcher, or -1 for a stream-wide progress reply or a failed create. */
  watchId: number;
  revision: number;
  events: Event[];
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
  /** True on every piece of a split response except the last. */
  fragment?: boolean;
}

/** Where a watcher stands in the watchable store. */
export type WatcherState = 'unsynced' | 'synced' | 'canceled';

/**
 * A watcher on a key or a range, owned by one stream. The watchable store moves
 * it between its synced and unsynced groups; `minRev` is the next revision it
 * still needs, so "everything below minRev has been delivered" is the invariant
 * that makes delivery ordered, unique and resumable.
 */
export class Watcher {
  readonly keyString: string;
  /** undefined: single key; null: open-ended range; else the exclusive end. */
  readonly endString: string | null | undefined;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
  minRev: number;
  state: WatcherState = 'unsynced';
  /** Set when anything was sent since the last periodic progress tick. */
  sentSinceTick = false;
  /** This watcher's replies (not the created acknowledgement); completes after its canceled reply. */
  readonly events$: Observable<WatchReply>;

  constructor(
    readonly id: number,
    readonly stream: WatcherStream,
    readonly key: Uint8Array,
    readonly rangeEnd: Uint8Array | undefined,
    /** The first revision wanted (already resolved: never 0). */
    readonly startRevision: number,
    opts: WatchOptions,
  ) {
    this.keyString = keyString(key);
    if (rangeEnd === undefined || rangeEnd.length === 0) this.endString = undefined;
    else if (rangeEnd.length === 1 && rangeEnd[0] === 0) this.endString = null;
    else this.endString = keyString(rangeEnd);
    this.prevKv = opts.prevKv === true;
    this.noPut = opts.filters?.noPut === true;
    this.noDelete = opts.filters?.noDelete === true;
    this.progressNotify = opts.progressNotify === true;
    this.fragment = opts.fragment === true;
    this.minRev = startRevision;
    this.events$ = stream.replies$.pipe(
      filter((r) => r.watchId === id && r.created !== true),
      takeWhile((r) => r.canceled !== true, true),
    );
  }

  /** Whether key (a latin1 key string) lies in what this watcher watches. */
  contains(key: string): boolean {
    if (this.endString === undefined) return key === this.keyString;
    return key >= this.keyString && (this.endString === null || key < this.endString);
  }

  /** Cancels this watcher; its stream sends the canceled reply. */
  cancel(): void {
    this.stream.cancel(this.id);
  }
}
