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
}

/**
 * The revisions of one key, grouped in generations as etcd's keyIndex does.
 * The last generation is the open one: empty while the key does not exist.
 */
export class KeyIndex {
  generations: Generation[] = [{ ver: 0, created: 0, revs: [] }];

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

  private get open(): Generation {
    return this.generations[this.generations.length - 1]!;
  }

  /** True when the key exists at the newest revision. */
  get live(): boolean {
    return this.open.revs.length > 0;
  }

  /** The newest revision of the key (put or tombstone), if any. */
  get lastRevision(): Revision | undefined {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const revs = this.generations[i]!.revs;
      if (revs.length > 0) return revs[revs.length - 1];
    }
    return undefined;
  }

  put(rev: Revision): void {
    const g = this.open;
    if (g.revs.length === 0) {
      g.created = rev.main;
      // A literal sized to its content: push() onto an empty array reserves 17
      // slots, which for 100,000 single-revision keys is most of the index.
      g.revs = [rev];
    } else {
      g.revs.push(rev);
    }
    g.ver++;
  }

  tombstone(rev: Revision): void {
    this.put(rev);
    this.closeGeneration();
  }

  private closeGeneration(): void {
    const gens = this.generations;
    this.generations = [...gens, { ver: 0, created: 0, revs: [] }];
  }

  /**
   * Rebuilding from disk: a put record carries its own create revision and
   * version, which stay right even when compaction removed earlier records.
   */
  restorePut(rev: Revision, createRevision: number, version: number): void {
    const g = this.open;
    if (g.revs.length === 0) g.revs = [rev];
    else g.revs.push(rev);
    g.created = createRevision;
    g.ver = version;
  }

  /** Rebuilding from disk: a tombstone, possibly the only record left of its life. */
  restoreTombstone(rev: Revision): void {
    const g = this.open;
    if (g.revs.length === 0) {
      g.revs = [rev];
      g.created = rev.main;
    } else {
      g.revs.push(rev);
    }
    g.ver++;
    this.closeGeneration();
  }

  /** The key's state at main revision `atRev`, or undefined if it did not exist then. */
  get(atRev: number): KeyState | undefined {
    const gens = this.generations;
    for (let gi = gens.length - 1; gi >= 0; gi--) {
      const g = gens[gi]!;
      const revs = g.revs;
      if (revs.length === 0 || revs[0]!.main > atRev) continue;
      let lo = 0;
      let hi = revs.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (revs[mid]!.main <= atRev) lo = mid;
        else hi = mid - 1;
      }
      const closed = gi < gens.length - 1;
      if (closed && lo === revs.length - 1) return undefined;
      return { modified: revs[lo]!, createRevision: g.created, version: g.ver - (revs.length - 1 - lo) };
    }
    return undefined;
  }

  /**
   * Drops every revision superseded at `atRev`, adding the revisions that must
   * stay on disk to `keep`: the key's record as of `atRev`, and a tombstone that
   * sits exactly at `atRev` (so a watch from the compact revision still sees
   * that delete; etcd #18274). Returns true when nothing is left of the key.
   */
  compact(atRev: number, keep: Set<string>, idOf: (r: Revision) => string): boolean {
    const kept: Generation[] = [];
    const gens = this.generations;
    for (let gi = 0; gi < gens.length; gi++) {
      const g = gens[gi]!;
      const closed = gi < gens.length - 1;
      const revs = g.revs;
      if (revs.length === 0) {
        kept.push(g);
        continue;
      }
      const last = revs[revs.length - 1]!;
      if (closed && last.main <= atRev) {
        if (last.main === atRev) {
          keep.add(idOf(last));
          kept.push({ ver: g.ver, created: g.created, revs: [last] });
        }
        continue;
      }
      if (revs[0]!.main > atRev) {
        kept.push(g);
        continue;
      }
      let n = 0;
      while (n + 1 < revs.length && revs[n + 1]!.main <= atRev) n++;
      keep.add(idOf(revs[n]!));
      kept.push({ ver: g.ver, created: g.created, revs: revs.slice(n) });
    }
    this.generations = kept.slice(); // exact capacity (see put)
    return kept.length === 1 && kept[0]!.revs.length === 0;
  }
}
