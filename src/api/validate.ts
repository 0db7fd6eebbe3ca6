import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../proto/etcdserverpb.js';
import {
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrLeaseProvided,
  ErrRequestTooLarge,
  ErrTooManyOps,
  ErrValueProvided,
} from './rpcErrors.js';

/**
 * Request checks done before a request is proposed, exactly as etcd's
 * v3rpc/key.go does them, with etcd's errors (thrown as RpcError).
 */
export const DEFAULT_MAX_TXN_OPS = 128;
/** etcd's DefaultMaxRequestBytes: 1.5 MiB of raft-encoded request. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

export function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw ErrEmptyKey;
}

export function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw ErrEmptyKey;
  if (r.ignoreValue && r.value.length !== 0) throw ErrValueProvided;
  if (r.ignoreLease && r.lease !== 0n) throw ErrLeaseProvided;
}

export function checkDeleteRangeRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw ErrEmptyKey;
}

/**
 * Op counts (the largest of compare, success and failure must not exceed
 * maxTxnOps; nested txns get what the parent left), keys, empty ops, and
 * then put/delete overlaps in each branch (etcd checks overlaps last to
 * avoid quadratic work on requests that fail anyway).
 */
export function checkTxnRequest(r: TxnRequest, maxTxnOps = DEFAULT_MAX_TXN_OPS): void {
  checkTxnShape(r, maxTxnOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

/** The encoded size of a request as it will be proposed. */
export function checkRequestSize(encodedBytes: number, maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES): void {
  if (encodedBytes > maxRequestBytes) throw ErrRequestTooLarge;
}

function checkTxnShape(r: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) throw ErrTooManyOps;
  for (const c of r.compare) checkCompare(c);
  for (const op of r.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of r.failure) checkRequestOp(op, maxTxnOps - opc);
}

function checkCompare(c: Compare): void {
  if (c.key.length === 0) throw ErrEmptyKey;
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange !== undefined) return checkRangeRequest(op.requestRange);
  if (op.requestPut !== undefined) return checkPutRequest(op.requestPut);
  if (op.requestDeleteRange !== undefined) return checkDeleteRangeRequest(op.requestDeleteRange);
  if (op.requestTxn !== undefined) return checkTxnShape(op.requestTxn, maxTxnOps);
  // An op with no request set: etcd answers "key not found".
  throw ErrKeyNotFound;
}

/**
 * A half-open interval of keys compared as raw bytes; `end` undefined means
 * "no upper bound". etcd builds these from delete ranges with the end taken
 * literally, so a from-key delete (end 0x00) covers nothing here, exactly as
 * in etcd's checkIntervals.
 */
interface Interval {
  start: Buffer;
  end: Buffer | undefined;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function pointInterval(key: Buffer): Interval {
  return { start: key, end: Buffer.concat([key, Buffer.of(0)]) };
}

function containsPoint(dels: Interval[], key: Buffer): boolean {
  return dels.some(
    (d) => Buffer.compare(d.start, key) <= 0 && (d.end === undefined || Buffer.compare(key, d.end) < 0),
  );
}

/**
 * etcd's checkIntervals: no two puts of one key in a branch (a put in both
 * the then and the else branch of a nested txn is fine, they exclude each
 * other), and no put inside a delete range of the same or an enclosing level.
 * Returns the branch's puts and deletes for the enclosing level.
 */
function checkIntervals(ops: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (d === undefined) continue;
    const key = buf(d.key);
    dels.push(d.rangeEnd.length !== 0 ? { start: key, end: buf(d.rangeEnd) } : pointInterval(key));
  }
  const puts = new Set<string>();
  const hasDel = (k: string): boolean => containsPoint(dels, Buffer.from(k, 'latin1'));
  for (const op of ops) {
    const t = op.requestTxn;
    if (t === undefined) continue;
    const then = checkIntervals(t.success);
    const otherwise = checkIntervals(t.failure);
    for (const k of then.puts) {
      if (puts.has(k) || hasDel(k)) throw ErrDuplicateKey;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw ErrDuplicateKey;
      if (hasDel(k)) throw ErrDuplicateKey;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    const p = op.requestPut;
    if (p === undefined) continue;
    const k = buf(p.key).toString('latin1');
    if (puts.has(k) || hasDel(k)) throw ErrDuplicateKey;
    puts.add(k);
  }
  return { puts, dels };
}
