import type { Entry } from '../proto/raftpb.js';

/**
 * Approximate encoded size of an entry: its payload plus the varint-encoded
 * term, index and type. Used for the byte limits of messages, Ready batches
 * and inflight windows, where an estimate within a few bytes is enough.
 */
export function entryByteSize(e: Entry): number {
  return e.data.length + 12;
}

/** Payload bytes only: what maxUncommittedEntriesSize and maxInflightBytes count, as etcd does. */
export function payloadSize(entries: readonly Entry[]): number {
  let s = 0;
  for (const e of entries) s += e.data.length;
  return s;
}

/** The longest prefix within maxSize bytes, but never fewer than one entry. */
export function limitSize(entries: Entry[], maxSize: number): Entry[] {
  if (entries.length <= 1 || maxSize === Infinity) return entries;
  let size = entryByteSize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entryByteSize(entries[n]!);
    if (size > maxSize) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}
