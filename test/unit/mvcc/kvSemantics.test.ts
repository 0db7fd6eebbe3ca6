// Section C of testing-scenarios.md (29-37): etcd's KV semantics through the
// request executors the server's apply loop calls.
import { afterEach, describe, expect, it } from 'vitest';
import {
  Compare,
  Compare_CompareResult as R,
  Compare_CompareTarget as T,
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  RequestOp,
  TxnRequest,
} from '../../../src/proto/etcdserverpb.js';
import {
  applyCompaction,
  applyDeleteRange,
  applyPut,
  applyRange,
  applyTxn,
} from '../../../src/mvcc/kvRequests.js';
import type { KvStore } from '../../../src/mvcc/kvStore.js';
import { MvccError } from '../../../src/mvcc/errors.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';
import { StoreFixture, b, str } from './storeFixture.js';

const fx = new StoreFixture();
afterEach(() => fx.cleanup());

const put = (s: KvStore, k: string, v: string, extra: Partial<PutRequest> = {}) =>
  applyPut(s, PutRequest.create({ key: b(k), value: b(v), ...extra }));
const get = (s: KvStore, k: string, extra: Partial<RangeRequest> = {}) =>
  applyRange(s, RangeRequest.create({ key: b(k), ...extra }));
const del = (s: KvStore, k: string, end?: string, extra: Partial<DeleteRangeRequest> = {}) =>
  applyDeleteRange(
    s,
    DeleteRangeRequest.create({
      key: b(k),
      rangeEnd: end === undefined ? new Uint8Array(0) : b(end),
      ...extra,
    }),
  );
const opPut = (k: string, v: string): RequestOp =>
  RequestOp.create({ requestPut: PutRequest.create({ key: b(k), value: b(v) }) });
const opGet = (k: string): RequestOp =>
  RequestOp.create({ requestRange: RangeRequest.create({ key: b(k) }) });
const opDel = (k: string): RequestOp =>
  RequestOp.create({ requestDeleteRange: DeleteRangeRequest.create({ key: b(k) }) });
const keys = (kvs: { key: Uint8Array }[]) => kvs.map((kv) => str(kv.key));

async function rpcMessage(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return toRpcError(e).message;
  }
  throw new Error('expected the call to fail');
}

describe('29 revision and version bookkeeping', () => {
  it('starts at revision 1 and counts create/mod/version per key', async () => {
    const { store } = await fx.open();
    expect(store.currentRevision).toBe(1);
    expect((await get(store, 'a')).header?.revision).toBe(1);
    expect((await put(store, 'a', '1')).header?.revision).toBe(2);
    let kv = (await get(store, 'a')).kvs[0]!;
    expect([kv.createRevision, kv.modRevision, kv.version]).toEqual([2, 2, 1]);
    expect((await put(store, 'a', '2')).header?.revision).toBe(3);
    kv = (await get(store, 'a')).kvs[0]!;
    expect([kv.createRevision, kv.modRevision, kv.version, str(kv.value)]).toEqual([2, 3, 2, '2']);
    expect((await put(store, 'b', '1')).header?.revision).toBe(4);
  });
});

describe('30 delete', () => {
  it('bumps the revision only when something is deleted; a re-put starts a new life', async () => {
    const { store } = await fx.open();
    await put(store, 'a', '1');
    await put(store, 'a', '2');
    const d1 = await del(store, 'a');
    expect([d1.deleted, d1.header?.revision, store.currentRevision]).toEqual([1, 4, 4]);
    expect((await get(store, 'a')).kvs).toEqual([]);
    const d2 = await del(store, 'a');
    expect([d2.deleted, d2.header?.revision, store.currentRevision]).toEqual([0, 4, 4]);
    await put(store, 'a', '3');
    const kv = (await get(store, 'a')).kvs[0]!;
    expect([kv.createRevision, kv.modRevision, kv.version]).toEqual([5, 5, 1]);
  });

  it('deletes a whole range at one revision', async () => {
    const { store } = await fx.open();
    for (const k of ['a', 'ab', 'b', 'c']) await put(store, k, 'v');
    const events: number[] = [];
    const sub = store.changes$.subscribe((c) => events.push(c.revision, c.events.length));
    const d = await del(store, 'a', 'c', { prevKv: true });
    sub.unsubscribe();
    expect(d.deleted).toBe(3);
    expect(keys(d.prevKvs)).toEqual(['a', 'ab', 'b']);
    expect(events).toEqual([6, 3]);
    expect(keys((await get(store, '\0', { rangeEnd: b('\0') })).kvs)).toEqual(['c']);
  });
});

