import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openServer, rejection, removeFixtureDirs, text, utf8, type ServerFixture } from './serverFixture.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
} from '../../../src/proto/etcdserverpb.js';

let fx: ServerFixture | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});
afterAll(removeFixtureDirs);

const put = (key: string, value: string) => PutRequest.create({ key: utf8(key), value: utf8(value) });
const get = (key: string, extra: Partial<RangeRequest> = {}) =>
  RangeRequest.create({ key: utf8(key), ...extra });

describe('EtcdServer KV: answers and headers as etcd 3.4 fills them', () => {
  it('a fresh member is at revision 1; each put answers with its own new revision and full header', async () => {
    fx = await openServer();
    const s = fx.server;
    const r0 = await s.range(get('a'));
    expect(r0.header?.revision).toBe(1);
    expect(r0.kvs).toEqual([]);
    const p1 = await s.put(put('a', '1'));
    expect(p1.header).toMatchObject({ revision: 2, clusterId: s.clusterId, memberId: s.memberId });
    expect(p1.header!.raftTerm).toBeGreaterThanOrEqual(1);
    const p2 = await s.put(put('a', '2'));
    expect(p2.header?.revision).toBe(3);
    const r = await s.range(get('a'));
    expect(r.kvs.map((kv) => [text(kv.value), kv.createRevision, kv.modRevision, kv.version])).toEqual([
      ['2', 2, 3, 2],
    ]);
    expect(r.header).toMatchObject({
      revision: 3,
      clusterId: s.clusterId,
      memberId: s.memberId,
      raftTerm: p1.header!.raftTerm,
    });
  });

  it('a Range of an older revision reports the current store revision in its header', async () => {
    fx = await openServer();
    const s = fx.server;
    await s.put(put('k', 'v1'));
    await s.put(put('k', 'v2'));
    await s.put(put('other', 'x'));
    const old = await s.range(get('k', { revision: 2 }));
    expect(text(old.kvs[0]?.value)).toBe('v1');
    expect(old.header?.revision).toBe(4);
    const serial = await s.range(get('k', { revision: 2, serializable: true }));
    expect(serial.header?.revision).toBe(4);
    expect(toRpcError(await rejection(s.range(get('k', { revision: 9 })))).message).toBe(
      'etcdserver: mvcc: required revision is a future revision',
    );
  });

  it('every acknowledged write is seen by the next linearizable read, under concurrency', async () => {
    fx = await openServer();
    const s = fx.server;
    const writes = Array.from({ length: 200 }, (_, i) => s.put(put(`k${i % 20}`, `v${i}`)));
    // Each write, once answered, must be visible to a read that starts after it.
    const checks = writes.map(async (w, i) => {
      const resp = await w;
      const r = await s.range(get(`k${i % 20}`));
      expect(r.header!.revision).toBeGreaterThanOrEqual(resp.header!.revision);
      expect(r.kvs[0]!.modRevision).toBeGreaterThanOrEqual(resp.header!.revision);
    });
    await Promise.all(checks);
    const revisions = (await Promise.all(writes)).map((w) => w.header!.revision).sort((a, b) => a - b);
    // 200 puts → revisions 2..201, each exactly once: no write lost, none applied twice.
    expect(revisions).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
    expect(s.appliedIndex).toBeGreaterThanOrEqual(200);
  });

  it('DeleteRange: a delete of nothing keeps the revision; a delete of a range is one revision', async () => {
    fx = await openServer();
    const s = fx.server;
    await s.put(put('a', '1'));
    await s.put(put('b', '1'));
    const none = await s.deleteRange(DeleteRangeRequest.create({ key: utf8('zz') }));
    expect(none.deleted).toBe(0);
    expect(none.header?.revision).toBe(3);
    const both = await s.deleteRange(
      DeleteRangeRequest.create({ key: utf8('a'), rangeEnd: utf8('c'), prevKv: true }),
    );
    expect(both.deleted).toBe(2);
    expect(both.header?.revision).toBe(4);
    expect(both.prevKvs.map((kv) => text(kv.key))).toEqual(['a', 'b']);
  });

  it('a read-only Txn is a linearizable read with the current revision; a writing Txn bumps it once', async () => {
    fx = await openServer();
    const s = fx.server;
    await s.put(put('a', '1'));
    const ro = await s.txn(TxnRequest.create({ success: [{ requestRange: get('a') }] }));
    expect(ro.succeeded).toBe(true);
    expect(ro.header).toMatchObject({ revision: 2, memberId: s.memberId });
    expect(ro.responses[0]?.responseRange?.kvs.map((kv) => text(kv.value))).toEqual(['1']);
    const rw = await s.txn(
      TxnRequest.create({
        success: [{ requestPut: put('a', '2') }, { requestPut: put('b', '2') }, { requestRange: get('a') }],
      }),
    );
    expect(rw.header?.revision).toBe(3);
    expect(rw.responses[2]?.responseRange?.kvs[0]?.modRevision).toBe(3);
    // A writing txn whose taken branch only reads leaves the revision alone.
    const failing = await s.txn(
      TxnRequest.create({
        compare: [
          Compare.create({
            key: utf8('a'),
            target: Compare_CompareTarget.VALUE,
            result: Compare_CompareResult.EQUAL,
            value: utf8('nope'),
          }),
        ],
        success: [{ requestPut: put('a', '3') }],
        failure: [{ requestRange: get('a') }],
      }),
    );
    expect(failing.succeeded).toBe(false);
    expect(failing.header?.revision).toBe(3);
  });

  it('a request larger than --max-request-bytes is refused before it reaches Raft', async () => {
    fx = await openServer({ config: { maxRequestBytes: 1024 } });
    const s = fx.server;
    const applied = s.appliedIndex;
    const err = await rejection(s.put(PutRequest.create({ key: utf8('big'), value: new Uint8Array(2048) })));
    expect(err.message).toBe('etcdserver: request is too large');
    expect(s.appliedIndex).toBe(applied);
  });

  it("compaction: errors are etcd's, the header carries the current revision, physical waits for the disk", async () => {
    fx = await openServer();
    const s = fx.server;
    for (let i = 0; i < 5; i++) await s.put(put('k', `v${i}`));
    const c = await s.compact({ revision: 4, physical: true });
    expect(c.header).toMatchObject({ revision: 6, memberId: s.memberId });
    expect(toRpcError(await rejection(s.compact({ revision: 4, physical: false }))).message).toBe(
      'etcdserver: mvcc: required revision has been compacted',
    );
    expect(toRpcError(await rejection(s.compact({ revision: 7, physical: false }))).message).toBe(
      'etcdserver: mvcc: required revision is a future revision',
    );
    expect(toRpcError(await rejection(s.range(get('k', { revision: 3 })))).message).toBe(
      'etcdserver: mvcc: required revision has been compacted',
    );
    expect(text((await s.range(get('k', { revision: 4 }))).kvs[0]?.value)).toBe('v2');
  });
});
