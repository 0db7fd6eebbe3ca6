import type { Logger } from 'pino';
import { Observable, Subject } from 'rxjs';
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Backend, type BackendOp, type RecordsView } from '../storage/backend/backend.js';
import { pathExists } from '../storage/pathExists.js';
import { syncDir } from '../storage/syncDir.js';
import {
  BACKEND_FORMAT,
  describeBackendKey,
  encodeCounter,
  leaseKey,
  metaKey,
  type MetaName,
} from '../storage/backend/layout.js';
import { ErrCompacted, ErrFutureRev, MvccError } from './errors.js';
import { MvccStats, timed } from './kvStats.js';
import { KeySpace, type PendingRecord, type RangeResult } from './keySpace.js';
import { Compactor, type CompactResult } from './kvStoreCompaction.js';
import { hashBackend, hashKV, type HashKVResult } from './kvStoreHash.js';
import { eventsBetween, type HistoryOptions, type RevisionChanges } from './kvStoreHistory.js';
import { restoreKeySpace } from './kvStoreRestore.js';
import { writeBackendFromRecords, type SnapshotRecords } from './kvStoreSnapshot.js';
import {
  StoreWriteTxn,
  type DeleteResult,
  type PutOptions,
  type PutResult,
  type ReadView,
  type WriteTxn,
} from './kvStoreTxn.js';
import { LeaseTable, type LeaseRecord } from './leaseTable.js';
import type { RangeOptions } from './rangeQuery.js';
import { revisionId } from './revision.js';

export type { RangeOptions } from './rangeQuery.js';
export type { LeaseRecord } from './leaseTable.js';
export type { RangeResult } from './keySpace.js';
export type { DeleteResult, PutOptions, PutResult, ReadView, WriteTxn } from './kvStoreTxn.js';
export type { CompactResult } from './kvStoreCompaction.js';
export type { HashKVResult } from './kvStoreHash.js';
export type { RevisionChanges } from './kvStoreHistory.js';

export interface KvStoreOptions {
  logger: Logger;
  /** Records examined per physical compaction batch (etcd: 1000). */
  compactionBatchLimit?: number;
  /** Pause between physical compaction batches so writes interleave (etcd: 10 ms). */
  compactionBatchIntervalMs?: number;
}

/**
 * etcd's MVCC key space on classic-level: revisions, an in-memory key index
 * rebuilt on open, range/put/delete/txn, compaction, hashes and the lease table.
 *
 * Writes are serialized (one write txn at a time) and become visible to reads
 * when their txn ends; they reach disk at the next commit(), which writes the
 * effects of all finished txns together with the consistent (applied) index
 * and the current revision in one atomic batch.
 *
 * This file holds the store's life (open, commit, close) and the order its
 * parts run in; the parts are beside it: the shared key space (keySpace.ts),
 * restore, txn, compaction, history, hash and snapshot (kvStore*.ts).
 */
export class KvStore {
  // Replaced together when a snapshot's state takes the store's place (replaceWith).
  private backend: Backend;
  private space: KeySpace;
  private compactor: Compactor;
  private readonly changesSubject = new Subject<RevisionChanges>();
  private readonly pendingMeta = new Map<MetaName, number>();
  /** Records other parts keep beside the key space (the auth store), by key in hex; undefined deletes. */
  private readonly pendingRecords = new Map<string, { key: Buffer; value: Uint8Array | undefined }>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private commitChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when a commit failed: nothing more may be committed (see commit()). */
  private failure: Error | undefined;
  private _consistentIndex = 0;
  /** The consistent index of the newest commit() call (written or not yet). */
  private lastCommitIndex = 0;

  /** Counts and timings of what the store does, for the member's metrics. */
  readonly stats = new MvccStats();

  /** One emission per write txn that changed something, once it is visible to reads. */
  readonly changes$: Observable<RevisionChanges> = this.changesSubject.asObservable();

  private constructor(
    backend: Backend,
    private readonly logger: Logger,
    private readonly opts: KvStoreOptions,
  ) {
    this.backend = backend;
    this.space = new KeySpace(backend);
    this.compactor = this.newCompactor();
  }

