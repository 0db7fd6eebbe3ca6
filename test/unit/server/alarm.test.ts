import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openServer, rejection, removeFixtureDirs, utf8, type ServerFixture } from './serverFixture.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';
import {
  AlarmRequest,
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmType,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
} from '../../../src/proto/etcdserverpb.js';
import type { EtcdServer } from '../../../src/server/etcdServer.js';

let fixtures: ServerFixture[] = [];
const track = (f: ServerFixture): ServerFixture => {
  fixtures.push(f);
  return f;
};
afterEach(async () => {
  for (const f of fixtures) await f.stop();
  fixtures = [];
});
afterAll(removeFixtureDirs);

const put = (key: string, value: string) => PutRequest.create({ key: utf8(key), value: utf8(value) });
const alarm = (s: EtcdServer, action: AlarmAction, type = AlarmType.NOSPACE, memberId = s.memberId) =>
  s.alarm(AlarmRequest.create({ action, memberId, alarm: type }));
const NOSPACE = 'etcdserver: mvcc: database space exceeded';

describe('EtcdServer NOSPACE alarm', () => {
  it('refuses growing writes until disarmed; reads, deletes and compaction go on', async () => {
    const { server: s } = track(await openServer());
    await s.put(put('a', '1'));
    await s.put(put('b', '1'));
    const raised = await alarm(s, AlarmAction.ACTIVATE);
    expect(raised.alarms).toEqual([{ memberId: s.memberId, alarm: AlarmType.NOSPACE }]);
    // etcd 3.4 answers Alarm with no header at all.
    expect(raised.header).toBeUndefined();
    expect((await alarm(s, AlarmAction.GET, AlarmType.NONE, 0n)).alarms).toEqual(raised.alarms);
    const rev = s.kv.currentRevision;

    expect(toRpcError(await rejection(s.put(put('c', '1')))).message).toBe(NOSPACE);
    const writingTxn = TxnRequest.create({ success: [{ requestPut: put('c', '1') }] });
    expect(toRpcError(await rejection(s.txn(writingTxn))).message).toBe(NOSPACE);
    expect(toRpcError(await rejection(s.leaseGrant({ id: 0n, ttl: 10 }))).message).toBe(NOSPACE);
    expect(s.kv.currentRevision).toBe(rev);

    expect((await s.range(RangeRequest.create({ key: utf8('a') }))).kvs).toHaveLength(1);
    const del = await s.deleteRange(DeleteRangeRequest.create({ key: utf8('a') }));
    expect(del.deleted).toBe(1);
    await s.compact({ revision: s.kv.currentRevision, physical: true });
    const deletingTxn = TxnRequest.create({
      success: [{ requestDeleteRange: DeleteRangeRequest.create({ key: utf8('b') }) }],
    });
    expect((await s.txn(deletingTxn)).succeeded).toBe(true);

    const cleared = await alarm(s, AlarmAction.DEACTIVATE);
    expect(cleared.alarms).toEqual(raised.alarms);
    expect((await alarm(s, AlarmAction.GET, AlarmType.NONE, 0n)).alarms).toEqual([]);
    const ok = await s.put(put('c', '1'));
    expect(ok.header?.revision).toBe(s.kv.currentRevision);
  });

  it('raising a raised alarm or clearing a clear one changes nothing and answers no alarm', async () => {
    const { server: s } = track(await openServer());
    expect((await alarm(s, AlarmAction.DEACTIVATE)).alarms).toEqual([]);
    await alarm(s, AlarmAction.ACTIVATE);
    expect((await alarm(s, AlarmAction.ACTIVATE)).alarms).toEqual([]);
    expect((await alarm(s, AlarmAction.GET, AlarmType.NOSPACE, 0n)).alarms).toHaveLength(1);
    expect((await alarm(s, AlarmAction.GET, AlarmType.CORRUPT, 0n)).alarms).toHaveLength(0);
  });

  it('the quota guard raises NOSPACE on the leader once the key space outgrows the quota', async () => {
    const { server: s } = track(await openServer({ config: { quotaBackendBytes: 64 * 1024 } }));
    const big = Buffer.alloc(32 * 1024, 7);
    // Writes go in until the guard (polling every second) notices the size.
    let refused: Error | undefined;
    for (let i = 0; i < 400 && !refused; i++) {
      await s
        .put(PutRequest.create({ key: utf8(`big${i}`), value: big }))
        .catch((err: Error) => (refused = err));
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    expect(refused && toRpcError(refused).message).toBe(NOSPACE);
    expect(s.alarms.list()).toEqual([{ memberId: s.memberId, alarm: AlarmType.NOSPACE }]);
  }, 20_000);

  it('a put whose cost would pass the quota is refused before it is proposed, raising NOSPACE (etcd quota check)', async () => {
    const { server: s } = track(await openServer({ config: { quotaBackendBytes: 64 * 1024 } }));
    const revision = (await s.range(RangeRequest.create({ key: utf8('x') }))).header!.revision;
    // Larger than the whole quota: refused at once, whatever the guard has measured so far.
    const err = await s.put(PutRequest.create({ key: utf8('huge'), value: Buffer.alloc(70 * 1024, 1) })).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err && toRpcError(err).message).toBe(NOSPACE);
    expect(s.alarms.list()).toEqual([{ memberId: s.memberId, alarm: AlarmType.NOSPACE }]);
    expect((await s.range(RangeRequest.create({ key: utf8('huge') }))).kvs).toEqual([]);
    expect((await s.range(RangeRequest.create({ key: utf8('x') }))).header!.revision).toBe(revision);
  });

  it('a raised alarm survives a restart, also after the log was compacted', async () => {
    const fx = track(await openServer({ config: { snapshotCount: 10, snapshotCatchUpEntries: 2 } }));
    await alarm(fx.server, AlarmAction.ACTIVATE);
    for (let i = 0; i < 20; i++)
      await fx.server.deleteRange(DeleteRangeRequest.create({ key: utf8(`k${i}`) }));
    await new Promise((r) => setTimeout(r, 200));
    const again = track(await fx.restart());
    expect(again.server.alarms.list()).toEqual([
      { memberId: again.server.memberId, alarm: AlarmType.NOSPACE },
    ]);
    expect(toRpcError(await rejection(again.server.put(put('x', '1')))).message).toBe(NOSPACE);
    await alarm(again.server, AlarmAction.DEACTIVATE);
    const third = track(await again.restart());
    expect(third.server.alarms.list()).toEqual([]);
    expect((await third.server.put(put('x', '1'))).header?.revision).toBe(third.server.kv.currentRevision);
  });

  it('CORRUPT refuses every write and lease change through the log until disarmed; reads are served', async () => {
    const { server: s } = track(await openServer());
    await s.put(put('a', '1'));
    await alarm(s, AlarmAction.ACTIVATE, AlarmType.CORRUPT);
    const CORRUPT = 'etcdserver: corrupt cluster';
    const refused = await Promise.all(
      [
        s.put(put('b', '1')),
        s.deleteRange(DeleteRangeRequest.create({ key: utf8('a') })),
        s.txn(TxnRequest.create({ success: [{ requestPut: put('c', '1') }] })),
        s.compact({ revision: 1, physical: false }),
        s.leaseGrant({ id: 0n, ttl: 10 }),
      ].map(rejection),
    );
    expect(refused.map((e) => toRpcError(e).message)).toEqual(refused.map(() => CORRUPT));
    expect((await s.range(RangeRequest.create({ key: utf8('a') }))).kvs).toHaveLength(1);
    // With both raised, a growing write hears about the space first, as etcd's stacked appliers answer.
    await alarm(s, AlarmAction.ACTIVATE, AlarmType.NOSPACE);
    expect(toRpcError(await rejection(s.put(put('b', '1')))).message).toBe(NOSPACE);
    expect(
      toRpcError(await rejection(s.deleteRange(DeleteRangeRequest.create({ key: utf8('a') })))).message,
    ).toBe(CORRUPT);
    await alarm(s, AlarmAction.DEACTIVATE, AlarmType.NOSPACE);
    await alarm(s, AlarmAction.DEACTIVATE, AlarmType.CORRUPT);
    expect((await s.put(put('b', '1'))).header?.revision).toBe(3);
  });

  it('replay after a crash that lost key-space commits applies each entry under the alarms of its own time', async () => {
    const fx = track(await openServer());
    const s = fx.server;
    await s.put(put('base', '1'));
    await new Promise((r) => setTimeout(r, 300));
    // Key-space commits from here on are held back: the disk has the raft log for what
    // follows, but not its effects, as when a process dies before its next commit.
    const commit = s.kv.commit.bind(s.kv);
    const held: Array<() => void> = [];
    s.kv.commit = (opts) =>
      new Promise<void>((resolve, reject) => held.push(() => void commit(opts).then(resolve, reject)));
    const acked = await s.put(put('p1', '1'));
    await alarm(s, AlarmAction.ACTIVATE);
    expect(toRpcError(await rejection(s.put(put('p2', '1')))).message).toBe(NOSPACE);
    await new Promise((r) => setTimeout(r, 300));
    // The disk as a crash would leave it now.
    const image = await mkdtemp(join(tmpdir(), 'xetcd-crash-image-'));
    try {
      await cp(fx.dataDir, image, { recursive: true });
      for (const release of held) release();
      s.kv.commit = commit;
      await fx.stop();
      const crashed = track(await openServer({ dataDir: image }));
      // p1 was acknowledged before the alarm: replay must not refuse it under the later alarm.
      const got = await crashed.server.range(RangeRequest.create({ key: utf8('p'), rangeEnd: utf8('q') }));
      expect(got.kvs.map((kv) => [Buffer.from(kv.key).toString(), kv.modRevision])).toEqual([
        ['p1', acked.header!.revision],
      ]);
      expect(crashed.server.alarms.list()).toEqual([
        { memberId: crashed.server.memberId, alarm: AlarmType.NOSPACE },
      ]);
      await crashed.stop();
    } finally {
      await rm(image, { recursive: true, force: true });
    }
  });
});
