// What the member does when it cannot go on, and that nothing waits forever or leaks.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { openServer, rejection, removeFixtureDirs, utf8, type ServerFixture } from './serverFixture.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';
import { PutRequest, RangeRequest } from '../../../src/proto/etcdserverpb.js';
import type { EtcdServer } from '../../../src/server/etcdServer.js';
import type { RaftLogStore } from '../../../src/storage/raftlog/store.js';
import type { WaitRegistry } from '../../../src/server/wait.js';

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
/** The server's private parts a test needs to reach: its raft log and its wait registry. */
const inside = (s: EtcdServer) => s as unknown as { raftLog: RaftLogStore; waits: WaitRegistry<unknown> };

describe('EtcdServer when its raft log cannot be written', () => {
  it('stops with fatal$, never acknowledges the write it could not persist, and still stops cleanly', async () => {
    const fx = track(await openServer());
    const s = fx.server;
    await s.put(put('before', '1'));
    const log = inside(s).raftLog;
    log.save = () => Promise.reject(new Error('injected: disk gone'));
    const fatal = firstValueFrom(s.fatal$);
    let settled = false;
    const write = rejection(s.put(put('after', '1')).finally(() => (settled = true)));
    const reason = await fatal;
    expect(reason.message).toMatch(/injected: disk gone/);
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await fx.stop();
    expect(toRpcError(await write).message).toBe('etcdserver: server stopped');
    // What was acknowledged before is there after a restart; the unpersisted write is not.
    const again = track(await fx.restart());
    const kvs = (await again.server.range(RangeRequest.create({ key: utf8('\0'), rangeEnd: utf8('\0') })))
      .kvs;
    expect(kvs.map((kv) => Buffer.from(kv.key).toString())).toEqual(['before']);
  });
});

describe('EtcdServer request bookkeeping', () => {
  it('leaves no wait registered after answered, failed and refused requests', async () => {
    const fx = track(await openServer({ config: { maxRequestBytes: 4096 } }));
    const s = fx.server;
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.put(put(`k${i}`, 'v'))));
    await rejection(s.put(PutRequest.create({ key: utf8('big'), value: new Uint8Array(8192) })));
    await rejection(s.leaseRevoke(0x999n));
    await rejection(s.compact({ revision: 10_000, physical: false }));
    expect(inside(s).waits.size).toBe(0);
  });

  it('a member without a leader leaves no wait behind its refused proposals', async () => {
    const fx = track(await openServer({ members: 3 }));
    const s = fx.server;
    const errors = await Promise.all(
      Array.from({ length: 20 }, (_, i) => rejection(s.put(put(`k${i}`, 'v')))),
    );
    expect(new Set(errors.map((e) => toRpcError(e).message))).toEqual(new Set(['etcdserver: no leader']));
    expect(inside(s).waits.size).toBe(0);
  });

  it('a proposal stuck behind a slow disk times out with "request timed out" and leaves no wait', async () => {
    const fx = track(await openServer());
    const s = fx.server;
    const log = inside(s).raftLog;
    const save = log.save.bind(log);
    // The disk takes longer than the request timeout (5 s + 2 × 100 ms election).
    log.save = (...args) => new Promise((r) => setTimeout(r, 5_600)).then(() => save(...args));
    const started = Date.now();
    const err = await rejection(s.put(put('slow', '1')));
    expect(toRpcError(err).message).toBe('etcdserver: request timed out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
    expect(inside(s).waits.size).toBe(0);
    log.save = save;
    // The entry itself was not lost: once its write lands it is applied (a timed-out write is indeterminate).
    const deadline = Date.now() + 3_000;
    while (s.kv.currentRevision < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(s.kv.currentRevision).toBe(2);
  }, 15_000);
});
