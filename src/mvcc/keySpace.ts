import { KeyValue } from '../proto/mvccpb.js';
import type { Backend } from '../storage/backend/backend.js';
import {
  describeBackendKey,
  parseRevisionKey,
  revisionKey,
  revisionKeyBounds,
} from '../storage/backend/layout.js';
import { CorruptDataError } from '../storage/corruptDataError.js';
import { ErrCompacted, ErrFutureRev } from './errors.js';
import type { KeyIndex, KeyState } from './keyIndex.js';
import { KeyIndexTree, keyName } from './keyIndexTree.js';
import { LeaseTable } from './leaseTable.js';
import { normalizeRange, planRange, sortByValue, type RangeOptions } from './rangeQuery.js';
import { compareRevisions, revisionId, type Revision } from './revision.js';

export interface RangeResult {
  kvs: KeyValue[];
  /** Keys in the range at the read revision, ignoring limit (etcd 3.4: before the min/max filters). */
  count: number;
  /** True when `limit` cut the result short. */
  more: boolean;
  /** The revision of the view the read ran in (etcd's header revision for a Range). */
  revision: number;
}

/** The value of a keys-only read, shared: nothing writes into a zero-length array, and 100,000 of them cost. */
const NO_VALUE = new Uint8Array(0);

/** A change of the key space a txn made that the next commit() has not written yet. */
export interface PendingRecord {
  rev: Revision;
  dbKey: Buffer;
  payload: Uint8Array;
}

/** Visits one key-space record; returns false to stop. */
export type RecordVisitor = (
  rev: Revision,
  tombstone: boolean,
  decode: () => KeyValue,
  dbKey: Buffer,
  payload: Uint8Array,
) => boolean;

/**
 * The key space as KvStore's parts share it: the in-memory key index, the
 * lease table, the changes not yet committed, and the current and compact
 * revisions, with the reads every part needs (a range at a revision, records
 * from the pending buffer or the backend). KvStore decides when each part
 * runs: txns one at a time, commits in order, compaction between them.
 */
export class KeySpace {
  readonly tree = new KeyIndexTree();
  readonly leases = new LeaseTable();
  /** Records of finished (and the running) txns not yet on disk, by revisionId. */
  readonly pending = new Map<string, PendingRecord>();
  currentRevision = 1;
  /** Reads below this revision fail with the compacted error (0: never compacted). */
  compactRevision = 0;

  constructor(readonly backend: Backend) {}

  async rangeAt(
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
    opts: RangeOptions,
    viewRevision: number,
  ): Promise<RangeResult> {
    let atRev = viewRevision;
    const asked = opts.revision ?? 0;
    if (asked > viewRevision) throw ErrFutureRev();
    if (asked > 0) atRev = asked;
    if (atRev < this.compactRevision) throw ErrCompacted();
    const states = this.statesInRange(key, rangeEnd, atRev);
    const count = states.length;
    if (opts.countOnly) return { kvs: [], count, more: false, revision: viewRevision };
    const plan = planRange(states, opts);
    let kvs =
      opts.keysOnly && !plan.sortByValue
        ? await this.fetchKeysOnly(plan.selected)
        : await this.fetch(plan.selected.map((s) => s.modified));
    let more = plan.more;
    if (plan.sortByValue) {
      ({ kvs, more } = sortByValue(kvs, opts));
      // Sorting by value needed the values; fetchKeysOnly leaves none otherwise.
      if (opts.keysOnly) for (const kv of kvs) kv.value = NO_VALUE;
    }
    if (this.compactRevision > atRev) throw ErrCompacted(); // compacted while reading
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

  /**
   * KeyValues without their values. A key read at its newest revision needs
   * no record: its revisions and version are in the index, its lease in the
   * lease table (which follows the newest put, the running txn's included).
   * Only keys read at an older revision are fetched, for their lease then, and their value dropped.
   */
  async fetchKeysOnly(states: readonly KeyState[]): Promise<KeyValue[]> {
    const out = new Array<KeyValue>(states.length);
    const older: number[] = [];
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!;
      const newest = s.index.lastRevision;
      if (newest === undefined || compareRevisions(newest, s.modified) !== 0) {
        older.push(i);
        continue;
      }
      out[i] = {
        key: s.index.keyBytes(),
        createRevision: s.createRevision,
        modRevision: s.modified.main,
        version: s.version,
        value: NO_VALUE,
        lease: this.leases.leaseOfKey(s.index.key),
      };
    }
    if (older.length > 0) {
      const fetched = await this.fetch(older.map((i) => states[i]!.modified));
      for (let j = 0; j < older.length; j++) out[older[j]!] = { ...fetched[j]!, value: NO_VALUE };
    }
    return out;
  }

  /** The live KeyIndexes of a range at atRev (for deletes). */
  indexesInRange(
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
  async fetch(revs: Revision[]): Promise<KeyValue[]> {
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

  /** Puts a txn's change into the pending buffer, where reads find it until a commit writes it. */
  stage(rev: Revision, tombstone: boolean, kv: KeyValue): void {
    this.pending.set(revisionId(rev), {
      rev,
      dbKey: revisionKey(rev, tombstone),
      payload: KeyValue.encode(kv),
    });
  }

  /**
   * Visits every key-space record with fromMain <= main <= toMain in revision
   * order, merging the disk with the pending (uncommitted) records. Records of
   * an unfinished txn (main > currentRevision) are never visited.
   */
  async forRecords(fromMain: number, toMain: number, visit: RecordVisitor): Promise<void> {
    const bound = Math.min(toMain, this.currentRevision);
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

  /** Decodes a key-space record, refusing one that does not belong under its key. */
  decodeRecord(key: Buffer, payload: Uint8Array, rev: Revision): KeyValue {
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
}