  private newCompactor(): Compactor {
    return new Compactor(this.space, this.logger, {
      batchLimit: this.opts.compactionBatchLimit,
      batchIntervalMs: this.opts.compactionBatchIntervalMs,
      stats: this.stats,
    });
  }

  get currentRevision(): number {
    return this.space.currentRevision;
  }
  /** Reads below this revision fail with the compacted error (0: never compacted). */
  get compactRevision(): number {
    return this.space.compactRevision;
  }
  /** The applied index of the last commit(), or as read back on open. */
  get consistentIndex(): number {
    return this._consistentIndex;
  }

  static async open(dir: string, opts: KvStoreOptions): Promise<KvStore> {
    await finishReplacement(dir, opts.logger);
    const backend = await Backend.open(dir, describeBackendKey);
    const store = new KvStore(backend, opts.logger, opts);
    try {
      await store.restore();
    } catch (e) {
      await backend.close();
      throw e;
    }
    return store;
  }

  private async restore(): Promise<void> {
    const { consistentIndex, scheduledCompact, finishedCompact } = await restoreKeySpace(this.space);
    this._consistentIndex = consistentIndex;
    this.lastCommitIndex = consistentIndex;
    this.logger.info(
      {
        dir: this.backend.dir,
        revision: this.space.currentRevision,
        'compact-revision': this.space.compactRevision,
        'consistent-index': this._consistentIndex,
        keys: this.space.tree.size,
      },
      'mvcc: key space restored',
    );
    if (scheduledCompact > finishedCompact) {
      // A crash interrupted the physical compaction: finish it.
      this.logger.warn(
        { scheduled: scheduledCompact, finished: finishedCompact },
        'mvcc: resuming an interrupted compaction',
      );
      this.compactor.resume(scheduledCompact);
    }
  }

  // ------------------------------------------------------------------ reads

  /** Range at the current revision (or opts.revision). */
  range(key: Uint8Array, rangeEnd?: Uint8Array, opts?: RangeOptions): Promise<RangeResult> {
    this.assertOpen();
    return this.space.rangeAt(key, rangeEnd, opts ?? {}, this.space.currentRevision);
  }

  /** A read view pinned at the current revision; its ranges are counted in `stats`. */
  readView(): ReadView {
    const revision = this.space.currentRevision;
    return {
      revision,
      range: (key, rangeEnd, opts) => {
        this.stats.ranges++;
        return this.space.rangeAt(key, rangeEnd, opts ?? {}, revision);
      },
    };
  }

  /** The changes of main revisions fromRev..toRev: see kvStoreHistory.ts. */
  async eventsBetween(fromRev: number, toRev: number, opts?: HistoryOptions): Promise<RevisionChanges[]> {
    this.assertOpen();
    return eventsBetween(this.space, fromRev, toRev, opts);
  }

  // ----------------------------------------------------------------- writes

  /**
   * Runs `fn` as one write transaction. Transactions run one at a time, in call
   * order. If `fn` throws, every change it made is undone and the error is
   * rethrown; the revision does not move.
   */
  write<T>(fn: (txn: WriteTxn) => Promise<T> | T): Promise<T> {
    return this.runTxn(fn);
  }

  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<PutResult> {
    return this.write((txn) => txn.put(key, value, opts));
  }

  deleteRange(key: Uint8Array, rangeEnd?: Uint8Array, opts?: { prevKv?: boolean }): Promise<DeleteResult> {
    return this.write((txn) => txn.deleteRange(key, rangeEnd, opts));
  }

  private runTxn<T>(fn: (txn: StoreWriteTxn) => Promise<T> | T): Promise<T> {
    this.assertOpen();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const run = async (): Promise<T> => {
      const txn = new StoreWriteTxn(this.space, this.space.currentRevision, this.stats);
      let result: T;
      try {
        result = await fn(txn);
      } catch (e) {
        txn.rollback();
        throw e;
      }
      const events = txn.finish();
      if (events.length > 0) {
        // Visible to reads and announced in the same tick.
        this.space.currentRevision = txn.beginRevision + 1;
        this.changesSubject.next({ revision: this.space.currentRevision, events });
      }
      return result;
    };
    const p = this.writeChain.then(run, run);
    this.writeChain = p.catch(() => undefined);
    return p;
  }

