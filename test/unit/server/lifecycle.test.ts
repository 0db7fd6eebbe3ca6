import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fixtureConfig,
  openServer,
  rejection,
  removeFixtureDirs,
  text,
  utf8,
  type ServerFixture,
} from './serverFixture.js';
import { EtcdServer } from '../../../src/server/etcdServer.js';
import { LoopbackTransport } from '../../../src/transport/loopback.js';
import { silentLogger } from '../../../src/logging.js';
import { createMetrics } from '../../../src/embed/metrics.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';
import { LeaseTimeToLiveRequest, PutRequest, RangeRequest } from '../../../src/proto/etcdserverpb.js';
import type { RaftNode } from '../../../src/raft/raftNode.js';

/** The Raft core's own configuration (voters and learners), which is private to the server. */
const raftLearners = (s: EtcdServer): bigint[] =>
  (s as unknown as { raft: RaftNode }).raft.status().config.learners;

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
const all = RangeRequest.create({ key: utf8('\0'), rangeEnd: utf8('\0') });

describe('EtcdServer without a leader (a member of three whose peers never start)', () => {
  it('refuses a write at once with "no leader"', async () => {
    const { server } = track(await openServer({ members: 3 }));
    const started = Date.now();
    const err = await rejection(server.put(put('a', '1')));
    expect(toRpcError(err).message).toBe('etcdserver: no leader');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('times a linearizable read out with "request timed out"; a serializable read is served', async () => {
    const { server } = track(await openServer({ members: 3 }));
    const serial = await server.range(RangeRequest.create({ key: utf8('a'), serializable: true }));
    expect(serial.header?.revision).toBe(1);
    const started = Date.now();
    const err = await rejection(server.range(RangeRequest.create({ key: utf8('a') })));
    expect(toRpcError(err).message).toBe('etcdserver: request timed out');
    // etcd's request timeout: 5 s plus twice the election timeout (100 ms here).
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
  }, 15_000);

  it('stop() fails every request in flight with "server stopped" and then refuses new ones', async () => {
    const fx = track(await openServer({ members: 3 }));
    const { server } = fx;
    const inFlight = [
      server.range(RangeRequest.create({ key: utf8('a') })),
      server.txn({
        compare: [],
        success: [{ requestRange: RangeRequest.create({ key: utf8('a') }) }],
        failure: [],
      }),
      server.leaseRenew(5n),
      server.leaseTimeToLive(LeaseTimeToLiveRequest.create({ id: 5n })),
      server.leaseLeases(),
      server.waitLinearizable(),
    ].map(rejection);
    await new Promise((r) => setTimeout(r, 50));
    const stopped = Date.now();
    await fx.stop();
    const errors = await Promise.all(inFlight);
    expect(errors.map((e) => toRpcError(e).message)).toEqual(
      inFlight.map(() => 'etcdserver: server stopped'),
    );
    expect(Date.now() - stopped).toBeLessThan(2_000);
    const late = await Promise.all(
      [
        server.put(put('a', '1')),
        server.range(all),
        server.leaseRenew(5n),
        server.leaseGrant({ id: 0n, ttl: 5 }),
      ].map(rejection),
    );
    expect(late.map((e) => toRpcError(e).message)).toEqual(late.map(() => 'etcdserver: server stopped'));
  });
});

describe('EtcdServer stop and restart', () => {
  it('a member opened but never started stops cleanly; stop() twice at once is one stop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xetcd-server-unstarted-'));
    try {
      const config = fixtureConfig(dir, 1);
      const never = await EtcdServer.open(config, {
        logger: silentLogger(),
        metrics: createMetrics(),
        transport: new LoopbackTransport(config.memberId),
      });
      await never.stop();
      const fx = await openServer({ dataDir: dir });
      await fx.server.put(put('a', '1'));
      await Promise.all([fx.server.stop(), fx.server.stop(), fx.stop()]);
      const again = await openServer({ dataDir: dir });
      expect((await again.server.range(all)).kvs).toHaveLength(1);
      await again.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stop() leaves no timer, immediate or handle behind, with or without a leader', async () => {
    const resources = () =>
      process
        .getActiveResourcesInfo()
        .reduce<Record<string, number>>((m, r) => ((m[r] = (m[r] ?? 0) + 1), m), {});
    const before = resources();
    const fx = await openServer({ config: { compaction: { mode: 'periodic', retentionMs: 1_000 } } });
    const { id } = await fx.server.leaseGrant({ id: 0n, ttl: 60 });
    for (let i = 0; i < 20; i++) await fx.server.put(put('k', `${i}`));
    await fx.server.leaseRenew(id);
    await fx.server.range(all);
    await fx.stop();
    const leaderless = await openServer({ members: 3 });
    const pending = [leaderless.server.range(all), leaderless.server.leaseRenew(5n)].map(rejection);
    await new Promise((r) => setTimeout(r, 50));
    await leaderless.stop();
    await Promise.all(pending);
    await new Promise((r) => setTimeout(r, 50));
    const after = resources();
    for (const kind of ['Timeout', 'Immediate', 'TCPWRAP', 'FSReqPromise']) {
      expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(before[kind] ?? 0);
    }
  });

  it('writes in flight at stop() either succeed or fail with "server stopped"; every success survives a restart', async () => {
    const fx = track(await openServer());
    const writes = Array.from({ length: 300 }, (_, i) => fx.server.put(put(`k${i}`, `v${i}`)));
    // Stop while some of the 300 are still being proposed, persisted or applied.
    await new Promise((r) => setTimeout(r, 5));
    const stopping = fx.stop();
    const outcomes = await Promise.allSettled(writes);
    await stopping;
    const acked = new Map<string, number>();
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') acked.set(`k${i}`, o.value.header!.revision);
      else expect(toRpcError(o.reason).message).toBe('etcdserver: server stopped');
    });
    const again = track(await fx.restart());
    const kvs = (await again.server.range(all)).kvs;
    const present = new Map(kvs.map((kv) => [text(kv.key), kv.modRevision]));
    for (const [key, rev] of acked) expect(present.get(key)).toBe(rev);
    // Revisions are dense: whatever was applied is there, nothing twice.
    expect(again.server.kv.currentRevision).toBe(1 + kvs.length);
  });

  it('a restart keeps revision, applied index and data, and goes on from there', async () => {
    const fx = track(await openServer());
    for (let i = 0; i < 30; i++) await fx.server.put(put(`k${i % 7}`, `v${i}`));
    const rev = fx.server.kv.currentRevision;
    const applied = fx.server.appliedIndex;
    const again = track(await fx.restart());
    const s = again.server;
    expect(s.kv.currentRevision).toBe(rev);
    expect(s.appliedIndex).toBeGreaterThanOrEqual(applied);
    expect((await s.range(all)).kvs).toHaveLength(7);
    const next = await s.put(put('k0', 'after'));
    expect(next.header?.revision).toBe(rev + 1);
  });

  it('replays conf changes after a restart: a member added before is still listed', async () => {
    const fx = track(await openServer());
    const added = await fx.server.memberAdd(['http://127.0.0.1:24001'], true);
    expect(added.member?.isLearner).toBe(true);
    // Cluster RPCs carry IDs and term but no revision, as etcd 3.4's.
    expect(added.header).toMatchObject({
      revision: 0,
      memberId: fx.server.memberId,
      clusterId: fx.server.clusterId,
    });
    expect(added.header!.raftTerm).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await fx.server.put(put('k', `${i}`));
    const again = track(await fx.restart());
    const ids = again.server.membership.list().map((m) => m.id);
    expect(ids).toContain(added.member!.id);
    expect(again.server.membership.get(added.member!.id)?.isLearner).toBe(true);
  });

  it('keeps the membership across a restart after the log was compacted past the conf change', async () => {
    const fx = track(await openServer({ config: { snapshotCount: 10, snapshotCatchUpEntries: 2 } }));
    const added = await fx.server.memberAdd(['http://127.0.0.1:24002'], true);
    for (let i = 0; i < 40; i++) await fx.server.put(put('k', `${i}`));
    // Let the snapshot and the log compaction behind it land.
    await new Promise((r) => setTimeout(r, 200));
    const again = track(await fx.restart());
    expect(again.server.membership.list().map((m) => m.id)).toContain(added.member!.id);
    expect(again.server.membership.get(added.member!.id)?.isLearner).toBe(true);
    expect((await again.server.range(RangeRequest.create({ key: utf8('k') }))).kvs[0]?.version).toBe(40);
  });

  it('a snapshot taken after a restart records the conf changes the restart replayed', async () => {
    // Life 1: add a learner; no snapshot yet, so its conf change stays in the log.
    const fx = track(await openServer({ config: { snapshotCount: 50, snapshotCatchUpEntries: 2 } }));
    const added = await fx.server.memberAdd(['http://127.0.0.1:24003'], true);
    // Life 2: the change is replayed; then enough writes for a snapshot that compacts it away.
    const second = track(await fx.restart());
    expect(raftLearners(second.server)).toContain(added.member!.id);
    for (let i = 0; i < 60; i++) await second.server.put(put('k', `${i}`));
    await new Promise((r) => setTimeout(r, 200));
    // Life 3: the configuration comes from that snapshot alone.
    const third = track(await second.restart());
    expect(raftLearners(third.server)).toContain(added.member!.id);
    expect(third.server.membership.get(added.member!.id)?.isLearner).toBe(true);
  });

  it('keeps published names and client URLs across a restart after compaction', async () => {
    const fx = track(await openServer({ config: { snapshotCount: 10, snapshotCatchUpEntries: 2 } }));
    const added = await fx.server.memberAdd(['http://127.0.0.1:24004'], true);
    const learner = added.member!.id;
    // What the learner's own publish would commit, had it started.
    await fx.server.propose({
      clusterMemberAttrSet: {
        memberId: learner,
        memberAttributes: { name: 'm9', clientUrls: ['http://127.0.0.1:23799'] },
      },
    });
    for (let i = 0; i < 30; i++) await fx.server.put(put('k', `${i}`));
    await new Promise((r) => setTimeout(r, 200));
    const again = track(await fx.restart());
    const m = again.server.membership.get(learner);
    expect(m?.name).toBe('m9');
    expect(m?.clientUrls).toEqual(['http://127.0.0.1:23799']);
    expect(m?.peerUrls).toEqual(['http://127.0.0.1:24004']);
  });
});
