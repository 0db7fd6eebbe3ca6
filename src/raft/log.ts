import type { Entry, Snapshot } from '../proto/raftpb.js';
import { CompactedError, UnavailableError, type RaftStorage } from './storage.js';
import { UnstableLog } from './logUnstable.js';
import { RaftInvariantError } from './errors.js';
import { limitSize } from './entrySize.js';

/**
 * The Raft log as the core sees it: the stable part lives in RaftStorage, the
 * not-yet-durable tail in UnstableLog. committed and applied are the two
 * cursors of the protocol; applying is how far committed entries have been
 * handed out (so a second ready() before advance() does not repeat them).
 */
export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: UnstableLog;
  committed: number;
  applied: number;
  applying: number;
  private readonly maxApplyingSize: number;

  constructor(storage: RaftStorage, maxApplyingSize: number) {
    this.storage = storage;
    this.maxApplyingSize = maxApplyingSize;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Everything at or below this index is durable. */
  stableLastIndex(): number {
    return this.unstable.offset - 1;
  }

  /**
   * Term of entry i. The dummy entry before firstIndex (the snapshot's last
   * entry) has a term too. Throws CompactedError below it and UnavailableError
   * past the last index.
   */
  term(i: number): number {
    if (i + 1 < this.firstIndex()) throw new CompactedError();
    if (i > this.lastIndex()) throw new UnavailableError();
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  /** The term of i, or 0 when i is compacted or beyond the log. */
  termOrZero(i: number): number {
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return 0;
      throw err;
    }
  }

  lastTerm(): number {
    return this.termOrZero(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return false;
    return this.termOrZero(i) === t;
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The receiver side of AppendEntries. Returns the new last index when the
   * entry before ents matches (index, logTerm), undefined when it does not.
   * Only a real term conflict truncates; entries we already hold are kept.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftInvariantError(
          `entry ${ci} conflicts with committed entry [committed(${this.committed})]`,
        );
      }
      this.append(ci === ents[0]!.index ? ents : ents.slice(ci - ents[0]!.index));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(`after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Index of the first entry of ents that is new or conflicts with ours, or 0. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The last index <= index whose term is <= term, with that term: where the
   * leader's and our logs can possibly agree (fast log-rejection hint).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      let t: number;
      try {
        t = this.term(index);
      } catch (err) {
        if (err instanceof CompactedError || err instanceof UnavailableError) return { index, term: 0 };
        throw err;
      }
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Unstable entries not yet handed out for writing. */
  unstableEntries(): Entry[] {
    return this.unstable.nextEntries();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed, durable entries not yet handed out for applying. */
  nextCommittedEnts(): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = Math.min(this.committed, this.stableLastIndex()) + 1;
    if (hi <= lo) return [];
    return this.slice(lo, hi, this.maxApplyingSize);
  }

  hasNextCommittedEnts(): boolean {
    if (this.hasPendingSnapshot()) return false;
    const lo = Math.max(this.applying + 1, this.firstIndex());
    return Math.min(this.committed, this.stableLastIndex()) >= lo;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (toCommit <= this.committed) return;
    if (toCommit > this.lastIndex()) {
      throw new RaftInvariantError(`tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]`);
    }
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) {
      throw new RaftInvariantError(
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  acceptApplying(i: number): void {
    if (i > this.applying) this.applying = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** The commit rule: commit maxIndex only if it is an entry of the current term. */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata!.index;
    this.unstable.restore(s);
  }

  /** Entries from i to the end, within maxSize bytes. */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Entries in [lo, hi) within maxSize bytes (at least one). Throws CompactedError below firstIndex. */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo > hi) throw new RaftInvariantError(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new CompactedError();
    if (hi > this.lastIndex() + 1) {
      throw new RaftInvariantError(`slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`);
    }
    if (lo === hi) return [];
    const off = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < off) {
      const stableHi = Math.min(hi, off);
      const stored = this.storage.entries(lo, stableHi, maxSize);
      if (stored.length < stableHi - lo) return stored; // size limit reached inside storage
      ents = stored;
    }
    if (hi > off) {
      const unstable = this.unstable.slice(Math.max(lo, off), hi);
      if (ents.length === 0) ents = unstable;
      else {
        ents = ents.slice();
        for (const e of unstable) ents.push(e);
      }
    }
    return limitSize(ents, maxSize);
  }
}
