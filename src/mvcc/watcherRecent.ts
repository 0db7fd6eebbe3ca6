import { Event_EventType, type KeyValue } from '../proto/mvccpb.js';
import type { RevisionChanges } from './kvStoreHistory.js';
import { missingPrev } from './watcherPrevKv.js';
import { keyString } from './watcherRanges.js';

/**
 * What the watchable store remembers of the latest revisions, so that most
 * lagging watchers (a slow consumer, a watch from a few revisions back) catch
 * up without touching the disk, and most live events get their prev_kv
 * without a read:
 *
 * - the last revisions as emitted, contiguous, bounded by their event count
 *   (always at least the newest one);
 * - the latest pair (null: deleted) of recently changed keys, least recently
 *   changed first. It is exact for every key it holds because it has seen
 *   every revision since that key's entry, so it is that key's prev_kv at the
 *   next change. Any gap in the revisions clears both.
 */
export class RecentChanges {
  private revisions: RevisionChanges[] = [];
  private head = 0;
  private eventCount = 0;
  private lastRevision = 0;
  private readonly latest = new Map<string, KeyValue | null>();

  constructor(
    private readonly eventLimit: number,
    private readonly keyLimit: number,
  ) {}

  /** The oldest revision held, or `fallback` when none is. */
  oldest(fallback: number): number {
    return this.head < this.revisions.length ? this.revisions[this.head]!.revision : fallback;
  }

  /** Revisions [from, to], which the caller knows are held (oldest() <= from, to <= newest). */
  range(from: number, to: number): RevisionChanges[] {
    const base = this.revisions[this.head]!.revision;
    return this.revisions.slice(this.head + (from - base), this.head + (to - base) + 1);
  }

  /**
   * Takes the next revision: returns it with prev_kv filled where the
   * remembered pairs have it, and keeps that version.
   */
  add(rc: RevisionChanges): RevisionChanges {
    if (this.lastRevision !== 0 && rc.revision !== this.lastRevision + 1) this.clear();
    this.lastRevision = rc.revision;
    const filled = this.withPrevKv(rc);
    if (this.eventLimit > 0) this.keep(filled);
    return filled;
  }

  clear(): void {
    this.revisions = [];
    this.head = 0;
    this.eventCount = 0;
    this.lastRevision = 0;
    this.latest.clear();
  }

  private withPrevKv(rc: RevisionChanges): RevisionChanges {
    if (this.keyLimit === 0) return rc;
    let events = rc.events;
    for (let i = 0; i < rc.events.length; i++) {
      const ev = rc.events[i]!;
      if (ev.kv === undefined) continue;
      const k = keyString(ev.kv.key);
      if (missingPrev(ev)) {
        const prev = this.latest.get(k);
        if (prev !== undefined && prev !== null) {
          if (events === rc.events) events = rc.events.slice();
          events[i] = { type: ev.type, kv: ev.kv, prevKv: prev };
        }
      }
      // Re-inserting moves the key to the most recently changed end.
      this.latest.delete(k);
      this.latest.set(k, ev.type === Event_EventType.PUT ? ev.kv : null);
    }
    let excess = this.latest.size - this.keyLimit;
    if (excess > 0) {
      for (const k of this.latest.keys()) {
        if (excess-- <= 0) break;
        this.latest.delete(k);
      }
    }
    return events === rc.events ? rc : { revision: rc.revision, events };
  }

  private keep(rc: RevisionChanges): void {
    this.revisions.push(rc);
    this.eventCount += rc.events.length;
    while (this.eventCount > this.eventLimit && this.revisions.length - this.head > 1) {
      this.eventCount -= this.revisions[this.head]!.events.length;
      this.revisions[this.head] = undefined as unknown as RevisionChanges;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.revisions.length) {
      this.revisions = this.revisions.slice(this.head);
      this.head = 0;
    }
  }
}
