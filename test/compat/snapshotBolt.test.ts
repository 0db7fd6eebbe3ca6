// Snapshots in etcd's own file format, judged by etcd's own tools:
// - offline: files from xetcd's bbolt writer pass `etcdctl snapshot status` (bbolt's tx.Check()
//   and its bucket walk), and etcdctl's hash equals a CRC-32C over what our reader reads;
// - per target: `snapshot save` of a member with history (overwrites, deletes, a lease, a
//   compaction, a multi-key txn), then `snapshot status`, then `snapshot restore` into a data
//   dir that real etcd 3.4 starts from and serves the same keys, revisions, history boundary,
//   lease and HashKV. Against the etcd target this validates the expectations themselves.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { pino } from 'pino';
import { crc32c } from '../../src/storage/backend/crc32c.js';
import { KvStore } from '../../src/mvcc/kvStore.js';
import type { KeyValue } from '../../src/proto/mvccpb.js';
import {
  etcdSnapshotMembers,
  etcdSnapshotRecords,
  openEtcdSnapshot,
} from '../../src/storage/bolt/snapshotImport.js';
import { restoreDataDirFromSnapshot } from '../../src/cli/snapshotRestore.js';
import { BoltReader } from '../../src/storage/bolt/reader.js';
import { BoltFileWriter } from '../../src/storage/bolt/writer.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { startEtcd } from '../helpers/etcd.js';
import { startXetcd } from '../helpers/xetcd.js';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { parseJson, type JsonKv, type JsonRange } from './etcdctlSession.js';
import { describeTargets } from './targets.js';

interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

async function snapshotStatus(file: string): Promise<SnapshotStatus> {
  // Offline: etcdctl opens the file itself; the endpoint is never dialled.
  const r = await runEtcdctl(['snapshot', 'status', file, '-w', 'json'], { endpoints: 'http://127.0.0.1:1' });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as SnapshotStatus;
}

/** What `snapshot status` computes, from our own reader: CRC-32C over bucket names, keys, values. */
function expectedStatus(db: Buffer): Omit<SnapshotStatus, 'revision'> & { revision: number } {
  const r = BoltReader.fromBuffer(db);
  let hash = 0;
  let totalKey = 0;
  let revision = 0;
  for (const [name, items] of r.buckets()) {
    hash = crc32c(Buffer.from(name, 'latin1'), hash);
    for (const [k, v] of items) {
      hash = crc32c(v, crc32c(k, hash));
      totalKey++;
      if (name === 'key') revision = Number(k.readBigUInt64BE(0));
    }
  }
  return { hash, revision, totalKey, totalSize: r.meta.pgid * r.meta.pageSize };
}

it('offline: bbolt files from our writer pass etcdctl snapshot status, with the hash we compute', async () => {
  const dir = await makeTempDir('xetcd-bolt-compat-');
  try {
    const cases: Array<Record<string, Array<[Buffer, Buffer]>>> = [
      {},
      { empty: [], small: [[Buffer.from('a'), Buffer.from('1')]] },
      {
        // Three levels of branches, overflow pages, binary keys.
        wide: Array.from({ length: 30_000 }, (_, i): [Buffer, Buffer] => {
          const k = Buffer.alloc(6);
          k.writeUIntBE(i * 7919, 0, 6);
          return [k, Buffer.alloc(i % 997 === 0 ? 20_000 : i % 50, i & 0xff)];
        }),
        tiny: [[Buffer.from([0]), Buffer.alloc(0)]],
      },
    ];
    for (const [i, spec] of cases.entries()) {
      const path = join(dir.path, `case${i}.db`);
      const w = await BoltFileWriter.create(path);
      for (const [name, entries] of Object.entries(spec)) {
        await w.addBucket(
          Buffer.from(name),
          entries.sort((a, b) => Buffer.compare(a[0], b[0])),
        );
      }
      await w.finish();
      const status = await snapshotStatus(path);
      expect(status).toEqual(expectedStatus(await readFile(path)));
    }
  } finally {
    await dir.remove();
  }
});

