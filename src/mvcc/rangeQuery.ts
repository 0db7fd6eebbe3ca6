import type { KeyValue } from '../proto/mvccpb.js';
import type { KeyState } from './keyIndex.js';

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

/** Range options with etcd's meaning (RangeRequest); 0 / absent turns an option off. */
export interface RangeOptions {
  /** Read the key space as of this revision (<= 0: the view's revision). */
  revision?: number;
  limit?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export type NormalizedRange =
  | { kind: 'single'; start: Buffer }
  | { kind: 'empty'; start: Buffer }
  | { kind: 'range'; start: Buffer; end: Buffer | undefined };

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/**
 * etcd's range_end conventions: empty = the key alone; a single 0x00 = every
 * key >= key; otherwise [key, range_end), empty when range_end <= key.
 */
export function normalizeRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): NormalizedRange {
  const start = asBuffer(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { kind: 'single', start };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: 'range', start, end: undefined };
  const end = asBuffer(rangeEnd);
  if (Buffer.compare(end, start) <= 0) return { kind: 'empty', start };
  return { kind: 'range', start, end };
}

export interface RangePlan {
  /** States whose values must be fetched, in output order (all of them when sorting by value). */
  selected: KeyState[];
  more: boolean;
  /** Sorting by value needs the values: sort and cut with sortByValue() after fetching. */
  sortByValue: boolean;
}

function effectiveOrder(opts: RangeOptions): SortOrder {
  const target = opts.sortTarget ?? 'key';
  const order = opts.sortOrder ?? 'none';
  // etcd: a target other than KEY with order NONE sorts ascending.
  return target !== 'key' && order === 'none' ? 'ascend' : order;
}

/**
 * What etcd's Range applier does with the index: filter by mod/create revision
 * bounds, sort, and apply the limit (states arrive in key order).
 */
export function planRange(states: KeyState[], opts: RangeOptions): RangePlan {
  let list = states;
  const {
    minModRevision: minMod = 0,
    maxModRevision: maxMod = 0,
    minCreateRevision: minCreate = 0,
    maxCreateRevision: maxCreate = 0,
  } = opts;
  if (minMod > 0 || maxMod > 0 || minCreate > 0 || maxCreate > 0) {
    list = list.filter(
      (s) =>
        (minMod <= 0 || s.modified.main >= minMod) &&
        (maxMod <= 0 || s.modified.main <= maxMod) &&
        (minCreate <= 0 || s.createRevision >= minCreate) &&
        (maxCreate <= 0 || s.createRevision <= maxCreate),
    );
  }
  const order = effectiveOrder(opts);
  const target = opts.sortTarget ?? 'key';
  if (order !== 'none') {
    if (target === 'value') return { selected: list, more: false, sortByValue: true };
    const field = (s: KeyState): number =>
      target === 'version'
        ? s.version
        : target === 'create'
          ? s.createRevision
          : target === 'mod'
            ? s.modified.main
            : 0;
    if (target === 'key') {
      if (order === 'descend') list = list === states ? [...list].reverse() : list.reverse();
    } else {
      const sign = order === 'ascend' ? 1 : -1;
      list = (list === states ? [...list] : list).sort((a, b) => sign * (field(a) - field(b)));
    }
  }
  const limit = opts.limit ?? 0;
  if (limit > 0 && list.length > limit)
    return { selected: list.slice(0, limit), more: true, sortByValue: false };
  return { selected: list, more: false, sortByValue: false };
}

/** Sorting by VALUE (raw bytes), then the limit. */
export function sortByValue(kvs: KeyValue[], opts: RangeOptions): { kvs: KeyValue[]; more: boolean } {
  const sign = effectiveOrder(opts) === 'descend' ? -1 : 1;
  kvs.sort((a, b) => sign * Buffer.compare(asBuffer(a.value), asBuffer(b.value)));
  const limit = opts.limit ?? 0;
  if (limit > 0 && kvs.length > limit) return { kvs: kvs.slice(0, limit), more: true };
  return { kvs, more: false };
}
