import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from '../../../src/raft/storage.js';
import { entriesOfTerms } from './single.js';

const cs = { voters: [1n, 2n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

describe('MemoryStorage', () => {
  it('holds entries after a dummy entry: first/last index, term, entries with size limit', () => {
    const s = new MemoryStorage();
    expect([s.firstIndex(), s.lastIndex()]).toEqual([1, 0]);
    s.append(entriesOfTerms([1, 1, 2, 3]));
    expect([s.firstIndex(), s.lastIndex()]).toEqual([1, 4]);
    expect(s.term(0)).toBe(0);
    expect(s.term(3)).toBe(2);
    expect(() => s.term(5)).toThrow(UnavailableError);
    expect(s.entries(2, 5, Infinity).map((e) => e.index)).toEqual([2, 3, 4]);
    expect(s.entries(2, 5, 1).map((e) => e.index)).toEqual([2]);
    expect(() => s.entries(0, 2, Infinity)).toThrow(CompactedError);
    expect(() => s.entries(2, 6, Infinity)).toThrow(UnavailableError);
  });

  it('append replaces a conflicting suffix and skips compacted entries; a gap is refused', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 1, 1, 1]));
    s.append(entriesOfTerms([2, 2], 3));
    expect([1, 2, 3, 4].map((i) => s.term(i))).toEqual([1, 1, 2, 2]);
    s.append(entriesOfTerms([5], 2));
    expect(s.lastIndex()).toBe(2);
    s.createSnapshot(2, cs, new Uint8Array([9]));
    s.compact(2);
    s.append(entriesOfTerms([1, 5, 5], 1));
    expect([s.firstIndex(), s.lastIndex(), s.term(3)]).toEqual([3, 3, 5]);
    expect(() => s.append(entriesOfTerms([5], 9))).toThrow('missing log entry');
  });

  it('createSnapshot records index, term, config and data; compact keeps the term of the compaction point', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 2, 3]));
    const snap = s.createSnapshot(2, cs, new Uint8Array([7]));
    expect(snap.metadata).toMatchObject({ index: 2, term: 2, confState: cs });
    expect(() => s.createSnapshot(2, cs, new Uint8Array())).toThrow(SnapshotOutOfDateError);
    s.compact(2);
    expect([s.firstIndex(), s.lastIndex(), s.term(2)]).toEqual([3, 3, 2]);
    expect(() => s.compact(1)).toThrow(CompactedError);
    expect(s.initialState().confState).toEqual(cs);
  });

  it('applySnapshot replaces the log; an older snapshot is refused', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 1, 1]));
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 10, term: 4, confState: cs } });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 4]);
    expect(() =>
      s.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 4, confState: cs } }),
    ).toThrow(SnapshotOutOfDateError);
  });

  it('hard state is stored by value', () => {
    const s = new MemoryStorage();
    const hs = { term: 3, vote: 2n, commit: 0 };
    s.setHardState(hs);
    hs.term = 99;
    expect(s.initialState().hardState).toEqual({ term: 3, vote: 2n, commit: 0 });
  });
});
