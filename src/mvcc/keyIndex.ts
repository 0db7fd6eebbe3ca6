import type { Revision } from './revision.js';

/**
 * One life of a key: from the put that (re)created it to the tombstone that
 * deleted it. `ver` counts every change of this life, tombstone included, so
 * the version of the i-th revision is `ver - (revs.length - 1 - i)` even after
 * compaction has dropped the oldest revisions.
 */
export interface Generation {
  ver: number;
  /** Main revision of the put that created this life (the wire create_revision). */
  created: number;
  revs: Revision[];
}

/** What a key was at some revision. */
export interface KeyState {
  /** The revision whose record holds the key's value. */
  modified: Revision;
  createRevision: number;
  version: number;
  /** The key's index, which the state was read from. */
  readonly index: KeyIndex;
}

/** Shared by every key without an open life; replaced, never pushed onto. */
const NO_REVISIONS: Revision[] = [];

/**
 * The revisions of one key, grouped in generations as etcd's keyIndex does.
 * The open generation (the key's current life, empty while the key does not
 * exist) lives in fields of the object itself and closed ones in `past`:
 * most keys are never deleted, and for 100,000 of them a generations array
 * and a Generation object each would be a third of the index.
 */
export class KeyIndex {
  private ver = 0;
  private created = 0;
  private revs: Revision[] = NO_REVISIONS;
  /** Closed generations, oldest first; undefined while there are none. */
  private past: Generation[] | undefined;

  /**
   * The key as a latin1 string: one byte per character, so JS string order is
   * byte order, and V8 stores it in about a third of what a Buffer view costs
   * (and without pinning a shared Buffer pool slab).
   */
  constructor(readonly key: string) {}

  /** The key's bytes. */
  keyBytes(): Buffer {
    return Buffer.from(this.key, 'latin1');
  }

  /** All generations, oldest first, the open one last (a copy, for inspection). */
  get generations(): Generation[] {
    return [...(this.past ?? []), { ver: this.ver, created: this.created, revs: [...this.revs] }];
  }

  /** True when the key exists at the newest revision. */
  get live(): boolean {
    return this.revs.length > 0;
  }

  /** The newest revision of the key (put or tombstone), if any. */
  get lastRevision(): Revision | undefined {
    if (this.revs.length > 0) return this.revs[this.revs.length - 1];
    const past = this.past;
    if (past === undefined) return undefined;
    for (let i = past.length - 1; i >= 0; i--) {
      const revs = past[i]!.revs;
      if (revs.length > 0) return revs[revs.length - 1];
    }
    return undefined;
  }

  put(rev: Revision): void {
    if (this.revs.length === 0) {
      this.created = rev.main;
      // A literal sized to its content: push() onto an empty array reserves 17
      // slots, which for 100,000 single-revision keys is most of the index.
      this.revs = [rev];
    } else {
      this.revs.push(rev);
    }
    this.ver++;
  }

  tombstone(rev: Revision): void {
    this.put(rev);
    this.closeLife();
  }

  /** Ends the open life (its last revision is its tombstone, or a hole compaction left). */
  closeLife(): void {
    const closed: Generation = { ver: this.ver, created: this.created, revs: this.revs };
    this.past = this.past === undefined ? [closed] : [...this.past, closed];
    this.ver = 0;
    this.created = 0;
    this.revs = NO_REVISIONS;
  }

  /** Reverts the last put() (a txn that failed). */
  undoPut(): void {
    this.revs.pop();
    this.ver--;
    if (this.revs.length === 0) {
      this.revs = NO_REVISIONS;
      this.created = 0;
      this.ver = 0;
    }
  }

  /** Reverts the last tombstone(). */
  undoTombstone(): void {
    const past = this.past!;
    const g = past[past.length - 1]!;
    this.past = past.length === 1 ? undefined : past.slice(0, -1);
    this.ver = g.ver;
    this.created = g.created;
    this.revs = g.revs;
    this.undoPut();
  }

  /**
   * Rebuilding from disk: a put record carries its own create revision and
   * version, which stay right even when compaction removed earlier records.
   */
  restorePut(rev: Revision, createRevision: number, version: number): void {
    if (this.revs.length === 0) this.revs = [rev];
    else this.revs.push(rev);
    this.created = createRevision;
    this.ver = version;
  }

  /** Rebuilding from disk: a tombstone, possibly the only record left of its life. */
  restoreTombstone(rev: Revision): void {
    if (this.revs.length === 0) {
      this.revs = [rev];
      this.created = rev.main;
    } else {
      this.revs.push(rev);
    }
    this.ver++;
    this.closeLife();
  }

  /** The key's state at main revision `atRev`, or undefined if it did not exist then. */
  get(atRev: number): KeyState | undefined {
    if (this.revs.length > 0 && this.revs[0]!.main <= atRev) {
      return this.stateIn(this.revs, this.ver, this.created, atRev, false);
    }
    const past = this.past;
    if (past === undefined) return undefined;
    for (let gi = past.length - 1; gi >= 0; gi--) {
      const g = past[gi]!;
      if (g.revs.length === 0 || g.revs[0]!.main > atRev) continue;
      return this.stateIn(g.revs, g.ver, g.created, atRev, true);
    }
    return undefined;
  }

  /** The state at atRev inside one generation whose first revision is <= atRev. */
  private stateIn(
    revs: Revision[],
    ver: number,
    created: number,
    atRev: number,
    closed: boolean,
  ): KeyState | undefined {
    let lo = 0;
    let hi = revs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (revs[mid]!.main <= atRev) lo = mid;
      else hi = mid - 1;
    }
    // The last revision of a closed life is its tombstone: the key did not exist then.
    if (closed && lo === revs.length - 1) return undefined;
    return {
      modified: revs[lo]!,
      createRevision: created,
      version: ver - (revs.length - 1 - lo),
      index: this,
    };
  }

  /**
   * Drops every revision superseded at `atRev`, adding the revisions that must
   * stay on disk to `keep`: the key's record as of `atRev`, and a tombstone that
   * sits exactly at `atRev` (so a watch from the compact revision still sees
   * that delete; etcd #18274). Returns true when nothing is left of the key.
   */
  compact(atRev: number, keep: Set<string>, idOf: (r: Revision) => string): boolean {
    const kept: Generation[] = [];
    for (const g of this.past ?? []) {
      const revs = g.revs;
      if (revs.length === 0) continue;
      const last = revs[revs.length - 1]!;
      if (last.main <= atRev) {
        if (last.main === atRev) {
          keep.add(idOf(last));
          kept.push({ ver: g.ver, created: g.created, revs: [last] });
        }
        continue;
      }
      kept.push({ ver: g.ver, created: g.created, revs: KeyIndex.keepFrom(g.revs, atRev, keep, idOf) });
    }
    this.past = kept.length === 0 ? undefined : kept.slice(); // exact capacity (see put)
    if (this.revs.length > 0) this.revs = KeyIndex.keepFrom(this.revs, atRev, keep, idOf);
    return this.past === undefined && this.revs.length === 0;
  }

  /** The revisions from the last one <= atRev on (which is kept on disk). */
  private static keepFrom(
    revs: Revision[],
    atRev: number,
    keep: Set<string>,
    idOf: (r: Revision) => string,
  ): Revision[] {
    if (revs[0]!.main > atRev) return revs;
    let n = 0;
    while (n + 1 < revs.length && revs[n + 1]!.main <= atRev) n++;
    keep.add(idOf(revs[n]!));
    return n === 0 ? revs : revs.slice(n);
  }
}