it('offline: our reader reads a snapshot real etcd 3.4 wrote, and agrees with etcdctl snapshot status', async () => {
  const dir = await makeTempDir('xetcd-bolt-compat-');
  const etcd = await startEtcd({ dataDir: join(dir.path, 'etcd') });
  try {
    const run = (args: string[]): Promise<unknown> => runEtcdctl(args, { endpoints: etcd.endpoint });
    for (let i = 0; i < 50; i++) await run(['put', `k${i}`, `v${i}`]);
    await run(['del', 'k1']);
    const file = join(dir.path, 'etcd.db');
    const saved = await runEtcdctl(['snapshot', 'save', file], { endpoints: etcd.endpoint });
    expect(saved.code, saved.stderr).toBe(0);
    const db = await readFile(file);
    const r = BoltReader.fromBuffer(db);
    expect(r.check()).toEqual([]);
    expect(r.bucketNames().map(String)).toEqual([
      'alarm',
      'auth',
      'authRoles',
      'authUsers',
      'cluster',
      'key',
      'lease',
      'members',
      'members_removed',
      'meta',
    ]);
    expect(r.bucket('key')!.length).toBe(51);
    const status = await snapshotStatus(file);
    expect(status).toEqual(expectedStatus(db));
    expect(status.revision).toBe(52);
  } finally {
    await etcd.stop();
    await dir.remove();
  }
});

it(
  'offline: a snapshot of real etcd 3.4 becomes an xetcd key space with the same keys, history and lease',
  { timeout: 60_000 },
  async () => {
    const dir = await makeTempDir('xetcd-bolt-compat-');
    const etcd = await startEtcd({ dataDir: join(dir.path, 'etcd') });
    let store: KvStore | undefined;
    try {
      const { compactAt, lease } = await writeHistory(etcd.endpoint);
      const current = parseJson<JsonRange>(await on(etcd.endpoint, ['get', '', '--prefix', '-w', 'json']));
      const history = parseJson<JsonRange>(
        await on(etcd.endpoint, ['get', '/s/a', `--rev=${compactAt}`, '-w', 'json']),
      );
      const file = join(dir.path, 'etcd.db');
      await on(etcd.endpoint, ['snapshot', 'save', file]);

      const reader = await openEtcdSnapshot(file);
      store = await KvStore.restoreFromRecords(
        join(dir.path, 'xetcd'),
        etcdSnapshotRecords(reader, { consistentIndex: 1 }),
        {
          logger: pino({ level: 'silent' }),
        },
      );
      const asJson = (kvs: KeyValue[]): JsonKv[] =>
        kvs.map((kv) => ({
          key: Buffer.from(kv.key).toString('base64'),
          create_revision: kv.createRevision,
          mod_revision: kv.modRevision,
          version: kv.version,
          value: Buffer.from(kv.value).toString('base64'),
          ...(kv.lease !== 0n ? { lease: kv.lease.toString(10) } : {}),
        }));
      expect(store.currentRevision).toBe(current.header.revision);
      expect(store.compactRevision).toBe(compactAt);
      expect(asJson((await store.range(Buffer.from([0]), Buffer.from([0]))).kvs)).toEqual(current.kvs);
      expect(
        asJson((await store.range(Buffer.from('/s/a'), undefined, { revision: compactAt })).kvs),
      ).toEqual(history.kvs);
      const leaseId = BigInt(`0x${lease}`);
      expect(store.leases()).toEqual([{ id: leaseId, ttl: 600, remainingTtl: 0 }]);
      expect(store.keysOfLease(leaseId).map((k) => Buffer.from(k).toString())).toEqual(['/s/leased']);
      expect(etcdSnapshotMembers(reader).map((m) => [m.name, m.peerUrls])).toEqual([
        [etcd.name, [etcd.peerUrl]],
      ]);
    } finally {
      await store?.close();
      await etcd.stop();
      await dir.remove();
    }
  },
);