describe('31 transactions are atomic and use one revision', () => {
  it('runs the success branch at one new revision', async () => {
    const { store } = await fx.open();
    await put(store, 'a', '1');
    await put(store, 'c', '1');
    const m = (await get(store, 'a')).kvs[0]!.modRevision;
    const txn = TxnRequest.create({
      compare: [Compare.create({ key: b('a'), target: T.MOD, result: R.EQUAL, modRevision: m })],
      success: [opPut('a', '2'), opPut('b', '2'), opDel('c')],
      failure: [opGet('a')],
    });
    const r = await applyTxn(store, txn);
    expect(r.succeeded).toBe(true);
    expect(r.header?.revision).toBe(4);
    expect(store.currentRevision).toBe(4);
    const all = await get(store, '\0', { rangeEnd: b('\0') });
    expect(all.kvs.map((kv) => [str(kv.key), kv.modRevision])).toEqual([
      ['a', 4],
      ['b', 4],
    ]);
    // The same compare now fails: the failure branch only reads, so the revision stays.
    const r2 = await applyTxn(store, txn);
    expect(r2.succeeded).toBe(false);
    expect(r2.header?.revision).toBe(4);
    expect(store.currentRevision).toBe(4);
    expect(str(r2.responses[0]!.responseRange!.kvs[0]!.value)).toBe('2');
  });

  it('reads inside a txn see its own writes; nested txns share the revision', async () => {
    const { store } = await fx.open();
    const r = await applyTxn(
      store,
      TxnRequest.create({
        success: [
          opPut('x', '1'),
          opGet('x'),
          RequestOp.create({
            requestTxn: TxnRequest.create({
              compare: [Compare.create({ key: b('x'), target: T.VERSION, result: R.EQUAL, version: 0 })],
              success: [opPut('y', 'then')],
              failure: [opPut('y', 'else')],
            }),
          }),
        ],
      }),
    );
    expect(r.header?.revision).toBe(2);
    const inner = r.responses[1]!.responseRange!;
    expect(str(inner.kvs[0]!.value)).toBe('1');
    expect(inner.header?.revision).toBe(2);
    // Nested compares are evaluated against the state before the txn: x did not exist then.
    expect(r.responses[2]!.responseTxn!.succeeded).toBe(true);
    expect(str((await get(store, 'y')).kvs[0]!.value)).toBe('then');
    expect((await get(store, 'y')).kvs[0]!.modRevision).toBe(2);
  });

  it('a read-only txn never bumps the revision; an error rolls everything back', async () => {
    const { store } = await fx.open();
    await put(store, 'a', '1');
    await applyTxn(store, TxnRequest.create({ success: [opGet('a'), opGet('b')] }));
    expect(store.currentRevision).toBe(2);
    const failing = applyTxn(
      store,
      TxnRequest.create({
        success: [
          opPut('z', '1'),
          RequestOp.create({ requestPut: PutRequest.create({ key: b('q'), value: b('1'), lease: 77n }) }),
        ],
      }),
    );
    expect(await rpcMessage(failing)).toBe('etcdserver: requested lease not found');
    expect(store.currentRevision).toBe(2);
    expect((await get(store, 'z')).kvs).toEqual([]);
  });
});

