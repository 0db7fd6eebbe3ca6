import {
  Compare_CompareResult,
  Compare_CompareTarget,
  CompactionResponse,
  DeleteRangeResponse,
  PutResponse,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
  type Compare,
  type CompactionRequest,
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
} from '../proto/etcdserverpb.js';
import type { KeyValue } from '../proto/mvccpb.js';
import { ErrCompacted, ErrFutureRev, MvccError } from './errors.js';
import type { KvStore, ReadView, WriteTxn } from './kvStore.js';
import type { RangeOptions, SortOrder, SortTarget } from './rangeQuery.js';

/**
 * etcd's applier for the KV requests (etcdserver/apply.go): each function runs
 * one etcdserverpb request against the store and returns the etcdserverpb
 * response. They are deterministic (the server runs them in apply on every
 * member). Responses carry a header with only `revision` set, as etcd sets it;
 * the server fills in cluster_id, member_id and raft_term. Errors are
 * MvccError (map them with toRpcError from src/api/rpcErrors.ts). Requests
 * are expected to have passed src/api/validate.ts.
 */

const header = (revision: number): ResponseHeader => ResponseHeader.create({ revision });

const SORT_ORDERS: Record<number, SortOrder> = {
  [RangeRequest_SortOrder.NONE]: 'none',
  [RangeRequest_SortOrder.ASCEND]: 'ascend',
  [RangeRequest_SortOrder.DESCEND]: 'descend',
};
const SORT_TARGETS: Record<number, SortTarget> = {
  [RangeRequest_SortTarget.KEY]: 'key',
  [RangeRequest_SortTarget.VERSION]: 'version',
  [RangeRequest_SortTarget.CREATE]: 'create',
  [RangeRequest_SortTarget.MOD]: 'mod',
  [RangeRequest_SortTarget.VALUE]: 'value',
};

export function rangeOptionsOf(r: RangeRequest): RangeOptions {
  return {
    revision: r.revision,
    limit: r.limit,
    sortOrder: SORT_ORDERS[r.sortOrder] ?? 'none',
    sortTarget: SORT_TARGETS[r.sortTarget] ?? 'key',
    keysOnly: r.keysOnly,
    countOnly: r.countOnly,
    minModRevision: r.minModRevision,
    maxModRevision: r.maxModRevision,
    minCreateRevision: r.minCreateRevision,
    maxCreateRevision: r.maxCreateRevision,
  };
}

async function rangeIn(view: ReadView, r: RangeRequest): Promise<RangeResponse> {
  const res = await view.range(r.key, r.rangeEnd, rangeOptionsOf(r));
  return RangeResponse.create({
    header: header(res.revision),
    kvs: res.kvs,
    more: res.more,
    count: res.count,
  });
}

/** A Range outside a txn, at the store's current revision. */
export function applyRange(store: KvStore, r: RangeRequest): Promise<RangeResponse> {
  return store.stats.reading(() => rangeIn(store.readView(), r));
}

async function putIn(txn: WriteTxn, r: PutRequest): Promise<PutResponse> {
  const res = await txn.put(r.key, r.value, {
    lease: r.lease,
    prevKv: r.prevKv,
    ignoreValue: r.ignoreValue,
    ignoreLease: r.ignoreLease,
  });
  const resp = PutResponse.create({ header: header(res.revision) });
  if (res.prevKv !== undefined) resp.prevKv = res.prevKv;
  return resp;
}

export function applyPut(store: KvStore, r: PutRequest): Promise<PutResponse> {
  return store.write((txn) => putIn(txn, r));
}

async function deleteIn(txn: WriteTxn, r: DeleteRangeRequest): Promise<DeleteRangeResponse> {
  const res = await txn.deleteRange(r.key, r.rangeEnd, { prevKv: r.prevKv });
  return DeleteRangeResponse.create({
    header: header(res.revision),
    deleted: res.deleted,
    prevKvs: res.prevKvs,
  });
}

