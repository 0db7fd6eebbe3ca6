import type { Logger } from 'pino';
import { Entry, HardState, SnapshotMetadata } from '../../proto/raftpb.js';
import type { Snapshot } from '../../proto/raftpb.js';
import { RaftLogClosedError, RaftLogFailedError, RaftLogWriteError } from './errors.js';
import { loadRaftLog, type RaftLogDb, type RaftLogState } from './load.js';
import type { RaftLogOutline } from './outline.js';
import {
  RecordKind,
  boundsKey,
  encodeBounds,
  encodeEntryPayload,
  encodeRecord,
  entryKey,
  hardStateKey,
  snapshotKey,
} from './records.js';

export type { RaftLogState } from './load.js';

/** The durable part of a Ready. A Ready itself fits this type. */
export interface RaftLogWrite {
  hardState?: HardState;
  entries: readonly Entry[];
  /** A snapshot received from the leader: it replaces the log (only its metadata is stored here). */
  snapshot?: Snapshot;
}

export interface RaftLogStoreOptions {
  logger: Logger;
  /**
   * Observes the seconds each synced batch took (write + fsync): hand it
   * etcd_disk_wal_fsync_duration_seconds, the metric etcd operators watch for
   * a disk too slow for Raft.
   */
  fsyncDuration?: { observe(seconds: number): void };
}

/** etcd warns when one WAL sync takes longer than this (wal.warnSyncDuration). */
const WARN_SYNC_SECONDS = 1;

type Op = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

interface PendingWrite {
  ops: Op[];
  sync: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable Raft log: entries, hard state and snapshot metadata in a
 * classic-level (LevelDB) database, doing for xetcd what etcd's WAL does.
 *
 * The design splits reading from writing. Raft reads its log synchronously
 * from the server's MemoryStorage (src/raft/memoryStorage.ts), as etcd's raft
 * does; this store only makes that log durable and hands it back on open
 * (`RaftLogStore.open` returns the state; `restoreMemoryStorage` fills a
 * MemoryStorage from it; load.ts reads and verifies the records on open).
 * Keeping a second in-memory copy of entries here would only be a second
 * source of truth to get out of step.
 *
 * Writes:
 * - every save/saveSnapshot/compact is one atomic LevelDB batch; the promise
 *   resolves only once the batch is written (and fsynced when `sync`);
 * - writes are checked when they are issued, against the state all earlier
 *   writes will leave (see RaftLogOutline), and refused with RaftLogWriteError
 *   if they would leave a gap, regress a term, change a vote or commit past the
 *   log;
 * - writes land in the order they were issued. LevelDB may run two batches
 *   issued back to back on different threads, so the store never has two in
 *   flight: writes issued while one is in flight wait in a queue and then go
 *   down together as one batch (group commit), in issue order, so a newer write
 *   for the same indexes always wins (testing-scenarios 27);
 * - if a write fails, every queued and later write fails too: the disk no
 *   longer matches what the later writes were checked against.
 */
export class RaftLogStore {
  private readonly queue: PendingWrite[] = [];
  private draining: Promise<void> | undefined;
  private failure: unknown = undefined;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly db: RaftLogDb,
    private readonly outline: RaftLogOutline,
    private readonly logger: Logger,
    private readonly fsyncDuration: { observe(seconds: number): void } | undefined,
  ) {}

  /**
   * Opens (or creates) the store in `dir`, verifies every record, and returns
   * it with the state it holds. Throws CorruptDataError when a record fails its
   * checksum or the records do not form a valid log.
   */
  static async open(
    dir: string,
    opts: RaftLogStoreOptions,
  ): Promise<{ store: RaftLogStore; state: RaftLogState }> {
    const started = performance.now();
    const logger = opts.logger.child({ component: 'raft-log' });
    const { db, outline, state, fresh } = await loadRaftLog(dir, logger);
    const store = new RaftLogStore(dir, db, outline, logger, opts.fsyncDuration);
    logger.info(
      {
        dir,
        fresh,
        'first-index': state.entries[0]?.index ?? outline.snapshotIndex + 1,
        'last-index': outline.lastIndex,
        entries: state.entries.length,
        'snapshot-index': outline.snapshotIndex,
        term: state.hardState.term,
        vote: state.hardState.vote.toString(16),
        commit: state.hardState.commit,
        'duration-ms': Math.round((performance.now() - started) * 10) / 10,
      },
      'raft log opened',
    );
    return { store, state };
  }

