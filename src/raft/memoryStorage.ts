import { ConfState, HardState, Snapshot, SnapshotMetadata, type Entry } from '../proto/raftpb.js';
import { limitSize } from './entrySize.js';
import { RaftInvariantError } from './errors.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError, type RaftStorage } from './storage.js';

/**
 * The log since the last snapshot, in memory (etcd's MemoryStorage). The
 * server appends what it made durable elsewhere; tests and the simulator
 * use it as the disk itself. ents[0] is a dummy entry standing for the
 * snapshot's last entry: its index and term, no data.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = HardState.create();
  private snap: Snapshot = Snapshot.create({
    metadata: SnapshotMetadata.create({ confState: ConfState.create() }),
  });
  private ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return {
      hardState: { ...this.hardState },
      confState: this.snap.metadata?.confState ?? ConfState.create(),
    };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new CompactedError();
    if (hi > this.lastIndex() + 1) throw new UnavailableError();
    // Only the dummy entry: nothing but the snapshot.
    if (this.ents.length === 1) throw new UnavailableError();
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize);
  }

  term(i: number): number {
    const offset = this.offset();
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.ents.length) throw new UnavailableError();
    return this.ents[i - offset]!.term;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot (a follower installing one from its leader). */
  applySnapshot(snap: Snapshot): void {
    const index = snap.metadata?.index ?? 0;
    if (this.snap.metadata && index <= this.snap.metadata.index) throw new SnapshotOutOfDateError();
    this.snap = snap;
    this.ents = [{ term: snap.metadata?.term ?? 0, index, type: 0, data: new Uint8Array(0) }];
  }

  /**
   * Records a snapshot of the application at index i (which must be applied
   * by the caller), with the configuration at that index. The log is not
   * compacted; call compact() for that.
   */
  createSnapshot(i: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= (this.snap.metadata?.index ?? 0)) throw new SnapshotOutOfDateError();
    if (i > this.lastIndex())
      throw new RaftInvariantError(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const term = this.ents[i - this.offset()]!.term;
    this.snap = Snapshot.create({
      data,
      metadata: SnapshotMetadata.create({
        index: i,
        term,
        confState: confState ?? this.snap.metadata?.confState ?? ConfState.create(),
      }),
    });
    return this.snap;
  }

  /** Discards entries before compactIndex; compactIndex itself becomes the dummy entry. */
  compact(compactIndex: number): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new CompactedError();
    if (compactIndex > this.lastIndex()) {
      throw new RaftInvariantError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const i = compactIndex - offset;
    const dummy: Entry = {
      term: this.ents[i]!.term,
      index: this.ents[i]!.index,
      type: 0,
      data: new Uint8Array(0),
    };
    const kept = this.ents.slice(i + 1);
    kept.unshift(dummy);
    this.ents = kept;
  }

  /**
   * Appends entries that were made durable. Entries may overlap the log:
   * everything from the first new index on is replaced (a conflicting suffix
   * from an older leader goes away). Entries already compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    let ents = entries;
    if (first > entries[0]!.index) ents = entries.slice(first - entries[0]!.index);
    const at = ents[0]!.index - this.offset();
    if (at > this.ents.length) {
      throw new RaftInvariantError(
        `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`,
      );
    }
    if (at < this.ents.length) this.ents.length = at;
    for (const e of ents) this.ents.push(e);
  }
}
