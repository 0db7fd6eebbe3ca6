import { Event, KeyValue } from '../proto/mvccpb.js';
import { MvccError } from './errors.js';
import { MvccStats } from './kvStats.js';
import { keyName } from './keyIndexTree.js';
import type { KeySpace, RangeResult } from './keySpace.js';
import type { RangeOptions } from './rangeQuery.js';
import { revisionId, type Revision } from './revision.js';

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

/**
 * The write txn KvStore.write runs (etcd's storeTxnWrite). Each change is
 * applied to the key index, the lease table and the pending buffer at once,
 * with its undo recorded, so a txn that fails half-way is rolled back and one
 * that ends becomes visible in one step.
 */
export class StoreWriteTxn implements WriteTxn {
  private sub = 0;
  private readonly events: Event[] = [];
  private readonly undo: (() => void)[] = [];
  private readonly finishers: (() => void)[] = [];
  private ended = false;

  constructor(
    private readonly space: KeySpace,
    readonly beginRevision: number,
    private readonly stats: MvccStats = new MvccStats(),
  ) {}

  get changed(): boolean {
    return this.events.length > 0;
  }

  get revision(): number {
    return this.events.length > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  /** Runs when the txn ends successfully, in the same tick its changes become visible. */
  onFinish(fn: () => void): void {
    this.finishers.push(fn);
  }

  range(key: Uint8Array, rangeEnd?: Uint8Array, opts?: RangeOptions): Promise<RangeResult> {
    this.assertActive();
    this.stats.ranges++;
    return this.space.rangeAt(key, rangeEnd, opts ?? {}, this.revision);
  }

  put(key: Uint8Array, value: Uint8Array, opts?: PutOptions): Promise<PutResult> {
    this.assertActive();
    this.stats.puts++;
    this.stats.putBytes += key.length + value.length;
    return this.applyPut(key, value, opts ?? {});
  }

  deleteRange(key: Uint8Array, rangeEnd?: Uint8Array, opts?: { prevKv?: boolean }): Promise<DeleteResult> {
    this.assertActive();
    this.stats.deletes++;
    return this.applyDeleteRange(key, rangeEnd, opts?.prevKv ?? false);
  }

  private async applyPut(key: Uint8Array, value: Uint8Array, opts: PutOptions): Promise<PutResult> {
    const { tree, leases } = this.space;
    if (key.length === 0) throw new Error('mvcc: empty key');
    const viewRev = this.revision;
    const name = keyName(key);
    const ki = tree.get(name);
    const prev = ki?.get(viewRev);
    // etcd's order: an unknown lease first, then a missing key for ignore_*.
    if (!opts.ignoreLease && (opts.lease ?? 0n) !== 0n && !leases.has(opts.lease!))
      throw new MvccError('leaseNotFound');
    if ((opts.ignoreValue || opts.ignoreLease) && prev === undefined) throw new MvccError('keyNotFound');
    const needPrevKv = prev !== undefined && (opts.prevKv || opts.ignoreValue);
    const lease = opts.ignoreLease ? leases.leaseOfKey(name) : (opts.lease ?? 0n);
    const prevKv = needPrevKv ? (await this.space.fetch([prev.modified]))[0] : undefined;
    // Everything that can fail has been checked: from here on the change is applied synchronously.
    const rev: Revision = { main: this.beginRevision + 1, sub: this.sub++ };
    const kv: KeyValue = KeyValue.create({
      key: Buffer.from(key),
      value: opts.ignoreValue ? prevKv!.value : Buffer.from(value),
      createRevision: prev ? prev.createRevision : rev.main,
      modRevision: rev.main,
      version: prev ? prev.version + 1 : 1,
      lease,
    });
    const target = ki ?? tree.getOrCreate(name);
    target.put(rev);
    const oldLease = leases.leaseOfKey(name);
    leases.detach(name);
    if (lease !== 0n) leases.attach(lease, name);
    this.space.stage(rev, false, kv);
    this.record(Event.create({ type: 0, kv: KeyValue.create(kv) }), () => {
      target.undoPut();
      if (!target.live && target.lastRevision === undefined) tree.delete(name);
      this.space.pending.delete(revisionId(rev));
      leases.detach(name);
      if (oldLease !== 0n) leases.attach(oldLease, name);
    });
    const result: PutResult = { revision: rev.main };
    if (opts.prevKv && prevKv !== undefined) result.prevKv = prevKv;
    return result;
  }

  private async applyDeleteRange(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    prevKv: boolean,
  ): Promise<DeleteResult> {
    const { leases } = this.space;
    const targets = this.space.indexesInRange(key, rangeEnd, this.revision);
    const prevKvs =
      prevKv && targets.length > 0 ? await this.space.fetch(targets.map((t) => t.state.modified)) : [];
    for (const { ki } of targets) {
      const rev: Revision = { main: this.beginRevision + 1, sub: this.sub++ };
      const tomb = KeyValue.create({ key: ki.keyBytes(), modRevision: rev.main });
      ki.tombstone(rev);
      const oldLease = leases.leaseOfKey(ki.key);
      leases.detach(ki.key);
      this.space.stage(rev, true, tomb);
      this.record(Event.create({ type: 1, kv: KeyValue.create(tomb) }), () => {
        ki.undoTombstone();
        this.space.pending.delete(revisionId(rev));
        if (oldLease !== 0n) leases.attach(oldLease, ki.key);
      });
    }
    return { revision: this.revision, deleted: targets.length, prevKvs };
  }

  /** Ends the txn and returns its events (none: it changed nothing); the caller makes them visible. */
  finish(): Event[] {
    this.ended = true;
    for (const fn of this.finishers) fn();
    return this.events;
  }

  rollback(): void {
    this.ended = true;
    for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]!();
  }

  private record(event: Event, undo: () => void): void {
    this.events.push(event);
    this.undo.push(undo);
  }

  private assertActive(): void {
    if (this.ended) throw new Error('mvcc: write txn used after it ended');
  }
}