  /** The first index of the log: one past the snapshot. */
  get firstIndex(): number {
    return this.outline.snapshotIndex + 1;
  }

  /** The last index of the log once every issued write has landed. */
  get lastIndex(): number {
    return this.outline.lastIndex;
  }

  /** The hard state once every issued write has landed (zero if none was ever written). */
  get hardState(): HardState {
    return this.outline.hardState ?? HardState.create();
  }

  /** The newest snapshot's metadata once every issued write has landed. */
  get snapshotMetadata(): SnapshotMetadata | undefined {
    return this.outline.snapshot;
  }

  /**
   * Makes the durable part of a Ready durable: appends the entries (replacing
   * any stored suffix from the first of them), stores the hard state, and
   * installs the snapshot's metadata (a snapshot from the leader replaces the
   * whole log, so every stored entry goes). One atomic batch, fsynced when
   * `sync` (a Ready's mustSync) and always when it holds entries or a
   * snapshot. Resolves once written.
   */
  save(write: RaftLogWrite, opts: { sync: boolean } = { sync: true }): Promise<void> {
    const usable = this.usable();
    if (usable) return Promise.reject(usable);
    let checked: { hardState?: HardState; entries: readonly Entry[]; snapshot?: SnapshotMetadata };
    try {
      const meta = write.snapshot === undefined ? undefined : snapshotMetadataOf(write.snapshot);
      checked = { hardState: write.hardState, entries: write.entries, snapshot: meta };
      this.outline.checkWrite(checked);
    } catch (err) {
      return Promise.reject(err);
    }
    const meta = checked.snapshot;
    const ops: Op[] = [];
    const before = { offset: this.outline.offset, lastEntry: this.outline.lastEntryIndex };
    if (meta !== undefined) {
      for (let i = before.offset; i <= before.lastEntry; i++) ops.push({ type: 'del', key: entryKey(i) });
      ops.push({ type: 'put', key: snapshotKey, value: encodeSnapshotMetadata(meta) });
    } else if (write.entries.length > 0) {
      // The suffix beyond the new entries goes; the new entries overwrite the rest in place.
      const from = write.entries[write.entries.length - 1]!.index + 1;
      for (let i = from; i <= before.lastEntry; i++) ops.push({ type: 'del', key: entryKey(i) });
    }
    const first = write.entries[0]?.index ?? 0;
    let prevTerm = meta !== undefined ? meta.term : (this.outline.term(first - 1) ?? 0);
    for (const e of write.entries) {
      ops.push({
        type: 'put',
        key: entryKey(e.index),
        value: encodeRecord(RecordKind.Entry, e.index, encodeEntryPayload(prevTerm, Entry.encode(e))),
      });
      prevTerm = e.term;
    }
    if (write.hardState !== undefined) {
      ops.push({
        type: 'put',
        key: hardStateKey,
        value: encodeRecord(RecordKind.HardState, 0, HardState.encode(write.hardState)),
      });
    }
    if (ops.length === 0) return this.enqueue([], false);
    this.outline.applyWrite(checked);
    ops.push(this.boundsOp());
    // Entries and snapshots are always synced, whatever the caller says: an unsynced batch can be
    // lost on power failure while a later synced one (in LevelDB's next log file) survives, and a
    // hole in the log is corruption. Only a hard-state-only write may skip the sync (Raft's mustSync).
    const sync = opts.sync || write.entries.length > 0 || meta !== undefined;
    return this.enqueue(ops, sync);
  }

  /**
   * Records a snapshot the server took of its own state machine at
   * `metadata.index` (etcd's SaveSnap for a local snapshot). Unlike a snapshot
   * in a Ready, it keeps the entries: the index must be committed and the term
   * must match the stored entry there. Replay after a restart starts here.
   *
   * A new member persists its initial configuration the same way, before its
   * first Ready: `saveSnapshot({ index: 0, term: 0, confState })`, the
   * metadata RaftNode.bootstrap put into its MemoryStorage.
   */
  saveSnapshot(metadata: SnapshotMetadata): Promise<void> {
    const usable = this.usable();
    if (usable) return Promise.reject(usable);
    const o = this.outline;
    const commit = o.hardState?.commit ?? 0;
    if (metadata.index < o.snapshotIndex) {
      return Promise.reject(
        new RaftLogWriteError(
          `snapshot ${metadata.index} is older than the stored snapshot ${o.snapshotIndex}`,
        ),
      );
    }
    if (metadata.index > commit) {
      return Promise.reject(
        new RaftLogWriteError(`snapshot ${metadata.index} is beyond the commit index ${commit}`),
      );
    }
    const term = o.term(metadata.index);
    if (term !== metadata.term) {
      return Promise.reject(
        new RaftLogWriteError(
          `snapshot ${metadata.index} has term ${metadata.term} but the log has ${term ?? 'no entry'} there`,
        ),
      );
    }
    o.snapshot = metadata;
    return this.enqueue(
      [{ type: 'put', key: snapshotKey, value: encodeSnapshotMetadata(metadata) }, this.boundsOp()],
      true,
    );
  }