export function applyDeleteRange(store: KvStore, r: DeleteRangeRequest): Promise<DeleteRangeResponse> {
  return store.write((txn) => deleteIn(txn, r));
}

/** Logical compaction now; `physicalDone` resolves when the disk is compacted (await it for `physical`). */
export async function applyCompaction(
  store: KvStore,
  r: CompactionRequest,
): Promise<{ response: CompactionResponse; physicalDone: Promise<void> }> {
  const { physicalDone } = await store.compact(r.revision);
  return { response: CompactionResponse.create({ header: header(store.currentRevision) }), physicalDone };
}

/** True when neither branch (nor any nested txn) writes: etcd serves such a txn as a read. */
export function isTxnReadOnly(r: TxnRequest): boolean {
  const readOnly = (ops: RequestOp[]): boolean =>
    ops.every(
      (op) => op.requestRange !== undefined || (op.requestTxn !== undefined && isTxnReadOnly(op.requestTxn)),
    );
  return readOnly(r.success) && readOnly(r.failure);
}

/**
 * A Txn: compares (of this txn and of every nested txn on the executed path)
 * are evaluated against the state before the txn, the chosen branch runs under
 * one revision, reads see the txn's own earlier writes, and a txn whose branch
 * changes nothing leaves the revision alone. Puts naming a missing lease or
 * ignore_* puts of missing keys, and ranges at compacted or future revisions,
 * fail the whole txn before anything is written (etcd's checkRequests).
 */
export async function applyTxn(store: KvStore, r: TxnRequest): Promise<TxnResponse> {
  if (isTxnReadOnly(r)) {
    return store.stats.reading(async () => {
      const view = store.readView();
      const path = await compareToPath(view, r);
      countTxn(store, r, path);
      checkRanges(view.revision, store.compactRevision, r, path);
      const resp = newTxnResponse(path);
      await runTxn(view, r, path, resp, false);
      resp.header = header(view.revision);
      return resp;
    });
  }
  return store.write(async (txn) => {
    const path = await compareToPath(txn, r);
    countTxn(store, r, path);
    await checkPuts(store, txn, r, path);
    checkRanges(txn.revision, store.compactRevision, r, path);
    const resp = newTxnResponse(path);
    await runTxn(txn, r, path, resp, true);
    resp.header = header(txn.revision);
    return resp;
  });
}

/** etcd counts a txn (etcd_mvcc_txn_total) when it runs more than one operation. */
function countTxn(store: KvStore, r: TxnRequest, path: boolean[]): void {
  let ops = 0;
  forOpsOnPath(r, path, () => ops++);
  if (ops > 1) store.stats.txns++;
}

/** The branch taken by this txn and by each nested txn on the way, in depth-first order. */
async function compareToPath(view: ReadView, r: TxnRequest): Promise<boolean[]> {
  const path: boolean[] = [];
  const walk = async (t: TxnRequest): Promise<void> => {
    let ok = true;
    for (const c of t.compare) {
      if (!(await applyCompare(view, c))) {
        ok = false;
        break;
      }
    }
    path.push(ok);
    for (const op of ok ? t.success : t.failure) if (op.requestTxn !== undefined) await walk(op.requestTxn);
  };
  await walk(r);
  return path;
}