  // ----------------------------------------------------------------- commit

  /**
   * Writes the effects of every finished txn, the lease table changes, the
   * consistent index and the current revision in one atomic batch. Commits are
   * written in call order. `sync` (default false) waits for the disk: the raft
   * log is the durable record, so replay covers what an unsynced commit loses.
   */
  commit(opts: { consistentIndex: number; sync?: boolean }): Promise<void> {
    this.assertOpen();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (opts.consistentIndex < this.lastCommitIndex) {
      return Promise.reject(
        new Error(
          `mvcc: consistent index going backwards (${opts.consistentIndex} < ${this.lastCommitIndex})`,
        ),
      );
    }
    this.lastCommitIndex = opts.consistentIndex;
    // The batch is fixed now: exactly the effects applied before this call belong
    // to this consistent index (taking them later could persist an index below
    // effects it does not cover, and replay would apply those twice).
    const revision = this.space.currentRevision;
    const records: PendingRecord[] = [];
    for (const p of this.space.pending.values()) if (p.rev.main <= revision) records.push(p);
    const ops: BackendOp[] = records.map((p) => ({ type: 'put', key: p.dbKey, value: p.payload }));
    for (const [id, rec] of this.space.leases.takeDirty()) {
      ops.push(
        rec === undefined
          ? { type: 'del', key: leaseKey(id) }
          : { type: 'put', key: leaseKey(id), value: LeaseTable.encode(rec) },
      );
    }
    this.pendingMeta.set('consistentIndex', opts.consistentIndex);
    this.pendingMeta.set('currentRevision', revision);
    this.pendingMeta.set('format', BACKEND_FORMAT);
    for (const [name, n] of this.pendingMeta)
      ops.push({ type: 'put', key: metaKey(name), value: encodeCounter(n) });
    this.pendingMeta.clear();
    for (const { key, value } of this.pendingRecords.values())
      ops.push(value === undefined ? { type: 'del', key } : { type: 'put', key, value });
    this.pendingRecords.clear();
    const jobs = this.compactor.takeScheduled();
    const write = async (): Promise<void> => {
      if (this.failure !== undefined) throw this.failure;
      try {
        await timed(this.stats.timings.commit, () => this.backend.write(ops, opts.sync ?? false));
      } catch (e) {
        // As etcd treats a failed backend commit as fatal: the lease and meta
        // changes of this batch are gone from memory, so no later batch may be
        // written as if they were on disk. Reopening replays from the raft log.
        this.failure = new Error(`mvcc: commit failed, the store must be reopened: ${(e as Error).message}`, {
          cause: e,
        });
        this.logger.error({ err: e }, 'mvcc: commit failed');
        throw this.failure;
      }
      const { pending } = this.space;
      for (const p of records) if (pending.get(revisionId(p.rev)) === p) pending.delete(revisionId(p.rev));
      this._consistentIndex = Math.max(this._consistentIndex, opts.consistentIndex);
      for (const job of jobs) this.compactor.start(job);
    };
    const p = this.commitChain.then(write);
    this.commitChain = p.catch(() => undefined);
    return p;
  }

  // ---------------------------------------------------------- other records

  /**
   * Puts (or, with `value` undefined, deletes) a record another part of the
   * member keeps in this backend (the auth store, layout.ts): it is written
   * by the next commit, in the same atomic batch as the key space's effects
   * and the applied index they all belong to.
   */
  stageRecord(key: Buffer, value: Uint8Array | undefined): void {
    this.assertOpen();
    this.pendingRecords.set(key.toString('hex'), { key, value });
  }

