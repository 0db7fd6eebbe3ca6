import type { Entry, HardState, SnapshotMetadata } from '../../proto/raftpb.js';
import { RaftLogWriteError } from './errors.js';
import type { LogBounds } from './records.js';

/**
 * The shape of the log as it will be once every queued write has landed: the
 * snapshot boundary, the term of each stored entry, the hard state. It holds no
 * entry data (the server's MemoryStorage does), only what is needed to check a
 * write synchronously, at the moment it is issued, against the writes issued
 * before it. Checking at issue time rather than at write time is what lets the
 * store refuse a gap or a term regression before anything reaches the disk,
 * and keeps the check deterministic however the queue is drained.
 */
export class RaftLogOutline {
  /** Metadata of the newest snapshot; index 0 when there is none. */
  snapshot: SnapshotMetadata | undefined = undefined;
  /** Index of terms[0]: the first stored entry (or where it would be). */
  offset = 1;
  /** Terms of the stored entries offset, offset+1, ... */
  terms: number[] = [];
  hardState: HardState | undefined = undefined;

  get snapshotIndex(): number {
    return this.snapshot?.index ?? 0;
  }

  get snapshotTerm(): number {
    return this.snapshot?.term ?? 0;
  }

  /** Index of the last stored entry, or offset-1 when none is stored. */
  get lastEntryIndex(): number {
    return this.offset + this.terms.length - 1;
  }

  /** The last index of the log: its last entry, or the snapshot when it holds none. */
  get lastIndex(): number {
    return Math.max(this.snapshotIndex, this.lastEntryIndex);
  }

  /** The term at i, or undefined when it is neither stored nor the snapshot's. */
  term(i: number): number | undefined {
    if (i >= this.offset && i <= this.lastEntryIndex) return this.terms[i - this.offset];
    if (i === this.snapshotIndex) return this.snapshotTerm;
    if (i === 0) return 0;
    return undefined;
  }

  /**
   * Checks a hard state against the current one: terms only grow, a vote is
   * never changed within a term (the one-vote-per-term rule that makes elections
   * safe), and the commit index never moves back.
   */
  checkHardState(next: HardState): void {
    const cur = this.hardState;
    if (cur === undefined) return;
    if (next.term < cur.term) {
      throw new RaftLogWriteError(`hard state term ${next.term} is behind the stored term ${cur.term}`);
    }
    if (next.term === cur.term && cur.vote !== 0n && next.vote !== cur.vote) {
      throw new RaftLogWriteError(
        `hard state changes the vote of term ${cur.term} from ${cur.vote.toString(16)} to ${next.vote.toString(16)}`,
      );
    }
    if (next.commit < cur.commit) {
      throw new RaftLogWriteError(
        `hard state commit ${next.commit} is behind the stored commit ${cur.commit}`,
      );
    }
  }