describe('write txn rollback', () => {
  it('undoes every change of a txn that throws: index, leases, pending records and revision', async () => {
    const { store, dir } = await fx.open();
    store.leaseGrant(1n, 10);
    store.leaseGrant(2n, 10);
    await put(store, 'a', 'old', { lease: 1n });
    await put(store, 'b', 'old');
    const events: number[] = [];
    store.changes$.subscribe((c) => events.push(c.revision));
    await expect(
      store.write(async (txn) => {
        await txn.put(b('a'), b('new'), { lease: 2n });
        await txn.put(b('fresh'), b('x'));
        await txn.deleteRange(b('b'));
        expect(txn.revision).toBe(4);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(events).toEqual([]);
    expect(store.currentRevision).toBe(3);
    const all = await get(store, '\0', { rangeEnd: b('\0') });
    expect(all.kvs.map((kv) => [str(kv.key), str(kv.value), kv.version, kv.lease])).toEqual([
      ['a', 'old', 1, 1n],
      ['b', 'old', 1, 0n],
    ]);
    expect(store.keysOfLease(1n).map(str)).toEqual(['a']);
    expect(store.keysOfLease(2n)).toEqual([]);
    const next = await put(store, 'c', '1');
    expect(next.header?.revision).toBe(4);
    expect((await get(store, 'c')).kvs[0]!.createRevision).toBe(4);
    await store.commit({ consistentIndex: 1 });
    await store.close();
    const { store: again } = await fx.open(dir);
    expect((await again.eventsBetween(2, 4)).map((c) => c.events.map((e) => str(e.kv!.key)))).toEqual([
      ['a'],
      ['b'],
      ['c'],
    ]);
  });
});

describe('txn checks before anything is written', () => {
  it('a range at a compacted or future revision, or an ignore_value put of a missing key, fails the whole txn', async () => {
    const { store } = await fx.open();
    for (let i = 0; i < 5; i++) await put(store, 'k', `${i}`);
    await applyCompaction(store, CompactionRequest.create({ revision: 4 }));
    const withRange = (revision: number) =>
      applyTxn(
        store,
        TxnRequest.create({
          success: [
            opPut('w', '1'),
            RequestOp.create({ requestRange: RangeRequest.create({ key: b('k'), revision }) }),
          ],
        }),
      );
    expect(await rpcMessage(withRange(3))).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(await rpcMessage(withRange(7))).toBe('etcdserver: mvcc: required revision is a future revision');
    const ignoreValue = RequestOp.create({
      requestPut: PutRequest.create({ key: b('missing'), ignoreValue: true }),
    });
    expect(
      await rpcMessage(applyTxn(store, TxnRequest.create({ success: [opPut('w', '1'), ignoreValue] }))),
    ).toBe('etcdserver: key not found');
    expect(store.currentRevision).toBe(6);
    expect((await get(store, 'w')).kvs).toEqual([]);
    // The same range in the branch that does not run is not checked.
    const r = await applyTxn(
      store,
      TxnRequest.create({
        compare: [Compare.create({ key: b('k'), target: T.VERSION, result: R.EQUAL, version: 99 })],
        success: [RequestOp.create({ requestRange: RangeRequest.create({ key: b('k'), revision: 3 }) })],
        failure: [opPut('w', '1')],
      }),
    );
    expect([r.succeeded, r.header?.revision]).toEqual([false, 7]);
    expect(r.responses[0]!.responsePut!.header?.revision).toBe(7);
  });
});

describe('32 compare targets', () => {
  it('evaluates VALUE, VERSION, CREATE, MOD and LEASE against the current state', async () => {
    const { store } = await fx.open();
    store.leaseGrant(5n, 60);
    await put(store, 'k', 'v', { lease: 5n });
    const holds = async (c: Partial<Compare>) =>
      (await applyTxn(store, TxnRequest.create({ compare: [Compare.create({ key: b('k'), ...c })] })))
        .succeeded;
    expect(await holds({ target: T.VALUE, result: R.EQUAL, value: b('v') })).toBe(true);
    expect(await holds({ target: T.VALUE, result: R.GREATER, value: b('u') })).toBe(true);
    expect(await holds({ target: T.VALUE, result: R.LESS, value: b('u') })).toBe(false);
    expect(await holds({ target: T.VERSION, result: R.EQUAL, version: 1 })).toBe(true);
    expect(await holds({ target: T.CREATE, result: R.EQUAL, createRevision: 2 })).toBe(true);
    expect(await holds({ target: T.MOD, result: R.NOT_EQUAL, modRevision: 2 })).toBe(false);
    expect(await holds({ target: T.LEASE, result: R.EQUAL, lease: 5n })).toBe(true);
    expect(await holds({ target: T.LEASE, result: R.GREATER, lease: 4n })).toBe(true);
  });

  it('a missing key compares as zeros, and VALUE compares on it fail', async () => {
    const { store } = await fx.open();
    const holds = async (c: Partial<Compare>) =>
      (await applyTxn(store, TxnRequest.create({ compare: [Compare.create({ key: b('missing'), ...c })] })))
        .succeeded;
    expect(await holds({ target: T.VERSION, result: R.GREATER, version: 0 })).toBe(false);
    expect(await holds({ target: T.MOD, result: R.EQUAL, modRevision: 0 })).toBe(true);
    expect(await holds({ target: T.CREATE, result: R.EQUAL, createRevision: 0 })).toBe(true);
    expect(await holds({ target: T.VALUE, result: R.EQUAL, value: new Uint8Array(0) })).toBe(false);
    expect(await holds({ target: T.VALUE, result: R.NOT_EQUAL, value: b('x') })).toBe(false);
  });

  it('a compare over a range must hold for every key in it', async () => {
    const { store } = await fx.open();
    await put(store, 'p/1', 'a');
    await put(store, 'p/2', 'a');
    await put(store, 'p/2', 'b');
    const holds = async (version: number, result: R) =>
      (
        await applyTxn(
          store,
          TxnRequest.create({
            compare: [
              Compare.create({ key: b('p/'), rangeEnd: b('p0'), target: T.VERSION, result, version }),
            ],
          }),
        )
      ).succeeded;
    expect(await holds(0, R.GREATER)).toBe(true);
    expect(await holds(1, R.EQUAL)).toBe(false);
    expect(await holds(3, R.LESS)).toBe(true);
  });
});

describe('33 range semantics', () => {
  it('handles ranges, prefixes, from-key, limit, count_only and keys_only', async () => {
    const { store } = await fx.open();
    for (const k of ['a', 'a1', 'b', 'c', 'd']) await put(store, k, `v-${k}`);
    expect(keys((await get(store, 'b', { rangeEnd: b('d') })).kvs)).toEqual(['b', 'c']);
    expect(keys((await get(store, 'a', { rangeEnd: b('b') })).kvs)).toEqual(['a', 'a1']);
    expect(keys((await get(store, 'b', { rangeEnd: b('\0') })).kvs)).toEqual(['b', 'c', 'd']);
    expect(keys((await get(store, '\0', { rangeEnd: b('\0') })).kvs)).toEqual(['a', 'a1', 'b', 'c', 'd']);
    const limited = await get(store, '\0', { rangeEnd: b('\0'), limit: 2 });
    expect([keys(limited.kvs), limited.more, limited.count]).toEqual([['a', 'a1'], true, 5]);
    const counted = await get(store, '\0', { rangeEnd: b('\0'), countOnly: true });
    expect([counted.kvs.length, counted.count, counted.more]).toEqual([0, 5, false]);
    const ko = await get(store, 'a', { rangeEnd: b('b'), keysOnly: true });
    expect(ko.kvs.map((kv) => kv.value.length)).toEqual([0, 0]);
    expect(ko.kvs[0]!.version).toBe(1);
    expect((await get(store, 'd', { rangeEnd: b('a') })).kvs).toEqual([]);
  });

  it('sorts by every target and filters by mod/create revision', async () => {
    const { store } = await fx.open();
    await put(store, 'a', 'z'); // 2
    await put(store, 'b', 'y'); // 3
    await put(store, 'c', 'x'); // 4
    await put(store, 'a', 'w'); // 5
    const r = (extra: Partial<RangeRequest>) => get(store, '\0', { rangeEnd: b('\0'), ...extra });
    const D = RangeRequest_SortOrder.DESCEND;
    const A = RangeRequest_SortOrder.ASCEND;
    expect(keys((await r({ sortOrder: D })).kvs)).toEqual(['c', 'b', 'a']);
    expect(keys((await r({ sortTarget: RangeRequest_SortTarget.MOD })).kvs)).toEqual(['b', 'c', 'a']);
    expect(keys((await r({ sortTarget: RangeRequest_SortTarget.VALUE, sortOrder: A })).kvs)).toEqual([
      'a',
      'c',
      'b',
    ]);
    expect(
      keys((await r({ sortTarget: RangeRequest_SortTarget.CREATE, sortOrder: D, limit: 1 })).kvs),
    ).toEqual(['c']);
    expect(
      keys((await r({ sortTarget: RangeRequest_SortTarget.VERSION, sortOrder: D, limit: 1 })).kvs),
    ).toEqual(['a']);
    const filtered = await r({ minModRevision: 3, maxModRevision: 4 });
    expect([keys(filtered.kvs), filtered.count]).toEqual([['b', 'c'], 3]);
    expect(keys((await r({ maxCreateRevision: 3 })).kvs)).toEqual(['a', 'b']);
    expect(keys((await r({ minCreateRevision: 3, limit: 1 })).kvs)).toEqual(['b']);
    expect((await r({ minCreateRevision: 3, limit: 1 })).more).toBe(true);
  });

  it('keys and values are arbitrary bytes, ordered bytewise', async () => {
    const { store } = await fx.open();
    const ks = [Buffer.of(0), Buffer.of(0, 0), Buffer.of(1, 0xff), Buffer.of(0xff), Buffer.of(0xff, 0xff, 0)];
    for (const k of [...ks].reverse())
      await applyPut(store, PutRequest.create({ key: k, value: Buffer.of(0, 0xff, 0x80) }));
    const all = await applyRange(store, RangeRequest.create({ key: Buffer.of(0), rangeEnd: Buffer.of(0) }));
    expect(all.kvs.map((kv) => Buffer.from(kv.key).toString('hex'))).toEqual(
      ks.map((k) => k.toString('hex')),
    );
    expect(Buffer.from(all.kvs[0]!.value).toString('hex')).toBe('00ff80');
  });
});

describe('34 historical reads', () => {
  it('reads old revisions, refuses compacted and future ones', async () => {
    const { store } = await fx.open();
    for (let i = 0; i < 9; i++) await put(store, 'k', `v${i + 2}`); // revisions 2..10
    await applyCompaction(store, CompactionRequest.create({ revision: 5 }));
    const at7 = await get(store, 'k', { revision: 7 });
    expect([str(at7.kvs[0]!.value), at7.header?.revision]).toEqual(['v7', 10]);
    expect(str((await get(store, 'k', { revision: 5 })).kvs[0]!.value)).toBe('v5');
    expect(await rpcMessage(get(store, 'k', { revision: 4 }))).toBe(
      'etcdserver: mvcc: required revision has been compacted',
    );
    expect(await rpcMessage(get(store, 'k', { revision: 11 }))).toBe(
      'etcdserver: mvcc: required revision is a future revision',
    );
  });
});

describe('35 compaction rules', () => {
  it('orders compactions and keeps what was live at the compact revision', async () => {
    const { store } = await fx.open();
    await put(store, 'a', '1'); // 2
    await put(store, 'b', '1'); // 3
    await put(store, 'a', '2'); // 4
    await del(store, 'b'); // 5
    await put(store, 'c', '1'); // 6
    await put(store, 'a', '3'); // 7
    const { physicalDone } = await applyCompaction(store, CompactionRequest.create({ revision: 5 }));
    await store.commit({ consistentIndex: 1 });
    await physicalDone;
    expect(keys((await get(store, '\0', { rangeEnd: b('\0'), revision: 5 })).kvs)).toEqual(['a']);
    expect(str((await get(store, 'a', { revision: 5 })).kvs[0]!.value)).toBe('2');
    await applyCompaction(store, CompactionRequest.create({ revision: 6 }));
    expect(await rpcMessage(applyCompaction(store, CompactionRequest.create({ revision: 5 })))).toBe(
      'etcdserver: mvcc: required revision has been compacted',
    );
    expect(await rpcMessage(applyCompaction(store, CompactionRequest.create({ revision: 8 })))).toBe(
      'etcdserver: mvcc: required revision is a future revision',
    );
  });

  it('keeps the tombstone that sits exactly at the compact revision (etcd #18274)', async () => {
    const { store } = await fx.open(undefined, { compactionBatchLimit: 2 });
    await put(store, 'k', '1'); // 2
    await del(store, 'k'); // 3
    await put(store, 'other', '1'); // 4
    const { physicalDone } = await store.compact(3);
    await store.commit({ consistentIndex: 1 });
    await physicalDone;
    const history = await store.eventsBetween(3, 4);
    expect(
      history.map((c) => [c.revision, c.events.map((e) => [e.type, str(e.kv!.key), e.kv!.modRevision])]),
    ).toEqual([
      [3, [[1, 'k', 3]]],
      [4, [[0, 'other', 4]]],
    ]);
    await expect(store.eventsBetween(2, 4)).rejects.toThrow('required revision has been compacted');
    // The next compaction past it removes the tombstone.
    const next = await store.compact(4);
    await store.commit({ consistentIndex: 2 });
    await next.physicalDone;
    expect((await store.eventsBetween(4, 4)).length).toBe(1);
  });
});

describe('36 put options', () => {
  it('prev_kv, ignore_value and ignore_lease', async () => {
    const { store } = await fx.open();
    expect((await put(store, 'k', 'v1', { prevKv: true })).prevKv).toBeUndefined();
    const p = await put(store, 'k', 'v2', { prevKv: true });
    expect(str(p.prevKv!.value)).toBe('v1');
    expect(await rpcMessage(put(store, 'missing', '', { ignoreValue: true }))).toBe(
      'etcdserver: key not found',
    );
    store.leaseGrant(9n, 30);
    await put(store, 'k', 'v3', { lease: 9n });
    await put(store, 'k', '', { ignoreValue: true, ignoreLease: true });
    const kv = (await get(store, 'k')).kvs[0]!;
    expect([str(kv.value), kv.lease, kv.version]).toEqual(['v3', 9n, 4]);
    expect(store.keysOfLease(9n).map(str)).toEqual(['k']);
    // A put without a lease detaches the key.
    await put(store, 'k', 'v4');
    expect(store.keysOfLease(9n)).toEqual([]);
    expect(await rpcMessage(put(store, 'k', 'v', { lease: 10n }))).toBe(
      'etcdserver: requested lease not found',
    );
  });
});

describe('37 revisions never go backwards', () => {
  it('every write returns a revision above every earlier response', async () => {
    const { store, dir } = await fx.open();
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const r =
        i % 3 === 2
          ? (await get(store, 'k')).header!.revision
          : (await put(store, `k${i % 5}`, `${i}`)).header!.revision;
      expect(r).toBeGreaterThanOrEqual(last);
      last = r;
    }
    await store.commit({ consistentIndex: 30 });
    await store.close();
    const { store: again } = await fx.open(dir);
    expect(again.currentRevision).toBe(last);
    expect((await put(again, 'z', '1')).header!.revision).toBe(last + 1);
  });
});

describe('leases in the store', () => {
  it('revoking deletes the attached keys in one revision and survives a restart', async () => {
    const { store, dir } = await fx.open();
    store.leaseGrant(1n, 10);
    store.leaseGrant(2n, 20);
    await put(store, 'b', '1', { lease: 1n });
    await put(store, 'a', '1', { lease: 1n });
    await put(store, 'c', '1', { lease: 2n });
    store.leaseCheckpoint(2n, 7);
    await store.commit({ consistentIndex: 3 });
    await store.close();
    const { store: s2 } = await fx.open(dir);
    expect(s2.leases().map((l) => [l.id, l.ttl, l.remainingTtl])).toEqual([
      [1n, 10, 0],
      [2n, 20, 7],
    ]);
    expect(s2.keysOfLease(1n).map(str)).toEqual(['a', 'b']);
    const seen: string[][] = [];
    s2.changes$.subscribe((c) => seen.push(c.events.map((e) => `${c.revision}:${e.type}:${str(e.kv!.key)}`)));
    const r = await s2.leaseRevoke(1n);
    expect(r).toEqual({ revision: 5, deleted: 2 });
    expect(seen).toEqual([['5:1:a', '5:1:b']]);
    expect(s2.lease(1n)).toBeUndefined();
    await expect(s2.leaseRevoke(1n)).rejects.toBeInstanceOf(MvccError);
    expect(() => s2.leaseGrant(2n, 5)).toThrow('lease already exists');
    await s2.commit({ consistentIndex: 4 });
    await s2.close();
    const { store: s3 } = await fx.open(dir);
    expect(s3.leases().map((l) => l.id)).toEqual([2n]);
    expect(s3.keysOfLease(2n).map(str)).toEqual(['c']);
  });
});

describe('hashes', () => {
  it('equal histories give equal HashKV, with or without physical compaction done', async () => {
    const a = (await fx.open()).store;
    const c = (await fx.open()).store;
    for (const s of [a, c]) {
      for (let i = 0; i < 20; i++) await put(s, `k${i % 4}`, `v${i}`);
      await del(s, 'k1');
    }
    expect(await a.hashKV()).toEqual(await c.hashKV());
    const ca = await a.compact(10);
    await a.commit({ consistentIndex: 1 });
    await ca.physicalDone;
    await c.compact(10); // not committed: physical compaction has not run on c
    expect(await a.hashKV()).toEqual(await c.hashKV());
    expect((await a.hashKV(15)).hashRevision).toBe(15);
    await put(c, 'x', 'y');
    expect((await a.hashKV()).hash).not.toBe((await c.hashKV()).hash);
  });
});