  /** The committed records whose keys start with `prefix`, in key order, verified. */
  async recordsUnder(prefix: Buffer): Promise<Array<{ key: Buffer; payload: Buffer }>> {
    this.assertOpen();
    const out: Array<{ key: Buffer; payload: Buffer }> = [];
    for await (const page of this.backend.scanPrefix(prefix)) out.push(...page);
    return out;
  }

  // ------------------------------------------------------------- compaction

  /**
   * Compacts at `revision`: at once in memory (reads below it fail from now on),
   * on disk in batches that let writes through, starting after the next commit()
   * (which persists the scheduled revision with the applied index).
   */
  compact(revision: number): Promise<CompactResult> {
    this.assertOpen();
    return this.write(() => {
      if (revision <= this.space.compactRevision) throw ErrCompacted();
      if (revision > this.space.currentRevision) throw ErrFutureRev();
      const result = this.compactor.schedule(revision);
      this.pendingMeta.set('scheduledCompact', revision);
      return result;
    });
  }

  // ----------------------------------------------------------------- hashes

  /** etcd's HashKV at `revision` (0 = current): see kvStoreHash.ts. */
  async hashKV(revision = 0): Promise<HashKVResult> {
    this.assertOpen();
    return timed(this.stats.timings.hashKV, () => hashKV(this.space, revision));
  }

  /** etcd's Hash: CRC-32C of every committed record of the backend (key space and leases). */
  async hash(): Promise<{ hash: number; revision: number }> {
    this.assertOpen();
    await this.commitChain;
    const revision = this.space.currentRevision;
    return { hash: await timed(this.stats.timings.hash, () => hashBackend(this.backend)), revision };
  }

  // ----------------------------------------------------------------- leases

  /** Adds a lease to the table (persisted at the next commit). */
  leaseGrant(id: bigint, ttl: number): LeaseRecord {
    this.assertOpen();
    if (this.space.leases.has(id)) throw new MvccError('leaseExists');
    return this.space.leases.grant(id, ttl);
  }

  /** Records a lease's remaining TTL (etcd's lease checkpoint); unknown leases are ignored. */
  leaseCheckpoint(id: bigint, remainingTtl: number): void {
    this.assertOpen();
    this.space.leases.checkpoint(id, remainingTtl);
  }

  /**
   * Deletes every key attached to the lease, in key order, in one revision,
   * and removes the lease. Throws MvccError('leaseNotFound').
   */
  leaseRevoke(id: bigint): Promise<{ revision: number; deleted: number }> {
    const { leases } = this.space;
    return this.runTxn(async (txn) => {
      if (!leases.has(id)) throw new MvccError('leaseNotFound');
      let deleted = 0;
      for (const name of leases.keysOf(id))
        deleted += (await txn.deleteRange(Buffer.from(name, 'latin1'))).deleted;
      // Removed when the txn ends, so no commit can persist the removal without the deletes.
      txn.onFinish(() => leases.remove(id));
      return { revision: txn.revision, deleted };
    });
  }

  lease(id: bigint): LeaseRecord | undefined {
    return this.space.leases.get(id);
  }

  leases(): LeaseRecord[] {
    return this.space.leases.all();
  }

  /** Keys attached to the lease, in byte order. */
  keysOfLease(id: bigint): Uint8Array[] {
    return this.space.leases.keysOf(id).map((name) => Buffer.from(name, 'latin1'));
  }

  // ------------------------------------------------------------------- size

  /** Bytes of the backend files on disk (etcd's dbSize). */
  dbSize(): Promise<number> {
    return this.backend.sizeOnDisk();
  }

  /** Bytes the records take in the backend's tables (etcd's size in use). */
  dbSizeInUse(): Promise<number> {
    return this.backend.sizeInUse();
  }

  /** Number of keys in the index (live or with history). */
  get indexedKeys(): number {
    return this.space.tree.size;
  }

  /** Gives the space of deleted and compacted records back to the file system (etcd's defragment). */
  async defragment(): Promise<void> {
    this.assertOpen();
    const { timings } = this.stats;
    timings.defragRunning?.(true);
    try {
      await timed(timings.defrag, () => this.backend.compactAll());
    } finally {
      timings.defragRunning?.(false);
    }
  }

