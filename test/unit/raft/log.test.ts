import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftLog } from '../../../src/raft/log.js';
import { UnstableLog } from '../../../src/raft/logUnstable.js';
import { CompactedError } from '../../../src/raft/storage.js';
import { RaftInvariantError } from '../../../src/raft/errors.js';
import { entriesOfTerms } from './single.js';

const ent = (index: number, term: number, size = 0) => ({ index, term, type: 0, data: new Uint8Array(size) });

function logWith(stable: number[], unstable: number[] = []): RaftLog {
  const s = new MemoryStorage();
  s.append(entriesOfTerms(stable));
  const log = new RaftLog(s, Infinity);
  if (unstable.length > 0) log.append(entriesOfTerms(unstable, stable.length + 1));
  return log;
}

describe('RaftLog', () => {
  it('findConflict: 0 when all match, else the first new or conflicting index', () => {
    const log = logWith([1, 2, 3]);
    expect(log.findConflict([ent(1, 1), ent(2, 2)])).toBe(0);
    expect(log.findConflict([ent(2, 2), ent(3, 3), ent(4, 4)])).toBe(4);
    expect(log.findConflict([ent(2, 2), ent(3, 4)])).toBe(3);
    expect(log.findConflict([])).toBe(0);
  });

  it('findConflictByTerm: the last index whose term is <= the given term', () => {
    const log = logWith([1, 1, 2, 2, 5, 5]);
    expect(log.findConflictByTerm(6, 4)).toEqual({ index: 4, term: 2 });
    expect(log.findConflictByTerm(6, 5)).toEqual({ index: 6, term: 5 });
    expect(log.findConflictByTerm(3, 1)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(6, 0)).toEqual({ index: 0, term: 0 });
  });

  it('isUpToDate compares last term first, then length', () => {
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(10, 1)).toBe(false);
  });

  it('maybeAppend: rejects a mismatch, truncates a real conflict, commits at most the last new index', () => {
    const log = logWith([1, 2, 3]);
    expect(log.maybeAppend(3, 2, 3, [ent(4, 3)])).toBeUndefined();
    expect(log.maybeAppend(2, 2, 10, [ent(3, 4)])).toBe(3);
    expect(log.termOrZero(3)).toBe(4);
    expect(log.committed).toBe(3);
    expect(log.maybeAppend(1, 1, 3, [ent(2, 2)])).toBe(2);
    expect(log.lastIndex()).toBe(3);
  });

  it('refuses to truncate a committed entry', () => {
    const log = logWith([1, 2, 3]);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, [ent(2, 5)])).toThrow(RaftInvariantError);
  });

  it('maybeCommit only commits an index of the given term (the commit rule)', () => {
    const log = logWith([1, 2]);
    expect(log.maybeCommit(2, 3)).toBe(false);
    expect(log.maybeCommit(1, 1)).toBe(true);
    expect(log.committed).toBe(1);
    expect(log.maybeCommit(1, 1)).toBe(false);
  });

  it('nextCommittedEnts hands out only durable committed entries, each once', () => {
    const log = logWith([1, 1], [1, 1]);
    log.commitTo(4);
    expect(log.nextCommittedEnts().map((e) => e.index)).toEqual([1, 2]);
    log.acceptApplying(2);
    expect(log.nextCommittedEnts()).toEqual([]);
    (log.storage as MemoryStorage).append(log.unstableEntries());
    log.stableTo(4, 1);
    expect(log.nextCommittedEnts().map((e) => e.index)).toEqual([3, 4]);
    log.appliedTo(4);
    expect(log.hasNextCommittedEnts()).toBe(false);
  });

  it('slice spans storage and unstable entries and honours the size limit', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1, 100), ent(2, 1, 100)]);
    const log = new RaftLog(s, Infinity);
    log.append([ent(3, 1, 100), ent(4, 1, 100)]);
    expect(log.slice(1, 5, Infinity).map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(log.slice(2, 5, 250).map((e) => e.index)).toEqual([2, 3]);
    expect(log.slice(1, 5, 1).map((e) => e.index)).toEqual([1]);
  });

  it('term of compacted entries throws; the dummy entry keeps its term', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 2, 3, 4]));
    s.createSnapshot(2, undefined, new Uint8Array(0));
    s.compact(2);
    const log = new RaftLog(s, Infinity);
    expect(log.firstIndex()).toBe(3);
    expect(log.term(2)).toBe(2);
    expect(() => log.term(1)).toThrow(CompactedError);
    expect(log.termOrZero(1)).toBe(0);
    expect(() => log.slice(2, 4, Infinity)).toThrow(CompactedError);
  });
});

describe('UnstableLog', () => {
  it('truncateAndAppend appends, replaces all, or replaces a suffix', () => {
    const u = new UnstableLog(5);
    u.truncateAndAppend([ent(5, 1), ent(6, 1)]);
    u.truncateAndAppend([ent(7, 1)]);
    expect(u.entries.map((e) => e.index)).toEqual([5, 6, 7]);
    u.truncateAndAppend([ent(6, 2)]);
    expect(u.entries.map((e) => [e.index, e.term])).toEqual([
      [5, 1],
      [6, 2],
    ]);
    u.truncateAndAppend([ent(4, 3)]);
    expect(u.offset).toBe(4);
    expect(u.entries.map((e) => e.index)).toEqual([4]);
  });

  it('stableTo ignores a write whose term no longer matches (ABA)', () => {
    const u = new UnstableLog(1);
    u.truncateAndAppend([ent(1, 1), ent(2, 1)]);
    u.acceptInProgress();
    u.truncateAndAppend([ent(2, 2)]);
    expect(u.nextEntries().map((e) => [e.index, e.term])).toEqual([[2, 2]]);
    u.stableTo(2, 1);
    expect(u.offset).toBe(1);
    u.stableTo(1, 1);
    expect(u.offset).toBe(2);
    expect(u.entries.map((e) => [e.index, e.term])).toEqual([[2, 2]]);
  });

  it('a snapshot restores the offset and is stable once written', () => {
    const u = new UnstableLog(1);
    u.restore({ data: new Uint8Array(0), metadata: { index: 9, term: 3 } });
    expect(u.maybeFirstIndex()).toBe(10);
    expect(u.maybeLastIndex()).toBe(9);
    expect(u.maybeTerm(9)).toBe(3);
    expect(u.nextSnapshot()).toBeDefined();
    u.acceptInProgress();
    expect(u.nextSnapshot()).toBeUndefined();
    u.stableSnapTo(9);
    expect(u.snapshot).toBeUndefined();
  });
});
