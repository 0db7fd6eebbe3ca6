import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom } from 'rxjs';
import { openServer, rejection, removeFixtureDirs, text, utf8, type ServerFixture } from './serverFixture.js';
import { LeaseTimeToLiveRequest, PutRequest, RangeRequest } from '../../../src/proto/etcdserverpb.js';
import type { EtcdServer } from '../../../src/server/etcdServer.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';

let fx: ServerFixture | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});
afterAll(removeFixtureDirs);

const ttlOf = (s: EtcdServer, id: bigint, keys = false) =>
  s.leaseTimeToLive(LeaseTimeToLiveRequest.create({ id, keys }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const observers = (subject: object): number => (subject as { observers: unknown[] }).observers.length;

describe('EtcdServer leases', () => {
  it('raises a short TTL to 1.5 × the election timeout and refuses a TTL above 9e9 s', async () => {
    fx = await openServer({ config: { heartbeatMs: 100, electionMs: 1000 } });
    const s = fx.server;
    const g = await s.leaseGrant({ id: 0n, ttl: 1 });
    expect(g.ttl).toBe(2);
    expect(g.header).toMatchObject({ memberId: s.memberId, clusterId: s.clusterId, revision: 1 });
    expect((await rejection(s.leaseGrant({ id: 0n, ttl: 9_000_000_001 }))).message).toBe(
      'etcdserver: too large lease TTL',
    );
    const max = await s.leaseGrant({ id: 0n, ttl: 9_000_000_000 });
    expect(max.ttl).toBe(9_000_000_000);
  });

  it('ID 0 gets a positive server-chosen ID; an explicit ID in use is refused', async () => {
    fx = await openServer();
    const s = fx.server;
    const ids = new Set<bigint>();
    for (let i = 0; i < 20; i++) {
      const g = await s.leaseGrant({ id: 0n, ttl: 60 });
      expect(g.id).toBeGreaterThan(0n);
      ids.add(g.id);
    }
    expect(ids.size).toBe(20);
    const mine = await s.leaseGrant({ id: 0x1234n, ttl: 60 });
    expect(mine.id).toBe(0x1234n);
    expect((await rejection(s.leaseGrant({ id: 0x1234n, ttl: 60 }))).message).toBe(
      'etcdserver: lease already exists',
    );
    const leases = await s.leaseLeases();
    expect(leases.leases.map((l) => l.id).sort()).toEqual([...ids, 0x1234n].sort());
  });

  it('TimeToLive: remaining and granted TTL with keys; -1 for an unknown lease', async () => {
    fx = await openServer();
    const s = fx.server;
    const { id } = await s.leaseGrant({ id: 0n, ttl: 30 });
    await s.put(PutRequest.create({ key: utf8('b'), value: utf8('1'), lease: id }));
    await s.put(PutRequest.create({ key: utf8('a'), value: utf8('1'), lease: id }));
    const t = await ttlOf(s, id, true);
    expect(t.grantedTtl).toBe(30);
    expect(t.ttl).toBeGreaterThan(25);
    expect(t.ttl).toBeLessThanOrEqual(30);
    expect(t.keys.map(text)).toEqual(['a', 'b']);
    expect(t.header).toMatchObject({ revision: 3, memberId: s.memberId });
    const unknown = await ttlOf(s, 0x77n);
    expect(unknown.ttl).toBe(-1);
    expect(unknown.id).toBe(0x77n);
  });

  it('revoke deletes every attached key at one revision; afterwards the lease is gone everywhere', async () => {
    fx = await openServer();
    const s = fx.server;
    const { id } = await s.leaseGrant({ id: 0n, ttl: 60 });
    for (const k of ['k1', 'k2', 'k3'])
      await s.put(PutRequest.create({ key: utf8(k), value: utf8('v'), lease: id }));
    await s.put(PutRequest.create({ key: utf8('free'), value: utf8('v') }));
    const before = s.kv.currentRevision;
    const events: number[] = [];
    const sub = s.kv.changes$.subscribe((c) => events.push(c.revision));
    const r = await s.leaseRevoke(id);
    sub.unsubscribe();
    expect(r.header?.revision).toBe(before + 1);
    expect(events).toEqual([before + 1]);
    const left = await s.range(RangeRequest.create({ key: utf8('\0'), rangeEnd: utf8('\0') }));
    expect(left.kvs.map((kv) => text(kv.key))).toEqual(['free']);
    expect((await ttlOf(s, id)).ttl).toBe(-1);
    expect((await rejection(s.leaseRenew(id))).message).toBe('etcdserver: requested lease not found');
    expect((await rejection(s.leaseRevoke(id))).message).toBe('etcdserver: requested lease not found');
    const rev = s.kv.currentRevision;
    const putErr = await rejection(
      s.put(PutRequest.create({ key: utf8('k1'), value: utf8('v'), lease: id })),
    );
    expect(toRpcError(putErr).message).toBe('etcdserver: requested lease not found');
    expect(s.kv.currentRevision).toBe(rev);
    // A lease with no keys is revoked without a new revision.
    const empty = await s.leaseGrant({ id: 0n, ttl: 60 });
    await s.leaseRevoke(empty.id);
    expect(s.kv.currentRevision).toBe(rev);
  });

  it('an unrenewed lease expires on the leader and its keys go at one revision', async () => {
    fx = await openServer(); // election 100 ms → minimum TTL 1 s
    const s = fx.server;
    const { id, ttl } = await s.leaseGrant({ id: 0n, ttl: 1 });
    expect(ttl).toBe(1);
    await s.put(PutRequest.create({ key: utf8('x'), value: utf8('1'), lease: id }));
    await s.put(PutRequest.create({ key: utf8('y'), value: utf8('1'), lease: id }));
    const rev = s.kv.currentRevision;
    const started = Date.now();
    await firstValueFrom(s.kv.changes$.pipe(filter((c) => c.revision === rev + 1)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(s.kv.currentRevision).toBe(rev + 1);
    expect((await s.range(RangeRequest.create({ key: utf8('x'), rangeEnd: utf8('z') }))).kvs).toEqual([]);
    expect((await ttlOf(s, id)).ttl).toBe(-1);
  });

  it('a keep-alive renews the lease for another TTL', async () => {
    fx = await openServer();
    const s = fx.server;
    const { id } = await s.leaseGrant({ id: 0n, ttl: 1 });
    await s.put(PutRequest.create({ key: utf8('kept'), value: utf8('1'), lease: id }));
    for (let i = 0; i < 6; i++) {
      await sleep(300);
      expect(await s.leaseRenew(id)).toBe(1);
    }
    expect((await s.range(RangeRequest.create({ key: utf8('kept') }))).kvs).toHaveLength(1);
  });

  it('a keep-alive never revives a lease whose time has run out (it is being revoked)', async () => {
    fx = await openServer();
    const s = fx.server;
    const { id } = await s.leaseGrant({ id: 0n, ttl: 1 });
    await s.put(PutRequest.create({ key: utf8('gone'), value: utf8('1'), lease: id }));
    // Past the expiry, usually before the next expiry sweep (every 500 ms) has revoked it.
    await sleep(1_050);
    const err = await rejection(s.leaseRenew(id));
    expect(err.message).toBe('etcdserver: requested lease not found');
    expect((await s.range(RangeRequest.create({ key: utf8('gone') }))).kvs).toEqual([]);
  });

  it('keep-alives and lease reads leave no subscriptions behind', async () => {
    fx = await openServer();
    const s = fx.server;
    const { id } = await s.leaseGrant({ id: 0n, ttl: 60 });
    const base = {
      stopping: observers(s.stopping$),
      applied: observers(s.applied$),
      leader: observers(s.leaderChanged$),
    };
    for (let i = 0; i < 200; i++) await s.leaseRenew(id);
    for (let i = 0; i < 20; i++) await ttlOf(s, id);
    expect(observers(s.stopping$)).toBe(base.stopping);
    expect(observers(s.applied$)).toBe(base.applied);
    expect(observers(s.leaderChanged$)).toBe(base.leader);
  });

  it('leases survive a restart: keys stay attached and the new leader grants each its full TTL again', async () => {
    fx = await openServer();
    const { id } = await fx.server.leaseGrant({ id: 0n, ttl: 30 });
    await fx.server.put(PutRequest.create({ key: utf8('held'), value: utf8('1'), lease: id }));
    await sleep(1_100);
    expect((await ttlOf(fx.server, id)).ttl).toBeLessThan(30);
    fx = await fx.restart();
    const t = await ttlOf(fx.server, id, true);
    // Full TTL plus the election timeout etcd adds on promotion, rounded up.
    expect(t.ttl).toBeGreaterThanOrEqual(30);
    expect(t.ttl).toBeLessThanOrEqual(31);
    expect(t.keys.map(text)).toEqual(['held']);
  });

  it('an applied checkpoint bounds the remaining TTL, also after a restart', async () => {
    fx = await openServer();
    const { id } = await fx.server.leaseGrant({ id: 0n, ttl: 60 });
    await fx.server.propose({ leaseCheckpoint: { checkpoints: [{ id, remainingTtl: 7 }] } });
    expect((await ttlOf(fx.server, id)).ttl).toBeLessThanOrEqual(7);
    fx = await fx.restart();
    const t = await ttlOf(fx.server, id);
    expect(t.grantedTtl).toBe(60);
    expect(t.ttl).toBeLessThanOrEqual(8);
  });

  it('a keep-alive racing a revoke never reports a TTL after the revoke was acknowledged (#20590)', async () => {
    fx = await openServer();
    const s = fx.server;
    for (let round = 0; round < 100; round++) {
      const { id } = await s.leaseGrant({ id: 0n, ttl: 60 });
      await s.put(PutRequest.create({ key: utf8(`r${round}`), value: utf8('v'), lease: id }));
      let revokedAt = Number.POSITIVE_INFINITY;
      const revoke = s.leaseRevoke(id).then(() => (revokedAt = performance.now()));
      const renewals = Array.from({ length: 3 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i));
        const startedAt = performance.now();
        const ttl = await s.leaseRenew(id).catch((err: Error) => {
          expect(err.message).toBe('etcdserver: requested lease not found');
          return 0;
        });
        return { startedAt, ttl };
      });
      await revoke;
      for (const { startedAt, ttl } of await Promise.all(renewals)) {
        if (startedAt > revokedAt) expect(ttl).toBe(0);
      }
      expect((await ttlOf(s, id)).ttl).toBe(-1);
      expect((await s.range(RangeRequest.create({ key: utf8(`r${round}`) }))).kvs).toEqual([]);
    }
  });
});