  // --------------------------------------------------------------- snapshot

  /**
   * The whole key space, raw and consistent, for a snapshot that can restore a
   * member: the committed records (key space, leases, and the meta records with
   * the consistent index and revision they belong to). Uncommitted txns are not
   * in it; call commit() first to include them.
   */
  snapshotRecords(): AsyncGenerator<Array<[Buffer, Buffer]>> {
    this.assertOpen();
    return this.backend.records();
  }

  /**
   * The committed records as they are at this call, for a snapshot sent to a
   * peer while writes go on: commit() first for everything applied to be in it.
   */
  recordsAsOfNow(): RecordsView {
    this.assertOpen();
    return this.backend.recordsAsOfNow();
  }

  /**
   * Replaces the whole key space with another store's records (a snapshot
   * from the leader; etcd's mvcc Restore). The new store is written and synced
   * beside this one and then swapped in by renames, so a crash leaves the old
   * store or the new one (open() finishes a swap a crash cut short). Changes
   * not committed are dropped: the snapshot supersedes them. Reads see the old
   * state until the swap and the new one after it; the change stream skips
   * ahead, so a watchable store must resync.
   */
  async replaceWith(records: SnapshotRecords): Promise<void> {
    this.assertOpen();
    const swap = async (): Promise<void> => {
      await this.commitChain;
      await this.compactor.stop();
      const dir = this.backend.dir;
      await rm(`${dir}${INCOMING}`, { recursive: true, force: true });
      await writeBackendFromRecords(`${dir}${INCOMING}`, records);
      await this.backend.close();
      await rename(dir, `${dir}${REPLACED}`);
      await rename(`${dir}${INCOMING}`, dir);
      await syncDir(dirname(dir));
      await rm(`${dir}${REPLACED}`, { recursive: true, force: true });
      this.backend = await Backend.open(dir, describeBackendKey);
      this.space = new KeySpace(this.backend);
      this.compactor = this.newCompactor();
      this.pendingMeta.clear();
      this.pendingRecords.clear();
      this.failure = undefined;
      await this.restore();
      this.lastCommitIndex = this._consistentIndex;
    };
    // In the write order, so no txn runs against a store being swapped.
    const p = this.writeChain.then(swap, swap);
    this.writeChain = p.catch(() => undefined);
    return p;
  }

  /**
   * Builds a store in `dir` (which must not exist) from snapshotRecords() of
   * another store and opens it (see kvStoreSnapshot.ts).
   */
  static async restoreFromRecords(
    dir: string,
    records: SnapshotRecords,
    opts: KvStoreOptions,
  ): Promise<KvStore> {
    await writeBackendFromRecords(dir, records);
    return KvStore.open(dir, opts);
  }

  // ------------------------------------------------------------------ close

  /**
   * Waits for running writes and commits, stops a running physical compaction
   * (it resumes on the next open) and closes the backend. Uncommitted changes are dropped.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeChain;
    await this.commitChain;
    this.closed = true;
    this.changesSubject.complete();
    await this.compactor.stop();
    await this.backend.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new MvccError('closed');
  }
}

/** Beside the store: a replacement being written, and the store it replaced. */
const INCOMING = '.incoming';
const REPLACED = '.replaced';

/**
 * Finishes or undoes a replacement a crash cut short: once the new store is
 * whole (it is renamed to `.incoming` only when written and synced) and the
 * old one was moved aside, the new one goes in; otherwise the old one stays.
 */
async function finishReplacement(dir: string, logger: Logger): Promise<void> {
  const incoming = `${dir}${INCOMING}`;
  if (!(await pathExists(dir)) && (await pathExists(incoming))) {
    logger.warn({ dir }, 'mvcc: finishing a key-space replacement a crash interrupted');
    await rename(incoming, dir);
    await syncDir(dirname(dir));
  }
  await rm(incoming, { recursive: true, force: true });
  await rm(`${incoming}.restoring`, { recursive: true, force: true });
  await rm(`${dir}${REPLACED}`, { recursive: true, force: true });
}