  /**
   * Checks that `entries` can be appended: contiguous among themselves, with
   * non-decreasing terms, starting after the snapshot and no further than one
   * past the last index (an overwrite of a suffix is fine, a gap never is).
   */
  checkAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    for (let k = 1; k < entries.length; k++) {
      const prev = entries[k - 1]!;
      const e = entries[k]!;
      if (e.index !== prev.index + 1) {
        throw new RaftLogWriteError(`entries are not contiguous: index ${e.index} follows ${prev.index}`);
      }
      if (e.term < prev.term) {
        throw new RaftLogWriteError(
          `entry ${e.index} has term ${e.term} below the term ${prev.term} before it`,
        );
      }
    }
    if (first <= this.snapshotIndex) {
      throw new RaftLogWriteError(
        `entry ${first} is at or below the snapshot index ${this.snapshotIndex} (compacted)`,
      );
    }
    if (first > this.lastIndex + 1) {
      throw new RaftLogWriteError(`entry ${first} would leave a gap after the last index ${this.lastIndex}`);
    }
    const prevTerm = this.term(first - 1);
    if (prevTerm !== undefined && entries[0]!.term < prevTerm) {
      throw new RaftLogWriteError(
        `entry ${first} has term ${entries[0]!.term} below the term ${prevTerm} of entry ${first - 1}`,
      );
    }
  }

  /** Records the entries (already checked) as stored, replacing any suffix from their first index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (this.terms.length === 0) this.offset = first;
    else this.terms.length = first - this.offset;
    for (const e of entries) this.terms.push(e.term);
  }

  /** A snapshot from the leader replaces the whole log (as etcd's MemoryStorage.ApplySnapshot does). */
  installSnapshot(meta: SnapshotMetadata): void {
    this.snapshot = meta;
    this.offset = meta.index + 1;
    this.terms = [];
  }

  /** A log that is only the snapshot. */
  static ofSnapshot(meta: SnapshotMetadata): RaftLogOutline {
    const o = new RaftLogOutline();
    o.installSnapshot(meta);
    return o;
  }

  /** Drops the terms of entries <= index. */
  compact(index: number): void {
    if (index < this.offset) return;
    const drop = Math.min(index - this.offset + 1, this.terms.length);
    this.terms.splice(0, drop);
    this.offset = index + 1;
  }

  /**
   * The invariants that hold between the parts: the entries reach back to the
   * snapshot with a matching term, and the commit index lies within the log.
   * Returns what is wrong, or undefined.
   */
  problem(): { index?: number; detail: string } | undefined {
    const snapIndex = this.snapshotIndex;
    if (this.terms.length > 0) {
      if (this.offset > snapIndex + 1) {
        return {
          index: this.offset,
          detail: `the log starts at ${this.offset} but the snapshot ends at ${snapIndex}: entries ${snapIndex + 1}..${this.offset - 1} are missing`,
        };
      }
      if (this.lastEntryIndex < snapIndex) {
        return {
          index: this.lastEntryIndex,
          detail: `the log ends at ${this.lastEntryIndex}, before the snapshot index ${snapIndex}`,
        };
      }
      if (snapIndex >= this.offset && this.terms[snapIndex - this.offset] !== this.snapshotTerm) {
        return {
          index: snapIndex,
          detail: `entry ${snapIndex} has term ${this.terms[snapIndex - this.offset]} but the snapshot there has term ${this.snapshotTerm}`,
        };
      }
    }
    const hs = this.hardState;
    // A snapshot at index 0 is a new member's initial configuration (RaftNode.bootstrap), stored before any term.
    if (hs === undefined && (this.terms.length > 0 || this.snapshotIndex > 0)) {
      return { detail: 'entries or a snapshot are stored but the hard state is missing' };
    }
    if (hs !== undefined) {
      const lastTerm = this.term(this.lastIndex) ?? 0;
      if (lastTerm > hs.term) {
        return {
          detail: `entry ${this.lastIndex} has term ${lastTerm}, above the hard state term ${hs.term}`,
        };
      }
      if (hs.commit > this.lastIndex) {
        return { detail: `hard state commit ${hs.commit} is beyond the last index ${this.lastIndex}` };
      }
      if (this.snapshot !== undefined && hs.commit < snapIndex) {
        return { detail: `hard state commit ${hs.commit} is behind the snapshot index ${snapIndex}` };
      }
    }
    return undefined;
  }

  /** The summary written with every batch, checked on open against what was read (see LogBounds). */
  bounds(): LogBounds {
    return {
      first: this.offset,
      last: this.lastEntryIndex,
      lastTerm: this.terms.length > 0 ? this.terms[this.terms.length - 1]! : 0,
      snapshotIndex: this.snapshotIndex,
      term: this.hardState?.term ?? 0,
      vote: this.hardState?.vote ?? 0n,
    };
  }

  /**
   * Checks a whole write (as the store's save() receives it) against the state
   * left by every earlier write; throws RaftLogWriteError and changes nothing
   * when it is refused.
   */
  checkWrite(w: { hardState?: HardState; entries: readonly Entry[]; snapshot?: SnapshotMetadata }): void {
    if (w.snapshot !== undefined && w.snapshot.index < this.snapshotIndex) {
      throw new RaftLogWriteError(
        `snapshot ${w.snapshot.index} is older than the stored snapshot ${this.snapshotIndex}`,
      );
    }
    // Entries that come with a snapshot continue it: check them against a log that is just the snapshot.
    const base = w.snapshot === undefined ? this : RaftLogOutline.ofSnapshot(w.snapshot);
    base.checkAppend(w.entries);
    const commit = this.hardState?.commit ?? 0;
    if (w.snapshot === undefined && w.entries.length > 0 && w.entries[0]!.index <= commit) {
      // Raft never rewrites a committed entry; a write that does would change applied history.
      throw new RaftLogWriteError(
        `entry ${w.entries[0]!.index} would overwrite a committed entry (commit ${commit})`,
      );
    }
    if (w.hardState !== undefined) this.checkHardState(w.hardState);
    const hs = w.hardState ?? this.hardState;
    if (hs === undefined) {
      // Every entry has a term >= 1, and Raft persists a term before it writes entries of it.
      if (w.entries.length > 0 || w.snapshot !== undefined) {
        throw new RaftLogWriteError('entries or a snapshot written before any hard state');
      }
      return;
    }
    const lastIndex = w.entries.length > 0 ? w.entries[w.entries.length - 1]!.index : base.lastIndex;
    const lastTerm =
      w.entries.length > 0 ? w.entries[w.entries.length - 1]!.term : (base.term(lastIndex) ?? 0);
    if (lastTerm > hs.term) {
      throw new RaftLogWriteError(
        `entry ${lastIndex} has term ${lastTerm}, above the hard state term ${hs.term}`,
      );
    }
    if (hs.commit > lastIndex) {
      throw new RaftLogWriteError(
        `hard state commit ${hs.commit} would be beyond the last index ${lastIndex}`,
      );
    }
    if (base.snapshot !== undefined && hs.commit < base.snapshotIndex) {
      throw new RaftLogWriteError(
        `hard state commit ${hs.commit} would be behind the snapshot index ${base.snapshotIndex}`,
      );
    }
  }

  /** Records a write that checkWrite accepted. */
  applyWrite(w: { hardState?: HardState; entries: readonly Entry[]; snapshot?: SnapshotMetadata }): void {
    if (w.snapshot !== undefined) this.installSnapshot(w.snapshot);
    this.append(w.entries);
    if (w.hardState !== undefined) this.hardState = w.hardState;
  }
}
