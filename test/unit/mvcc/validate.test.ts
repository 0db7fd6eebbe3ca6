// Request validation as etcd's v3rpc/key.go does it, and the error values of rpcErrors.ts.
import { describe, expect, it } from 'vitest';
import {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../../../src/proto/etcdserverpb.js';
import {
  checkDeleteRangeRequest,
  checkPutRequest,
  checkRangeRequest,
  checkRequestSize,
  checkTxnRequest,
} from '../../../src/api/validate.js';
import {
  ALL_RPC_ERRORS,
  ErrCompacted,
  GrpcCode,
  RpcError,
  rpcErrorByMessage,
  toRpcError,
} from '../../../src/api/rpcErrors.js';
import { MvccError } from '../../../src/mvcc/errors.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const put = (k: string): RequestOp =>
  RequestOp.create({ requestPut: PutRequest.create({ key: b(k), value: b('v') }) });
const del = (k: string, end = ''): RequestOp =>
  RequestOp.create({ requestDeleteRange: DeleteRangeRequest.create({ key: b(k), rangeEnd: b(end) }) });
const get = (k: string): RequestOp => RequestOp.create({ requestRange: RangeRequest.create({ key: b(k) }) });
const txn = (success: RequestOp[], failure: RequestOp[] = [], compare: Compare[] = []): TxnRequest =>
  TxnRequest.create({ success, failure, compare });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp =>
  RequestOp.create({ requestTxn: txn(success, failure) });

function error(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(RpcError);
    return (e as RpcError).message;
  }
}

describe('single requests', () => {
  it('rejects empty keys, value with ignore_value, lease with ignore_lease', () => {
    expect(error(() => checkRangeRequest(RangeRequest.create()))).toBe('etcdserver: key is not provided');
    expect(error(() => checkDeleteRangeRequest(DeleteRangeRequest.create()))).toBe(
      'etcdserver: key is not provided',
    );
    expect(error(() => checkPutRequest(PutRequest.create({ value: b('x') })))).toBe(
      'etcdserver: key is not provided',
    );
    expect(
      error(() => checkPutRequest(PutRequest.create({ key: b('k'), value: b('x'), ignoreValue: true }))),
    ).toBe('etcdserver: value is provided');
    expect(
      error(() => checkPutRequest(PutRequest.create({ key: b('k'), lease: 3n, ignoreLease: true }))),
    ).toBe('etcdserver: lease is provided');
    expect(
      error(() => checkPutRequest(PutRequest.create({ key: b('k'), ignoreValue: true, ignoreLease: true }))),
    ).toBeUndefined();
  });

  it('limits the request size (1.5 MiB by default, configurable)', () => {
    expect(error(() => checkRequestSize(1.5 * 1024 * 1024))).toBeUndefined();
    expect(error(() => checkRequestSize(1.5 * 1024 * 1024 + 1))).toBe('etcdserver: request is too large');
    expect(error(() => checkRequestSize(200, 100))).toBe('etcdserver: request is too large');
  });
});

describe('txn requests', () => {
  it('counts ops per list against max-txn-ops (128 by default)', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => put(`k${i}`));
    expect(error(() => checkTxnRequest(txn(many(128))))).toBeUndefined();
    expect(error(() => checkTxnRequest(txn(many(129))))).toBe(
      'etcdserver: too many operations in txn request',
    );
    expect(error(() => checkTxnRequest(txn([], many(3)), 2))).toBe(
      'etcdserver: too many operations in txn request',
    );
    // A nested txn gets what its parent left: 2 - 1 = 1 op.
    expect(error(() => checkTxnRequest(txn([nested([put('a'), put('b')])]), 2))).toBe(
      'etcdserver: too many operations in txn request',
    );
  });

  it('rejects empty keys in compares and ops, and empty ops', () => {
    expect(error(() => checkTxnRequest(txn([], [], [Compare.create()])))).toBe(
      'etcdserver: key is not provided',
    );
    expect(error(() => checkTxnRequest(txn([get('')])))).toBe('etcdserver: key is not provided');
    expect(error(() => checkTxnRequest(txn([RequestOp.create()])))).toBe('etcdserver: key not found');
  });

  it("applies etcd's duplicate-key rules", () => {
    const dup = 'etcdserver: duplicate key given in txn request';
    expect(error(() => checkTxnRequest(txn([put('a'), put('a')])))).toBe(dup);
    expect(error(() => checkTxnRequest(txn([put('a')], [put('a')])))).toBeUndefined();
    expect(error(() => checkTxnRequest(txn([del('a', 'c'), put('b')])))).toBe(dup);
    expect(error(() => checkTxnRequest(txn([del('a'), put('a')])))).toBe(dup);
    expect(error(() => checkTxnRequest(txn([del('a', 'c'), del('b', 'd')])))).toBeUndefined();
    expect(error(() => checkTxnRequest(txn([put('c'), del('a', 'c')])))).toBeUndefined();
    // Puts in the then and else branches of a nested txn exclude each other.
    expect(error(() => checkTxnRequest(txn([nested([put('a')], [put('a')])])))).toBeUndefined();
    expect(error(() => checkTxnRequest(txn([put('a'), nested([put('a')])])))).toBe(dup);
    expect(error(() => checkTxnRequest(txn([nested([del('a', 'z')]), put('m')])))).toBe(dup);
    expect(error(() => checkTxnRequest(txn([del('a', 'z'), nested([put('m')])])))).toBe(dup);
    // etcd takes a delete's range_end literally here, so a from-key delete overlaps nothing.
    expect(error(() => checkTxnRequest(txn([del('a', '\0'), put('b')])))).toBeUndefined();
  });
});

describe('rpc errors', () => {
  it('carry gRPC codes and exact texts, and internal errors map to them', () => {
    expect(ALL_RPC_ERRORS.length).toBeGreaterThanOrEqual(52);
    expect(new Set(ALL_RPC_ERRORS.map((e) => e.message)).size).toBe(ALL_RPC_ERRORS.length);
    for (const e of ALL_RPC_ERRORS) expect(e.message.startsWith('etcdserver: ')).toBe(true);
    expect(ErrCompacted.code).toBe(GrpcCode.OutOfRange);
    expect(toRpcError(new MvccError('compacted'))).toBe(ErrCompacted);
    expect(toRpcError(new MvccError('futureRev')).message).toBe(
      'etcdserver: mvcc: required revision is a future revision',
    );
    expect(toRpcError(new MvccError('leaseNotFound'))).toMatchObject({
      code: 5,
      message: 'etcdserver: requested lease not found',
    });
    expect(toRpcError(new MvccError('keyNotFound'))).toMatchObject({
      code: 3,
      message: 'etcdserver: key not found',
    });
    expect(toRpcError(new Error('boom'))).toMatchObject({ code: GrpcCode.Unknown, message: 'boom' });
    expect(rpcErrorByMessage('etcdserver: too many requests')?.code).toBe(GrpcCode.Unknown);
    expect(rpcErrorByMessage('etcdserver: no leader')?.code).toBe(GrpcCode.Unavailable);
  });
});
