/**
 * A user's key permissions merged over all of its roles (etcd's
 * unifiedRangePermissions, auth/range_perm_cache.go): for reading and for
 * writing, the union of the ranges its roles grant, kept as sorted, disjoint,
 * non-touching intervals, so that "is [key, end) covered" is one binary search.
 * Ranges follow etcd's conventions everywhere: an empty end means the key
 * alone, an end of 0x00 means every key from the key on.
 */
import { Permission_Type, type Permission } from '../proto/authpb.js';

/** [begin, end); `end` undefined reaches past every key. */
interface Interval {
  readonly begin: Buffer;
  readonly end: Buffer | undefined;
}

/** The intervals one kind of access may touch. */
export class KeyCoverage {
  private constructor(private readonly intervals: readonly Interval[]) {}

  /** The union of `ranges`, merged: overlapping and touching intervals become one. */
  static of(ranges: readonly Interval[]): KeyCoverage {
    const sorted = [...ranges].sort((a, b) => Buffer.compare(a.begin, b.begin));
    const merged: Interval[] = [];
    for (const r of sorted) {
      const last = merged[merged.length - 1];
      if (last !== undefined && (last.end === undefined || Buffer.compare(r.begin, last.end) <= 0)) {
        if (last.end !== undefined && (r.end === undefined || Buffer.compare(r.end, last.end) > 0))
          merged[merged.length - 1] = { begin: last.begin, end: r.end };
      } else {
        merged.push(r);
      }
    }
    return new KeyCoverage(merged);
  }

  /**
   * Whether every key of the request's range is covered (etcd's
   * checkKeyInterval and checkKeyPoint). A range whose end is not after its
   * key holds no key at all; it asks for the keys between its two ends, which
   * is what etcd's interval tree ends up checking for it.
   */
  covers(key: Uint8Array, rangeEnd: Uint8Array | undefined): boolean {
    const ask = requested(Buffer.from(key), rangeEnd);
    const at = this.lastStartingAtOrBefore(ask.begin);
    if (at === undefined) return false;
    if (at.end === undefined) return true;
    return ask.end !== undefined && Buffer.compare(ask.end, at.end) <= 0;
  }

  private lastStartingAtOrBefore(key: Buffer): Interval | undefined {
    let lo = 0;
    let hi = this.intervals.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.intervals[mid]!.begin, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : this.intervals[lo - 1];
  }
}

/** What a user may read and write. */
export interface UserPermissions {
  readonly read: KeyCoverage;
  readonly write: KeyCoverage;
}

/** Merges the permissions of a user's roles. */
export function userPermissions(perms: readonly Permission[]): UserPermissions {
  const read: Interval[] = [];
  const write: Interval[] = [];
  for (const p of perms) {
    const ivl = granted(p);
    if (p.permType === Permission_Type.READ || p.permType === Permission_Type.READWRITE) read.push(ivl);
    if (p.permType === Permission_Type.WRITE || p.permType === Permission_Type.READWRITE) write.push(ivl);
  }
  return { read: KeyCoverage.of(read), write: KeyCoverage.of(write) };
}

/** The key right after `key` in byte order: a single key as an interval is [key, key ‖ 0x00). */
function successor(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.of(0)]);
}

function isFromKey(end: Uint8Array): boolean {
  return end.length === 1 && end[0] === 0;
}

/** The interval a granted permission covers. */
function granted(p: Permission): Interval {
  const begin = Buffer.from(p.key);
  if (p.rangeEnd.length === 0) return { begin, end: successor(begin) };
  if (isFromKey(p.rangeEnd)) return { begin, end: undefined };
  return { begin, end: Buffer.from(p.rangeEnd) };
}

/** The interval a request touches. */
function requested(key: Buffer, rangeEnd: Uint8Array | undefined): Interval {
  if (rangeEnd === undefined || rangeEnd.length === 0) return { begin: key, end: successor(key) };
  if (isFromKey(rangeEnd)) return { begin: key, end: undefined };
  const end = Buffer.from(rangeEnd);
  if (Buffer.compare(end, key) > 0) return { begin: key, end };
  return { begin: end, end: successor(key) };
}