async function applyCompare(view: ReadView, c: Compare): Promise<boolean> {
  let kvs: KeyValue[];
  try {
    kvs = (await view.range(c.key, c.rangeEnd, {})).kvs;
  } catch {
    return false;
  }
  if (kvs.length === 0) {
    // A missing key has no value to compare: etcd fails VALUE compares on it.
    if (c.target === Compare_CompareTarget.VALUE) return false;
    return compareKv(c, undefined);
  }
  return kvs.every((kv) => compareKv(c, kv));
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target) {
    case Compare_CompareTarget.VALUE:
      result = Buffer.compare(
        asBuffer(kv?.value ?? new Uint8Array(0)),
        asBuffer(c.value ?? new Uint8Array(0)),
      );
      break;
    case Compare_CompareTarget.CREATE:
      result = Math.sign((kv?.createRevision ?? 0) - (c.createRevision ?? 0));
      break;
    case Compare_CompareTarget.MOD:
      result = Math.sign((kv?.modRevision ?? 0) - (c.modRevision ?? 0));
      break;
    case Compare_CompareTarget.VERSION:
      result = Math.sign((kv?.version ?? 0) - (c.version ?? 0));
      break;
    case Compare_CompareTarget.LEASE: {
      const a = kv?.lease ?? 0n;
      const b = c.lease ?? 0n;
      result = a === b ? 0 : a > b ? 1 : -1;
      break;
    }
    default:
      result = 0;
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return result === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return result !== 0;
    case Compare_CompareResult.GREATER:
      return result > 0;
    case Compare_CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

/** Visits the ops that will run, following the path (nested txns consume path entries). */
function forOpsOnPath(r: TxnRequest, path: boolean[], visit: (op: RequestOp) => void): void {
  let i = 0;
  const walk = (t: TxnRequest): void => {
    const ok = path[i++]!;
    for (const op of ok ? t.success : t.failure) {
      if (op.requestTxn !== undefined) walk(op.requestTxn);
      else visit(op);
    }
  };
  walk(r);
}

async function checkPuts(store: KvStore, view: ReadView, r: TxnRequest, path: boolean[]): Promise<void> {
  const puts: PutRequest[] = [];
  forOpsOnPath(r, path, (op) => {
    if (op.requestPut !== undefined) puts.push(op.requestPut);
  });
  // etcd's checkRequestPut order inside a txn: the missing key, then the lease.
  for (const p of puts) {
    if (p.ignoreValue || p.ignoreLease) {
      const { count } = await view.range(p.key, undefined, { countOnly: true });
      if (count === 0) throw new MvccError('keyNotFound');
    }
    if (p.lease !== 0n && store.lease(p.lease) === undefined) throw new MvccError('leaseNotFound');
  }
}

function checkRanges(viewRevision: number, compactRevision: number, r: TxnRequest, path: boolean[]): void {
  forOpsOnPath(r, path, (op) => {
    const rev = op.requestRange?.revision ?? 0;
    if (rev > viewRevision) throw ErrFutureRev();
    if (rev > 0 && rev < compactRevision) throw ErrCompacted();
  });
}

function newTxnResponse(path: boolean[]): TxnResponse {
  // Only the outermost txn gets a header revision; nested ones keep etcd's empty header.
  return TxnResponse.create({ header: ResponseHeader.create(), succeeded: path[0]!, responses: [] });
}

/** Runs the chosen branches; returns how many path entries it consumed. */
async function runTxn(
  view: ReadView | WriteTxn,
  r: TxnRequest,
  path: boolean[],
  resp: TxnResponse,
  writable: boolean,
): Promise<number> {
  let used = 1;
  const ops = path[0]! ? r.success : r.failure;
  resp.succeeded = path[0]!;
  for (const op of ops) {
    const out: ResponseOp = {};
    if (op.requestRange !== undefined) {
      out.responseRange = await rangeIn(view, op.requestRange);
    } else if (op.requestPut !== undefined && writable) {
      out.responsePut = await putIn(view as WriteTxn, op.requestPut);
    } else if (op.requestDeleteRange !== undefined && writable) {
      out.responseDeleteRange = await deleteIn(view as WriteTxn, op.requestDeleteRange);
    } else if (op.requestTxn !== undefined) {
      const nested = newTxnResponse(path.slice(used));
      used += await runTxn(view, op.requestTxn, path.slice(used), nested, writable);
      out.responseTxn = nested;
    } else {
      // An empty RequestOp: validation rejects it (etcdserver: key not found).
      throw new MvccError('keyNotFound');
    }
    resp.responses.push(out);
  }
  return used;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
