import { access, rename, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Observable, Subject } from 'rxjs';
import { Event, KeyValue } from '../proto/mvccpb.js';
import { Backend, type BackendOp } from '../storage/backend/backend.js';
import {
  KEY_PREFIX,
  LEASE_PREFIX,
  decodeCounter,
  describeBackendKey,
  encodeCounter,
  leaseKey,
  metaKey,
  parseLeaseKey,
  parseRevisionKey,
  revisionKey,
  revisionKeyBounds,
  type MetaName,
} from '../storage/backend/layout.js';
import { crc32c } from '../storage/backend/crc32c.js';
import { CorruptDataError } from '../storage/corruptDataError.js';
import { ErrCompacted, ErrFutureRev, MvccError } from './errors.js';
import type { KeyIndex, KeyState } from './keyIndex.js';
import { KeyIndexTree, keyName } from './keyIndexTree.js';
import { LeaseTable, type LeaseRecord } from './leaseTable.js';
import { normalizeRange, planRange, sortByValue, type RangeOptions } from './rangeQuery.js';
import { compareRevisions, revisionId, type Revision } from './revision.js';

export type { RangeOptions } from './rangeQuery.js';
export type { LeaseRecord } from './leaseTable.js';

/** All events of one main revision, in sub-revision order. */
export interface RevisionChanges {
  revision: number;
  events: Event[];
}

export interface KvStoreOptions {
  logger: Logger;
  /** Records examined per physical compaction batch (etcd: 1000). */
  compactionBatchLimit?: number;
  /** Pause between physical compaction batches so writes interleave (etcd: 10 ms). */
  compactionBatchIntervalMs?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Keys in the range at the read revision, ignoring limit (etcd 3.4: before the min/max filters). */
  count: number;
  /** True when `limit` cut the result short. */
  more: boolean;
  /** The revision of the view the read ran in (etcd's header revision for a Range). */
  revision: number;
}