/** Runs etcdctl against `endpoint`, expecting success; returns stdout. */
async function on(endpoint: string, args: string[], input?: string): Promise<string> {
  const r = await runEtcdctl(args, { endpoints: endpoint, ...(input !== undefined ? { input } : {}) });
  expect(r.code, `etcdctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/**
 * One history: overwrites, a delete, a compaction, a multi-key txn, a value bigger than a
 * page; then (after revision `hashed`) a lease and a key on it, so HashKV at `hashed` is free
 * of lease IDs, which differ between servers.
 */
async function writeHistory(endpoint: string): Promise<{ compactAt: number; hashed: number; lease: string }> {
  const revision = async (): Promise<number> =>
    parseJson<JsonRange>(await on(endpoint, ['get', 'none', '-w', 'json'])).header.revision!;
  await on(endpoint, ['put', '/s/a', '1']);
  await on(endpoint, ['put', '/s/a', '2']);
  await on(endpoint, ['put', '/s/b', 'gone soon']);
  await on(endpoint, ['del', '/s/b']);
  await on(endpoint, ['put', '/s/c', 'c']);
  const compactAt = await revision();
  await on(endpoint, ['put', '/s/a', '3']);
  await on(endpoint, ['compact', String(compactAt)]);
  await on(endpoint, ['txn'], '\nput /s/t1 x\nput /s/t2 y\n\n\n');
  await on(endpoint, ['put', '/s/big', 'x'.repeat(10_000)]);
  await on(endpoint, ['del', '/s/t1']);
  const hashed = await revision();
  const lease = (await on(endpoint, ['lease', 'grant', '600'])).match(/lease ([0-9a-f]+) granted/)![1]!;
  await on(endpoint, ['put', '/s/leased', 'v', `--lease=${lease}`]);
  return { compactAt, hashed, lease };
}

const hashKv = async (endpoint: string, rev: number): Promise<number> =>
  parseJson<Array<{ HashKV: { hash: number } }>>(
    await on(endpoint, ['endpoint', 'hashkv', `--rev=${rev}`, '-w', 'json']),
  )[0]!.HashKV.hash;

describeTargets('snapshot in etcd format: save, status, restore into real etcd 3.4', (ctx) => {
  it(
    'etcd 3.4 restores the snapshot and serves the same keys, revisions, compaction, lease and hash',
    { timeout: 60_000 },
    async () => {
      const origin = ctx.endpoint();
      const { compactAt, hashed, lease } = await writeHistory(origin);
      const before = parseJson<JsonRange>(await on(origin, ['get', '', '--prefix', '-w', 'json']));
      const rev = before.header.revision!;
      const historyBefore = parseJson<JsonRange>(
        await on(origin, ['get', '/s/a', `--rev=${compactAt}`, '-w', 'json']),
      );

      const dir = await ctx.tempDir();
      const file = join(dir, 'snap.db');
      expect(await on(origin, ['snapshot', 'save', file])).toBe(`Snapshot saved at ${file}\n`);
      const db = await readFile(file);
      expect(db.length % 512).toBe(32);
      const status = await snapshotStatus(file);
      expect(status.revision).toBe(rev);
      expect(status).toEqual(expectedStatus(db.subarray(0, db.length - 32)));

      const [peerPort] = await freePorts(1);
      const peer = `http://127.0.0.1:${peerPort}`;
      const dataDir = join(dir, 'restored');
      const restore = await runEtcdctl(
        [
          'snapshot',
          'restore',
          file,
          '--name',
          'restored',
          '--data-dir',
          dataDir,
          '--initial-cluster',
          `restored=${peer}`,
          '--initial-advertise-peer-urls',
          peer,
        ],
        { endpoints: 'http://127.0.0.1:1' },
      );
      expect(restore.code, restore.stderr).toBe(0);

      const etcd = await startEtcd({ dataDir, name: 'restored', peerPort: peerPort! });
      ctx.scope.defer('stop restored etcd', () => etcd.stop());
      const restored = etcd.endpoint;
      const after = parseJson<JsonRange>(await on(restored, ['get', '', '--prefix', '-w', 'json']));
      expect(after.header.revision).toBe(rev);
      expect(after.kvs).toEqual(before.kvs);
      expect(
        parseJson<JsonRange>(await on(restored, ['get', '/s/a', `--rev=${compactAt}`, '-w', 'json'])).kvs,
      ).toEqual(historyBefore.kvs);
      const compacted = await runEtcdctl(['get', '/s/a', `--rev=${compactAt - 1}`], { endpoints: restored });
      expect(compacted.stderr).toContain('required revision has been compacted');
      expect(await on(restored, ['lease', 'list'])).toContain(lease);
      const ttl = await on(restored, ['lease', 'timetolive', lease, '--keys']);
      expect(ttl).toMatch(/granted with TTL\(600s\)/);
      expect(ttl).toContain('/s/leased');

      // The restored member's HashKV equals that of a fresh etcd 3.4 given the same history:
      // the snapshot carried etcd's state, byte for byte where HashKV looks.
      const refDir = await ctx.tempDir();
      const reference = await startEtcd({ dataDir: join(refDir, 'ref') });
      ctx.scope.defer('stop reference etcd', () => reference.stop());
      const refHistory = await writeHistory(reference.endpoint);
      expect([refHistory.compactAt, refHistory.hashed]).toEqual([compactAt, hashed]);
      expect(await hashKv(restored, hashed)).toBe(await hashKv(reference.endpoint, hashed));

      // The restored member keeps going from there.
      await on(restored, ['put', '/s/after', 'restore']);
      expect(
        parseJson<JsonRange>(await on(restored, ['get', '/s/after', '-w', 'json'])).header.revision,
      ).toBe(rev + 1);
    },
  );
  it(
    'xetcd starts a new cluster from the snapshot (restored into a new data dir) and serves the same data',
    { timeout: 60_000 },
    async () => {
      const origin = ctx.endpoint();
      // A second history on the same member, under its own prefix.
      await on(origin, ['put', '/m/a', '1']);
      await on(origin, ['put', '/m/a', '2']);
      await on(origin, ['del', '/m/a']);
      await on(origin, ['put', '/m/b', 'b']);
      const lease = (await on(origin, ['lease', 'grant', '900'])).match(/lease ([0-9a-f]+) granted/)![1]!;
      await on(origin, ['put', '/m/leased', 'v', `--lease=${lease}`]);
      const before = parseJson<JsonRange>(await on(origin, ['get', '', '--prefix', '-w', 'json']));
      const rev = before.header.revision!;

      const dir = await ctx.tempDir();
      const file = join(dir, 'snap.db');
      await on(origin, ['snapshot', 'save', file]);
      const dataDir = join(dir, 'xetcd-restored');
      const summary = await restoreDataDirFromSnapshot({
        snapshot: file,
        dataDir,
        logger: pino({ level: 'silent' }),
      });
      expect(summary.revision).toBe(rev);
      await expect(
        restoreDataDirFromSnapshot({ snapshot: file, dataDir, logger: pino({ level: 'silent' }) }),
      ).rejects.toThrow('exists');

      const member = await startXetcd({ dataDir, name: 'restored' });
      ctx.scope.defer('stop restored xetcd', () => member.stop());
      const after = parseJson<JsonRange>(await on(member.endpoint, ['get', '', '--prefix', '-w', 'json']));
      expect(after.header.revision).toBe(rev);
      expect(after.kvs).toEqual(before.kvs);
      expect(
        parseJson<JsonRange>(await on(member.endpoint, ['get', '/m/a', `--rev=${rev - 3}`, '-w', 'json']))
          .kvs,
      ).toEqual(
        parseJson<JsonRange>(await on(origin, ['get', '/m/a', `--rev=${rev - 3}`, '-w', 'json'])).kvs,
      );
      expect(await on(member.endpoint, ['lease', 'timetolive', lease, '--keys'])).toContain('/m/leased');
      // A new cluster: its own member list, and it keeps counting revisions from the snapshot's.
      const members = parseJson<{ members: Array<{ name: string }> }>(
        await on(member.endpoint, ['member', 'list', '-w', 'json']),
      );
      expect(members.members.map((m) => m.name)).toEqual(['restored']);
      await on(member.endpoint, ['put', '/m/after', 'x']);
      expect(
        parseJson<JsonRange>(await on(member.endpoint, ['get', '/m/after', '-w', 'json'])).header.revision,
      ).toBe(rev + 1);
    },
  );
});