  /**
   * Drops the entries at and below `index` (etcd's MemoryStorage.Compact, made
   * durable). The index may not pass the stored snapshot: what is dropped must
   * be covered by a snapshot, or a restart could not rebuild the log.
   */
  compact(index: number): Promise<void> {
    const usable = this.usable();
    if (usable) return Promise.reject(usable);
    const o = this.outline;
    if (index > o.snapshotIndex) {
      return Promise.reject(
        new RaftLogWriteError(`cannot compact to ${index}: the newest snapshot is at ${o.snapshotIndex}`),
      );
    }
    const ops: Op[] = [];
    for (let i = o.offset; i <= Math.min(index, o.lastEntryIndex); i++)
      ops.push({ type: 'del', key: entryKey(i) });
    o.compact(index);
    ops.push(this.boundsOp());
    // Synced although losing it would only bring entries back: see save() on unsynced batches
    // lost behind synced ones; the bounds record of a later write would then not match.
    return this.enqueue(ops, true);
  }

  /** Waits for every issued write, then closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.draining;
    await this.db.close();
  }

  private observeSync(seconds: number, writes: number): void {
    this.fsyncDuration?.observe(seconds);
    if (seconds > WARN_SYNC_SECONDS) {
      this.logger.warn(
        {
          dir: this.dir,
          'took-ms': Math.round(seconds * 1000),
          'expected-ms': WARN_SYNC_SECONDS * 1000,
          writes,
        },
        'slow raft log sync: the disk is too slow for Raft (elections may time out)',
      );
    }
  }

  private boundsOp(): Op {
    return { type: 'put', key: boundsKey, value: encodeBounds(this.outline.bounds()) };
  }

  private usable(): Error | undefined {
    if (this.closed) return new RaftLogClosedError();
    if (this.failure !== undefined) return new RaftLogFailedError(this.failure);
    return undefined;
  }

  /** Bytes of keys and records written since open (etcd_disk_wal_write_bytes_total). */
  bytesWritten = 0;

  private enqueue(ops: Op[], sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, sync, resolve, reject });
      if (this.draining === undefined) this.draining = this.drain();
    });
  }

  /** Writes the queue in issue order, one batch at a time, grouping what queued up meanwhile. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.queue.length);
      if (this.failure !== undefined) {
        for (const w of group) w.reject(new RaftLogFailedError(this.failure));
        continue;
      }
      const ops = group.length === 1 ? group[0]!.ops : group.flatMap((w) => w.ops);
      const sync = group.some((w) => w.sync);
      try {
        if (ops.length > 0) {
          const started = performance.now();
          await this.db.batch(ops, { sync });
          for (const op of ops)
            this.bytesWritten += op.key.length + (op.type === 'put' ? op.value.length : 0);
          if (sync) this.observeSync((performance.now() - started) / 1000, group.length);
        }
        for (const w of group) w.resolve();
      } catch (err) {
        this.failure = err;
        this.logger.error({ dir: this.dir, err }, 'raft log write failed; refusing further writes');
        for (const w of group) w.reject(new RaftLogFailedError(err));
      }
    }
    this.draining = undefined;
  }
}

function snapshotMetadataOf(s: Snapshot): SnapshotMetadata {
  // A Ready carries a snapshot only when there is one to install; without metadata it is meaningless.
  if (s.metadata === undefined || s.metadata.index === 0) {
    throw new RaftLogWriteError('a snapshot to install needs metadata with an index above 0');
  }
  return s.metadata;
}

function encodeSnapshotMetadata(meta: SnapshotMetadata): Uint8Array {
  return encodeRecord(RecordKind.Snapshot, 0, SnapshotMetadata.encode(meta));
}