export interface PutOptions {
  /** 0n or absent: no lease (a put without ignoreLease detaches the key from its lease). */
  lease?: bigint;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResult {
  /** The revision of the write (the txn's revision). */
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteResult {
  /** The txn's revision if anything was deleted so far in it, else the current revision. */
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

/** A consistent read view: the current revision when it was taken. */
export interface ReadView {
  /** Revision the view reads at: in a write txn, the txn's own revision once it has changed something. */
  readonly revision: number;
  range(key: Uint8Array, rangeEnd?: Uint8Array, opts?: RangeOptions): Promise<RangeResult>;
}

/**
 * A write transaction: one main revision for all its changes (sub-revisions in
 * call order). Reads inside it see its own writes. If nothing changes, the
 * store revision does not move.
 */
export interface WriteTxn extends ReadView {
  /** The store revision when the txn began. */
  readonly beginRevision: number;
  /** Whether the txn has changed anything so far. */
  readonly changed: boolean;
  /** Throws MvccError('keyNotFound') for ignoreValue/ignoreLease on a missing key, 'leaseNotFound' for an unknown lease. */
  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<PutResult>;
  deleteRange(key: Uint8Array, rangeEnd?: Uint8Array, opts?: { prevKv?: boolean }): Promise<DeleteResult>;
}

export interface CompactResult {
  /** Resolves when the superseded records are gone from disk (begins after the next commit()). */
  physicalDone: Promise<void>;
}

export interface HashKVResult {
  hash: number;
  /** The compact revision at the time of hashing. */
  compactRevision: number;
  /** The revision the key space was hashed at. */
  hashRevision: number;
}

interface PendingRecord {
  rev: Revision;
  dbKey: Buffer;
  payload: Uint8Array;
}

interface CompactionJob {
  revision: number;
  keep: Set<string>;
  done: () => void;
  failed: (e: unknown) => void;
}

const DB_FORMAT = 1;

/**
 * etcd's MVCC key space on classic-level: revisions, an in-memory key index
 * rebuilt on open, range/put/delete/txn, compaction, hashes and the lease table.
 *
 * Writes are serialized (one write txn at a time) and become visible to reads
 * when their txn ends; they reach disk at the next commit(), which writes the
 * effects of all finished txns together with the consistent (applied) index
 * and the current revision in one atomic batch.
 */
export class KvStore {
  private readonly tree = new KeyIndexTree();
  private readonly leaseTable = new LeaseTable();
  private readonly changesSubject = new Subject<RevisionChanges>();
  /** Records of finished (and the running) txns not yet on disk, by revisionId. */
  private readonly pending = new Map<string, PendingRecord>();
  private readonly pendingMeta = new Map<MetaName, number>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private commitChain: Promise<unknown> = Promise.resolve();
  private compactionChain: Promise<unknown> = Promise.resolve();
  private awaitingCommit: CompactionJob[] = [];
  /** Keep set of the newest compaction while its physical pass has not finished. */
  private closed = false;
  /** Set when a commit failed: nothing more may be committed (see commit()). */
  private failure: Error | undefined;
  private _currentRevision = 1;
  private _compactRevision = 0;
  private _consistentIndex = 0;
  /** The consistent index of the newest commit() call (written or not yet). */
  private lastCommitIndex = 0;
  private readonly batchLimit: number;
  private readonly batchIntervalMs: number;

  /** One emission per write txn that changed something, once it is visible to reads. */
  readonly changes$: Observable<RevisionChanges> = this.changesSubject.asObservable();

  private constructor(
    private readonly backend: Backend,
    private readonly logger: Logger,
    opts: KvStoreOptions,
  ) {
    this.batchLimit = opts.compactionBatchLimit ?? 1000;
    this.batchIntervalMs = opts.compactionBatchIntervalMs ?? 10;
  }

  get currentRevision(): number {
    return this._currentRevision;
  }
  /** Reads below this revision fail with the compacted error (0: never compacted). */
  get compactRevision(): number {
    return this._compactRevision;
  }
  /** The applied index of the last commit(), or as read back on open. */
  get consistentIndex(): number {
    return this._consistentIndex;
  }

  static async open(dir: string, opts: KvStoreOptions): Promise<KvStore> {
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

  // ---------------------------------------------------------------- restore

  private async readMeta(name: MetaName): Promise<number> {
    const v = await this.backend.get(metaKey(name));
    if (v === undefined) return 0;
    if (v.length !== 8)
      throw new CorruptDataError({
        dir: this.backend.dir,
        record: `meta record ${name}`,
        detail: 'bad length',
      });
    return decodeCounter(v);
  }

  private async restore(): Promise<void> {
    const format = await this.readMeta('format');
    if (format !== 0 && format !== DB_FORMAT) {
      throw new Error(
        `xetcd: ${this.backend.dir} has backend format ${format}, this version reads ${DB_FORMAT}`,
      );
    }
    this._consistentIndex = await this.readMeta('consistentIndex');
    this.lastCommitIndex = this._consistentIndex;
    const metaRevision = await this.readMeta('currentRevision');
    const scheduled = await this.readMeta('scheduledCompact');
    const finished = await this.readMeta('finishedCompact');

    let maxMain = 0;
    const contiguousFrom = Math.max(scheduled, finished, 1);
    const keyLease = new Map<string, bigint>();
    const { gte, lte } = revisionKeyBounds(0, 2 ** 48 - 1);
    for await (const page of this.backend.scan(gte, lte)) {
      for (const { key, payload } of page) {
        const { rev, tombstone } = parseRevisionKey(key);
        const kv = this.decodeRecord(key, payload, rev);
        const name = keyName(kv.key);
        const ki = this.tree.getOrCreate(name);
        const oldLease = keyLease.get(name);
        if (oldLease !== undefined) keyLease.delete(name);
        if (tombstone) {
          ki.restoreTombstone(rev);
        } else {
          // A new life although the previous one has no tombstone on disk: close it.
          if (kv.createRevision === rev.main && ki.live) ki.closeLife();
          ki.restorePut(rev, kv.createRevision, kv.version);
          if (kv.lease !== 0n) keyLease.set(name, kv.lease);
        }
        if (rev.main > maxMain) {
          // Every write creates at least one record, and compaction removes none
          // above the compact revision: a hole there means LevelDB lost a whole
          // batch (it skips a damaged log record and carries on).
          if (rev.main > contiguousFrom && rev.main !== Math.max(maxMain, contiguousFrom) + 1) {
            throw new CorruptDataError({
              dir: this.backend.dir,
              record: `key-space revision ${Math.max(maxMain, contiguousFrom) + 1}`,
              detail: `missing (next record is at revision ${rev.main})`,
            });
          }
          maxMain = rev.main;
        }
      }
    }
    if (metaRevision > Math.max(maxMain, contiguousFrom)) {
      throw new CorruptDataError({
        dir: this.backend.dir,
        record: `key-space revision ${metaRevision}`,
        detail: `missing (the newest record is at revision ${maxMain})`,
      });
    }
    for await (const page of this.backend.scan(
      Buffer.of(LEASE_PREFIX),
      Buffer.of(LEASE_PREFIX, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    )) {
      for (const { key, payload } of page) {
        this.leaseTable.restore(
          parseLeaseKey(key),
          payload,
          () =>
            new CorruptDataError({
              dir: this.backend.dir,
              record: describeBackendKey(key),
              detail: 'bad lease record',
            }),
        );
      }
    }
    for (const [name, lease] of keyLease) this.leaseTable.attach(lease, name);

    this._currentRevision = Math.max(1, metaRevision, maxMain);
    this._compactRevision = Math.max(scheduled, finished);
    if (this._compactRevision > this._currentRevision) {
      throw new CorruptDataError({
        dir: this.backend.dir,
        record: 'meta record scheduledCompact',
        detail: 'compact revision above the current revision',
      });
    }
    this.logger.info(
      {
        dir: this.backend.dir,
        revision: this._currentRevision,
        compactRevision: this._compactRevision,
        consistentIndex: this._consistentIndex,
        keys: this.tree.size,
      },
      'mvcc: key space restored',
    );
    if (scheduled > finished) {
      // A crash interrupted the physical compaction: finish it (etcd restores the same way).
      this.logger.warn({ scheduled, finished }, 'mvcc: resuming an interrupted compaction');
      const job = this.compactIndex(scheduled);
      this.startPhysical(job);
    }
  }

  /** Decodes a key-space record, refusing one that does not belong under its key. */
  private decodeRecord(key: Buffer, payload: Uint8Array, rev: Revision): KeyValue {
    let kv: KeyValue;
    try {
      kv = KeyValue.decode(payload);
    } catch (e) {
      throw new CorruptDataError({
        dir: this.backend.dir,
        record: describeBackendKey(key),
        detail: `undecodable KeyValue (${(e as Error).message})`,
      });
    }
    if (kv.modRevision !== rev.main || kv.key.length === 0) {
      throw new CorruptDataError({
        dir: this.backend.dir,
        record: describeBackendKey(key),
        detail: 'KeyValue does not match its revision',
      });
    }
    return kv;
  }

  // ------------------------------------------------------------------ reads

  /** Range at the current revision (or opts.revision). */
  range(key: Uint8Array, rangeEnd?: Uint8Array, opts?: RangeOptions): Promise<RangeResult> {
    this.assertOpen();
    return this.rangeAt(key, rangeEnd, opts ?? {}, this._currentRevision);
  }

  /** A read view pinned at the current revision. */
  readView(): ReadView {
    const revision = this._currentRevision;
    return { revision, range: (key, rangeEnd, opts) => this.rangeAt(key, rangeEnd, opts ?? {}, revision) };
  }

  private async rangeAt(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    opts: RangeOptions,
    viewRevision: number,
  ): Promise<RangeResult> {
    let atRev = viewRevision;
    const asked = opts.revision ?? 0;
    if (asked > viewRevision) throw ErrFutureRev();
    if (asked > 0) atRev = asked;
    if (atRev < this._compactRevision) throw ErrCompacted();
    const states = this.statesInRange(key, rangeEnd, atRev);
    const count = states.length;
    if (opts.countOnly) return { kvs: [], count, more: false, revision: viewRevision };
    const plan = planRange(states, opts);
    let kvs = await this.fetch(plan.selected.map((s) => s.modified));
    let more = plan.more;
    if (plan.sortByValue) ({ kvs, more } = sortByValue(kvs, opts));
    if (opts.keysOnly) for (const kv of kvs) kv.value = new Uint8Array(0);
    if (this._compactRevision > atRev) throw ErrCompacted(); // compacted while reading
    return { kvs, count, more, revision: viewRevision };
  }

  /** Live keys of [key, rangeEnd) at atRev, in key order, with their states. */
  private statesInRange(key: Uint8Array, rangeEnd: Uint8Array | undefined, atRev: number): KeyState[] {
    const r = normalizeRange(key, rangeEnd);
    const out: KeyState[] = [];
    if (r.kind === 'single') {
      const s = this.tree.get(keyName(key))?.get(atRev);
      if (s !== undefined) out.push(s);
      return out;
    }
    if (r.kind === 'empty') return out;
    this.tree.forRange(r.start.toString('latin1'), r.end?.toString('latin1'), (ki) => {
      const s = ki.get(atRev);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  /** The live KeyIndexes of a range at atRev (for deletes). */
  private indexesInRange(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    atRev: number,
  ): { ki: KeyIndex; state: KeyState }[] {
    const r = normalizeRange(key, rangeEnd);
    const out: { ki: KeyIndex; state: KeyState }[] = [];
    const visit = (ki: KeyIndex): void => {
      const state = ki.get(atRev);
      if (state !== undefined) out.push({ ki, state });
    };
    if (r.kind === 'single') {
      const ki = this.tree.get(keyName(key));
      if (ki !== undefined) visit(ki);
    } else if (r.kind === 'range') {
      this.tree.forRange(r.start.toString('latin1'), r.end?.toString('latin1'), visit);
    }
    return out;
  }

  /** The KeyValues stored at the given put revisions, from the pending buffer or disk. */
  private async fetch(revs: Revision[]): Promise<KeyValue[]> {
    const out: KeyValue[] = new Array<KeyValue>(revs.length);
    const missing: number[] = [];
    const keys: Buffer[] = [];
    for (let i = 0; i < revs.length; i++) {
      const rev = revs[i]!;
      const p = this.pending.get(revisionId(rev));
      if (p !== undefined) {
        out[i] = KeyValue.decode(p.payload);
      } else {
        missing.push(i);
        keys.push(revisionKey(rev, false));
      }
    }
    if (keys.length > 0) {
      // getMany even for one key: classic-level's get is several times slower per call.
      const values = await this.backend.getMany(keys);
      for (let j = 0; j < missing.length; j++) {
        const i = missing[j]!;
        const v = values[j];
        if (v === undefined) {
          // Physical compaction removed it after the index lookup: the read fell behind the compaction.
          throw ErrCompacted();
        }
        out[i] = this.decodeRecord(keys[j]!, v, revs[i]!);
      }
    }
    return out;
  }

  // ----------------------------------------------------------------- writes

  /**
   * Runs `fn` as one write transaction. Transactions run one at a time, in call
   * order. If `fn` throws, every change it made is undone and the error is
   * rethrown; the revision does not move.
   */
  write<T>(fn: (txn: WriteTxn) => Promise<T> | T): Promise<T> {
    this.assertOpen();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const run = async (): Promise<T> => {
      const txn = new StoreWriteTxn(this, this._currentRevision);
      let result: T;
      try {
        result = await fn(txn);
      } catch (e) {
        txn.rollback();
        throw e;
      }
      txn.finish();
      return result;
    };
    const p = this.writeChain.then(run, run);
    this.writeChain = p.catch(() => undefined);
    return p;
  }

  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<PutResult> {
    return this.write((txn) => txn.put(key, value, opts));
  }

  deleteRange(key: Uint8Array, rangeEnd?: Uint8Array, opts?: { prevKv?: boolean }): Promise<DeleteResult> {
    return this.write((txn) => txn.deleteRange(key, rangeEnd, opts));
  }

  /** @internal used by StoreWriteTxn */
  _rangeIn(
    txn: StoreWriteTxn,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    opts: RangeOptions,
  ): Promise<RangeResult> {
    return this.rangeAt(key, rangeEnd, opts, txn.revision);
  }

  /** @internal */
  async _put(txn: StoreWriteTxn, key: Uint8Array, value: Uint8Array, opts: PutOptions): Promise<PutResult> {
    if (key.length === 0) throw new Error('mvcc: empty key');
    const viewRev = txn.revision;
    const name = keyName(key);
    const ki = this.tree.get(name);
    const prev = ki?.get(viewRev);
    // etcd's order: an unknown lease first, then a missing key for ignore_*.
    if (!opts.ignoreLease && (opts.lease ?? 0n) !== 0n && !this.leaseTable.has(opts.lease!))
      throw new MvccError('leaseNotFound');
    if ((opts.ignoreValue || opts.ignoreLease) && prev === undefined) throw new MvccError('keyNotFound');
    const needPrevKv = prev !== undefined && (opts.prevKv || opts.ignoreValue);
    const lease = opts.ignoreLease ? this.leaseTable.leaseOfKey(name) : (opts.lease ?? 0n);
    const prevKv = needPrevKv ? (await this.fetch([prev.modified]))[0] : undefined;
    // Everything that can fail has been checked: from here on the change is applied synchronously.
    const rev: Revision = { main: txn.beginRevision + 1, sub: txn.nextSub() };
    const kv: KeyValue = KeyValue.create({
      key: Buffer.from(key),
      value: opts.ignoreValue ? prevKv!.value : Buffer.from(value),
      createRevision: prev ? prev.createRevision : rev.main,
      modRevision: rev.main,
      version: prev ? prev.version + 1 : 1,
      lease,
    });
    const target = ki ?? this.tree.getOrCreate(name);
    target.put(rev);
    const oldLease = this.leaseTable.leaseOfKey(name);
    this.leaseTable.detach(name);
    if (lease !== 0n) this.leaseTable.attach(lease, name);
    this.stage(rev, false, kv);
    txn.record(Event.create({ type: 0, kv: KeyValue.create(kv) }), () => {
      target.undoPut();
      if (!target.live && target.lastRevision === undefined) this.tree.delete(name);
      this.pending.delete(revisionId(rev));
      this.leaseTable.detach(name);
      if (oldLease !== 0n) this.leaseTable.attach(oldLease, name);
    });
    const result: PutResult = { revision: rev.main };
    if (opts.prevKv && prevKv !== undefined) result.prevKv = prevKv;
    return result;
  }

  /** @internal */
  async _deleteRange(
    txn: StoreWriteTxn,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    prevKv: boolean,
  ): Promise<DeleteResult> {
    const targets = this.indexesInRange(key, rangeEnd, txn.revision);
    const prevKvs =
      prevKv && targets.length > 0 ? await this.fetch(targets.map((t) => t.state.modified)) : [];
    for (const { ki } of targets) {
      const rev: Revision = { main: txn.beginRevision + 1, sub: txn.nextSub() };
      const tomb = KeyValue.create({ key: ki.keyBytes(), modRevision: rev.main });
      ki.tombstone(rev);
      const oldLease = this.leaseTable.leaseOfKey(ki.key);
      this.leaseTable.detach(ki.key);
      this.stage(rev, true, tomb);
      txn.record(Event.create({ type: 1, kv: KeyValue.create(tomb) }), () => {
        ki.undoTombstone();
        this.pending.delete(revisionId(rev));
        if (oldLease !== 0n) this.leaseTable.attach(oldLease, ki.key);
      });
    }
    return { revision: txn.revision, deleted: targets.length, prevKvs };
  }

  private stage(rev: Revision, tombstone: boolean, kv: KeyValue): void {
    this.pending.set(revisionId(rev), {
      rev,
      dbKey: revisionKey(rev, tombstone),
      payload: KeyValue.encode(kv),
    });
  }

  /** @internal a txn ended: make it visible and announce it. */
  _finish(txn: StoreWriteTxn, events: Event[]): void {
    if (events.length === 0) return;
    this._currentRevision = txn.beginRevision + 1;
    this.changesSubject.next({ revision: this._currentRevision, events });
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
    const revision = this._currentRevision;
    const records: PendingRecord[] = [];
    for (const p of this.pending.values()) if (p.rev.main <= revision) records.push(p);
    const ops: BackendOp[] = records.map((p) => ({ type: 'put', key: p.dbKey, value: p.payload }));
    for (const [id, rec] of this.leaseTable.takeDirty()) {
      ops.push(
        rec === undefined
          ? { type: 'del', key: leaseKey(id) }
          : { type: 'put', key: leaseKey(id), value: LeaseTable.encode(rec) },
      );
    }
    this.pendingMeta.set('consistentIndex', opts.consistentIndex);
    this.pendingMeta.set('currentRevision', revision);
    this.pendingMeta.set('format', DB_FORMAT);
    for (const [name, n] of this.pendingMeta)
      ops.push({ type: 'put', key: metaKey(name), value: encodeCounter(n) });
    this.pendingMeta.clear();
    const jobs = this.awaitingCommit;
    this.awaitingCommit = [];
    const write = async (): Promise<void> => {
      if (this.failure !== undefined) throw this.failure;
      try {
        await this.backend.write(ops, opts.sync ?? false);
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
      for (const p of records)
        if (this.pending.get(revisionId(p.rev)) === p) this.pending.delete(revisionId(p.rev));
      this._consistentIndex = Math.max(this._consistentIndex, opts.consistentIndex);
      for (const job of jobs) this.startPhysical(job);
    };
    const p = this.commitChain.then(write);
    this.commitChain = p.catch(() => undefined);
    return p;
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
      if (revision <= this._compactRevision) throw ErrCompacted();
      if (revision > this._currentRevision) throw ErrFutureRev();
      const job = this.compactIndex(revision);
      this.pendingMeta.set('scheduledCompact', revision);
      this.awaitingCommit.push(job);
      const physicalDone = new Promise<void>((resolve, reject) => {
        job.done = resolve;
        job.failed = reject;
      });
      physicalDone.catch(() => undefined); // failures are logged; callers that care await it
      return { physicalDone };
    });
  }

  private compactIndex(revision: number): CompactionJob {
    this._compactRevision = revision;
    const keep = new Set<string>();
    const emptied: string[] = [];
    for (const ki of this.tree.all()) {
      if (ki.compact(revision, keep, revisionId)) emptied.push(ki.key);
    }
    for (const key of emptied) this.tree.delete(key);
    // Superseded records still waiting for a commit are written anyway and removed
    // by the physical pass: until it is done, older records on disk need them (a
    // tombstone that ends a life must stay while the life's puts are there).
    return { revision, keep, done: () => undefined, failed: () => undefined };
  }

  private startPhysical(job: CompactionJob): void {
    const run = async (): Promise<void> => {
      const { gte, lte } = revisionKeyBounds(0, job.revision);
      let after: Buffer | undefined;
      let removed = 0;
      for (;;) {
        if (this.closed) throw new MvccError('closed');
        const keys = await this.backend.keysBetween(after, lte, gte, this.batchLimit);
        if (keys.length === 0) break;
        const dels: BackendOp[] = [];
        for (const key of keys) {
          if (!job.keep.has(revisionId(parseRevisionKey(key).rev))) dels.push({ type: 'del', key });
        }
        await this.backend.write(dels, false);
        removed += dels.length;
        after = keys[keys.length - 1];
        if (keys.length < this.batchLimit) break;
        await new Promise((r) => setTimeout(r, this.batchIntervalMs));
      }
      await this.backend.write(
        [{ type: 'put', key: metaKey('finishedCompact'), value: encodeCounter(job.revision) }],
        false,
      );
      this.logger.info({ revision: job.revision, removed }, 'mvcc: compaction finished');
    };
    const p = this.compactionChain.then(run);
    this.compactionChain = p.catch(() => undefined);
    p.then(
      () => {
        job.done();
      },
      (e: unknown) => {
        if (!this.closed)
          this.logger.error({ err: e, revision: job.revision }, 'mvcc: physical compaction failed');
        job.failed(e);
      },
    );
  }

  // ---------------------------------------------------------------- history

  /**
   * The changes of main revisions fromRev..toRev (both inclusive) as stored,
   * committed or not, optionally only for keys in [key, rangeEnd) (same range
   * conventions as Range) and at most `limit` revisions. Throws the compacted
   * error when fromRev < compactRevision (also if a compaction passed fromRev
   * while reading). Events carry no prevKv: read it with range(key, {revision: rev - 1}).
   */
  async eventsBetween(
    fromRev: number,
    toRev: number,
    opts?: { key?: Uint8Array; rangeEnd?: Uint8Array; limit?: number },
  ): Promise<RevisionChanges[]> {
    this.assertOpen();
    if (fromRev < this._compactRevision) throw ErrCompacted();
    const to = Math.min(toRev, this._currentRevision);
    if (fromRev > to) return [];
    const filter = opts?.key !== undefined ? normalizeRange(opts.key, opts.rangeEnd) : undefined;
    const limit = opts?.limit ?? Number.POSITIVE_INFINITY;
    const out: RevisionChanges[] = [];
    await this.forRecords(fromRev, to, (rev, tombstone, decode) => {
      const kv = decode();
      if (filter !== undefined && !inRange(filter, kv.key)) return true;
      const last = out[out.length - 1];
      if (last === undefined || last.revision !== rev.main) {
        if (out.length >= limit) return false;
        out.push({ revision: rev.main, events: [] });
      }
      out[out.length - 1]!.events.push(
        tombstone
          ? Event.create({ type: 1, kv: KeyValue.create({ key: kv.key, modRevision: rev.main }) })
          : Event.create({ type: 0, kv }),
      );
      return true;
    });
    if (fromRev < this._compactRevision) throw ErrCompacted();
    return out;
  }

  /**
   * Visits every key-space record with fromMain <= main <= toMain in revision
   * order, merging the disk with the pending (uncommitted) records. Records of
   * an unfinished txn (main > currentRevision) are never visited.
   */
  private async forRecords(
    fromMain: number,
    toMain: number,
    visit: (
      rev: Revision,
      tombstone: boolean,
      decode: () => KeyValue,
      dbKey: Buffer,
      payload: Uint8Array,
    ) => boolean,
  ): Promise<void> {
    const bound = Math.min(toMain, this._currentRevision);
    const pend = [...this.pending.values()]
      .filter((p) => p.rev.main >= fromMain && p.rev.main <= bound)
      .sort((a, b) => compareRevisions(a.rev, b.rev));
    let pi = 0;
    const emitPending = (upTo: Revision | undefined): boolean => {
      while (pi < pend.length && (upTo === undefined || compareRevisions(pend[pi]!.rev, upTo) < 0)) {
        const p = pend[pi++]!;
        const { tombstone } = parseRevisionKey(p.dbKey);
        if (!visit(p.rev, tombstone, () => KeyValue.decode(p.payload), p.dbKey, p.payload)) return false;
      }
      return true;
    };
    const { gte, lte } = revisionKeyBounds(fromMain, bound);
    for await (const page of this.backend.scan(gte, lte)) {
      for (const { key, payload } of page) {
        const { rev, tombstone } = parseRevisionKey(key);
        if (!emitPending(rev)) return;
        if (pi < pend.length && compareRevisions(pend[pi]!.rev, rev) === 0) pi++; // committed while still pending
        // Decoded only when the visitor needs it (the checksum was verified by the scan).
        if (!visit(rev, tombstone, () => this.decodeRecord(key, payload, rev), key, payload)) return;
      }
    }
    emitPending(undefined);
  }

  // ----------------------------------------------------------------- hashes

  /**
   * etcd's HashKV: CRC-32C over the revision keys and KeyValue records up to
   * `revision` (0 = current), skipping what compaction superseded, so members
   * with equal histories agree whether or not their physical compaction is done.
   */
  async hashKV(revision = 0): Promise<HashKVResult> {
    this.assertOpen();
    const rev = revision === 0 ? this._currentRevision : revision;
    if (revision > 0 && revision <= this._compactRevision) throw ErrCompacted();
    if (rev > this._currentRevision) throw ErrFutureRev();
    const compactRevision = this._compactRevision;
    // etcd hashes its bolt bucket "key": the bucket name, then each record's
    // 17-byte revision key (18 with the tombstone mark) and KeyValue bytes, up
    // to `rev`. At or below the compact revision it hashes only what
    // kvindex.Keep(rev) keeps, each key's live record as of `rev`, unless Keep
    // is empty. Our backend key is etcd's behind a one-byte prefix, and our
    // tombstone value also records its revision, which etcd's does not.
    const keepAt = (kv: KeyValue, r: Revision): boolean => {
      const state = this.tree.get(keyName(kv.key))?.get(rev);
      return state !== undefined && compareRevisions(state.modified, r) === 0;
    };
    let keepIsEmpty: boolean | undefined;
    let h = crc32c(Buffer.from('key'));
    await this.forRecords(0, rev, (r, tomb, decode, dbKey, payload) => {
      if (r.main <= compactRevision) {
        keepIsEmpty ??= !this.anyKeyLiveAt(rev);
        if (!keepIsEmpty && (tomb || !keepAt(decode(), r))) return true;
      }
      const value = tomb ? KeyValue.encode(KeyValue.create({ key: decode().key })) : payload;
      h = crc32c(value, crc32c(dbKey.subarray(1), h));
      return true;
    });
    return { hash: h, compactRevision, hashRevision: rev };
  }

  private anyKeyLiveAt(rev: number): boolean {
    let found = false;
    this.tree.forRange('', undefined, (ki) => {
      found = ki.get(rev) !== undefined;
      return !found;
    });
    return found;
  }

  /** etcd's Hash: CRC-32C of every committed record of the backend (key space and leases). */
  async hash(): Promise<{ hash: number; revision: number }> {
    this.assertOpen();
    await this.commitChain;
    const revision = this._currentRevision;
    let h = 0;
    for (const prefix of [KEY_PREFIX, LEASE_PREFIX]) {
      for await (const page of this.backend.scan(
        Buffer.of(prefix),
        Buffer.of(prefix, ...new Array<number>(20).fill(0xff)),
      )) {
        for (const { key, payload } of page) h = crc32c(payload, crc32c(key, h));
      }
    }
    return { hash: h, revision };
  }

  // ----------------------------------------------------------------- leases

  /** Adds a lease to the table (persisted at the next commit). */
  leaseGrant(id: bigint, ttl: number): LeaseRecord {
    this.assertOpen();
    if (this.leaseTable.has(id)) throw new MvccError('leaseExists');
    return this.leaseTable.grant(id, ttl);
  }

  /** Records a lease's remaining TTL (etcd's lease checkpoint); unknown leases are ignored. */
  leaseCheckpoint(id: bigint, remainingTtl: number): void {
    this.assertOpen();
    this.leaseTable.checkpoint(id, remainingTtl);
  }

  /**
   * Deletes every key attached to the lease, in key order, in one revision,
   * and removes the lease. Throws MvccError('leaseNotFound').
   */
  leaseRevoke(id: bigint): Promise<{ revision: number; deleted: number }> {
    return this.write(async (txn) => {
      if (!this.leaseTable.has(id)) throw new MvccError('leaseNotFound');
      let deleted = 0;
      for (const name of this.leaseTable.keysOf(id))
        deleted += (await txn.deleteRange(Buffer.from(name, 'latin1'))).deleted;
      // Removed when the txn ends, so no commit can persist the removal without the deletes.
      (txn as StoreWriteTxn).onFinish(() => this.leaseTable.remove(id));
      return { revision: txn.revision, deleted };
    });
  }

  lease(id: bigint): LeaseRecord | undefined {
    return this.leaseTable.get(id);
  }

  leases(): LeaseRecord[] {
    return this.leaseTable.all();
  }

  /** Keys attached to the lease, in byte order. */
  keysOfLease(id: bigint): Uint8Array[] {
    return this.leaseTable.keysOf(id).map((name) => Buffer.from(name, 'latin1'));
  }

  // ------------------------------------------------------------------- size

  /** Bytes of the backend files on disk (etcd's dbSize). */
  dbSize(): Promise<number> {
    return this.backend.sizeOnDisk();
  }

  /** LevelDB's estimate of the bytes the live records take (etcd's dbSizeInUse). */
  approximateSize(): Promise<number> {
    return this.backend.approximateSize(Buffer.of(0), Buffer.of(0xff));
  }

  /** Number of keys in the index (live or with history). */
  get indexedKeys(): number {
    return this.tree.size;
  }

  // ------------------------------------------------------------------ close

  /** Gives the space of deleted and compacted records back to the file system (etcd's defragment). */
  async defragment(): Promise<void> {
    this.assertOpen();
    await this.backend.compactAll();
  }

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
   * Builds a store in `dir` (which must not exist) from snapshotRecords() of
   * another store and opens it. Records are verified as they arrive; the data
   * is written and synced in a sibling directory and renamed into place, so a
   * crash leaves either no store or the whole one.
   */
  static async restoreFromRecords(
    dir: string,
    records: AsyncIterable<Array<[Buffer, Buffer]>>,
    opts: KvStoreOptions,
  ): Promise<KvStore> {
    if (await exists(dir)) throw new Error(`mvcc: cannot restore into ${dir}: it exists`);
    const staging = `${dir}.restoring`;
    await rm(staging, { recursive: true, force: true });
    const backend = await Backend.open(staging, describeBackendKey);
    try {
      for await (const page of records) await backend.writeRaw(page, false);
      // A synced write of the format record makes everything before it durable too.
      await backend.write([{ type: 'put', key: metaKey('format'), value: encodeCounter(DB_FORMAT) }], true);
    } finally {
      await backend.close();
    }
    await rename(staging, dir);
    return KvStore.open(dir, opts);
  }

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
    await this.compactionChain;
    await this.backend.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new MvccError('closed');
  }
}

class StoreWriteTxn implements WriteTxn {
  private sub = 0;
  private readonly events: Event[] = [];
  private readonly undo: (() => void)[] = [];
  private ended = false;

  constructor(
    private readonly store: KvStore,
    readonly beginRevision: number,
  ) {}

  get changed(): boolean {
    return this.events.length > 0;
  }

  get revision(): number {
    return this.events.length > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  nextSub(): number {
    return this.sub++;
  }

  private readonly finishers: (() => void)[] = [];

  record(event: Event, undo: () => void): void {
    this.events.push(event);
    this.undo.push(undo);
  }

  /** Runs when the txn ends successfully, in the same tick its changes become visible. */
  onFinish(fn: () => void): void {
    this.finishers.push(fn);
  }

  private assertActive(): void {
    if (this.ended) throw new Error('mvcc: write txn used after it ended');
  }

  range(key: Uint8Array, rangeEnd?: Uint8Array, opts?: RangeOptions): Promise<RangeResult> {
    this.assertActive();
    return this.store._rangeIn(this, key, rangeEnd, opts ?? {});
  }

  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<PutResult> {
    this.assertActive();
    return this.store._put(this, key, value, opts ?? {});
  }

  deleteRange(key: Uint8Array, rangeEnd?: Uint8Array, opts?: { prevKv?: boolean }): Promise<DeleteResult> {
    this.assertActive();
    return this.store._deleteRange(this, key, rangeEnd, opts?.prevKv ?? false);
  }

  finish(): void {
    this.ended = true;
    for (const fn of this.finishers) fn();
    this.store._finish(this, this.events);
  }

  rollback(): void {
    this.ended = true;
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]!();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function inRange(r: ReturnType<typeof normalizeRange>, key: Uint8Array): boolean {
  if (r.kind === 'empty') return false;
  if (r.kind === 'single') return Buffer.compare(r.start, key) === 0;
  return Buffer.compare(key, r.start) >= 0 && (r.end === undefined || Buffer.compare(key, r.end) < 0);
}
