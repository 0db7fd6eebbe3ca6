import { describe, expect, it } from 'vitest';
import {
  RecordError,
  RecordKind,
  decodeBounds,
  decodeRecord,
  encodeBounds,
  encodeRecord,
  entryKey,
  parseKey,
} from '../../../src/storage/raftlog/records.js';

describe('raft log records', () => {
  it('entry keys sort in index order, across the 32-bit boundary too', () => {
    const indexes = [1, 2, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
    const keys = indexes.map((i) => Buffer.from(entryKey(i)));
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted).toEqual(keys);
    for (const i of indexes) expect(parseKey(entryKey(i))).toEqual({ kind: RecordKind.Entry, index: i });
  });

  it('frames round-trip and name their key', () => {
    const payload = Uint8Array.of(1, 2, 3);
    const framed = encodeRecord(RecordKind.Entry, 2 ** 33 + 1, payload);
    expect(decodeRecord(RecordKind.Entry, 2 ** 33 + 1, framed)).toEqual(payload);
    expect(() => decodeRecord(RecordKind.Entry, 2 ** 33, framed)).toThrow(/belongs to index 8589934593/);
    expect(() =>
      decodeRecord(RecordKind.HardState, 0, encodeRecord(RecordKind.Snapshot, 0, payload)),
    ).toThrow(/belongs to a record of kind 0x73/);
  });

  it('an index beyond 2^53 is refused rather than rounded', () => {
    const key = new Uint8Array(9);
    key[0] = RecordKind.Entry;
    new DataView(key.buffer).setBigUint64(1, 2n ** 60n);
    expect(() => parseKey(key)).toThrow(RecordError);
  });

  it('bounds round-trip with a full 64-bit vote', () => {
    const b = { first: 7, last: 2 ** 35, lastTerm: 9, snapshotIndex: 6, term: 12, vote: 0xffffffffffffffffn };
    const framed = encodeBounds(b);
    expect(decodeBounds(decodeRecord(RecordKind.Bounds, 0, framed))).toEqual(b);
  });
});
