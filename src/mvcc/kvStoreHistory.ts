import { Event, KeyValue } from '../proto/mvccpb.js';
import { ErrCompacted } from './errors.js';
import type { KeySpace } from './keySpace.js';
import { normalizeRange, type NormalizedRange } from './rangeQuery.js';

/** All events of one main revision, in sub-revision order. */
export interface RevisionChanges {
  revision: number;
  events: Event[];
}

export interface HistoryOptions {
  key?: Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
}

/**
 * The changes of main revisions fromRev..toRev (both inclusive) as stored,
 * committed or not, optionally only for keys in [key, rangeEnd) (same range
 * conventions as Range) and at most `limit` revisions. Throws the compacted
 * error when fromRev < compactRevision (also if a compaction passed fromRev
 * while reading). Events carry no prevKv: read it with range(key, {revision: rev - 1}).
 */
export async function eventsBetween(
  space: KeySpace,
  fromRev: number,
  toRev: number,
  opts?: HistoryOptions,
): Promise<RevisionChanges[]> {
  if (fromRev < space.compactRevision) throw ErrCompacted();
  const to = Math.min(toRev, space.currentRevision);
  if (fromRev > to) return [];
  const filter = opts?.key !== undefined ? normalizeRange(opts.key, opts.rangeEnd) : undefined;
  const limit = opts?.limit ?? Number.POSITIVE_INFINITY;
  const out: RevisionChanges[] = [];
  await space.forRecords(fromRev, to, (rev, tombstone, decode) => {
    const kv = decode();
    if (filter !== undefined && !inRange(filter, kv.key)) return true;
    const last = out[out.length - 1];
    if (last === undefined || last.revision !== rev.main) {
      if (out.length >= limit) return false;
      out.push({ revision: rev.main, events: [] });
    }
    out[out.length - 1]!.events.push(
      tombstone
        ? Event.create({ type: 1, kv: KeyValue.create({ key: kv.key, modRevision: rev.main }) })
        : Event.create({ type: 0, kv }),
    );
    return true;
  });
  if (fromRev < space.compactRevision) throw ErrCompacted();
  return out;
}

function inRange(r: NormalizedRange, key: Uint8Array): boolean {
  if (r.kind === 'empty') return false;
  if (r.kind === 'single') return Buffer.compare(r.start, key) === 0;
  return Buffer.compare(key, r.start) >= 0 && (r.end === undefined || Buffer.compare(key, r.end) < 0);
}
