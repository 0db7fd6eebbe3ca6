import type { ConfState, Entry, HardState, Snapshot } from '../proto/raftpb.js';

/**
 * What the Raft core reads of its log. Reads are synchronous, as in etcd's
 * raft: the server keeps the log since the last snapshot in memory (etcd's
 * MemoryStorage) and makes it durable elsewhere (etcd's WAL; here classic-level,
 * see src/storage/). The core never writes through this interface: it hands
 * entries out in a Ready and the server appends them once they are durable.
 */
export interface RaftStorage {
  /** The persisted hard state and the configuration of the last snapshot or conf change. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi). maxSize limits the total byte size of the entries
   * returned, but at least one entry is returned if any is in range.
   * Throws CompactedError if lo <= the snapshot index, UnavailableError if hi > lastIndex()+1.
   */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /** Term of entry i; i may be the snapshot index. Throws CompactedError / UnavailableError. */
  term(i: number): number;
  lastIndex(): number;
  /** Index of the first entry still in the log: the snapshot index + 1. */
  firstIndex(): number;
  /** The most recent snapshot. Throws SnapshotTemporarilyUnavailableError if it is being made. */
  snapshot(): Snapshot;
}

export class CompactedError extends Error {
  constructor() {
    super('requested index is unavailable due to compaction');
    this.name = 'CompactedError';
  }
}

export class UnavailableError extends Error {
  constructor() {
    super('requested entry at index is unavailable');
    this.name = 'UnavailableError';
  }
}

export class SnapshotOutOfDateError extends Error {
  constructor() {
    super('requested index is older than the existing snapshot');
    this.name = 'SnapshotOutOfDateError';
  }
}

export class SnapshotTemporarilyUnavailableError extends Error {
  constructor() {
    super('snapshot is temporarily unavailable');
    this.name = 'SnapshotTemporarilyUnavailableError';
  }
}
