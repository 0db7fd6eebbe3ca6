// A member's key space written as an etcd 3.4 backend file: bucket names, key and value
// encodings byte for byte as etcd 3.4.23 writes them (the expected bytes below were read out
// of a real etcd's snapshot), and the Snapshot stream's size, remaining counts and trailer.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmType, Member } from '../../../src/proto/etcdserverpb.js';
import { KeyValue } from '../../../src/proto/mvccpb.js';
import { streamSnapshot } from '../../../src/server/snapshotFile.js';
import {
  decodeEtcdLease,
  encodeEtcdLease,
  etcdAlarmKey,
  etcdLeaseKey,
  etcdMemberJson,
  etcdRevisionKey,
  etcdTombstoneValue,
  parseEtcdRevisionKey,
} from '../../../src/storage/bolt/etcdLayout.js';
import { BoltReader } from '../../../src/storage/bolt/reader.js';
import { SnapshotRecordError, writeEtcdSnapshot } from '../../../src/storage/bolt/snapshotExport.js';
import { KvStore } from '../../../src/mvcc/kvStore.js';
import {
  etcdSnapshotMembers,
  etcdSnapshotRecords,
  openEtcdSnapshot,
} from '../../../src/storage/bolt/snapshotImport.js';
import { StoreFixture, b, silent, str } from '../mvcc/storeFixture.js';

const fx = new StoreFixture();
afterEach(() => fx.cleanup());

const ETCD_BUCKETS = [
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
];

describe("etcd 3.4's encodings", () => {
  it('revision keys: main, "_", sub, big-endian, "t" for a tombstone', () => {
    expect(etcdRevisionKey(2, 0).toString('hex')).toBe('00000000000000025f0000000000000000');
    expect(etcdRevisionKey(5, 3, true).toString('hex')).toBe('00000000000000055f000000000000000374');
    expect(parseEtcdRevisionKey(etcdRevisionKey(7, 1, true))).toEqual({ main: 7, sub: 1, tombstone: true });
    expect(() => parseEtcdRevisionKey(Buffer.from('nope'))).toThrow('not a revision key');
  });

  it('leases: the ID big-endian as key, leasepb.Lease as value', () => {
    const id = 0x390da21449925009n;
    expect(etcdLeaseKey(id).toString('hex')).toBe('390da21449925009');
    expect(encodeEtcdLease({ id, ttl: 300, remainingTtl: 0 }).toString('hex')).toBe(
      '0889a0c9ccc4c2e8863910ac02',
    );
    const withRemaining = encodeEtcdLease({ id: 5n, ttl: 60, remainingTtl: 42 });
    expect(decodeEtcdLease(withRemaining)).toEqual({ id: 5n, ttl: 60, remainingTtl: 42 });
  });

  it('members: Go JSON with a decimal ID, optional fields left out when empty', () => {
    const m = Member.create({
      id: 13668033151171901709n,
      name: 'e1',
      peerUrls: ['http://127.0.0.1:23801'],
      clientUrls: ['http://127.0.0.1:23791'],
    });
    expect(etcdMemberJson(m).toString()).toBe(
      '{"id":13668033151171901709,"peerURLs":["http://127.0.0.1:23801"],"name":"e1","clientURLs":["http://127.0.0.1:23791"]}',
    );
    const learner = Member.create({ id: 10n, peerUrls: ['http://a:2380'], isLearner: true });
    expect(etcdMemberJson(learner).toString()).toBe(
      '{"id":10,"peerURLs":["http://a:2380"],"isLearner":true}',
    );
  });

  it('tombstones keep only the key; alarms are keyed by the marshaled AlarmMember', () => {
    const tomb = KeyValue.encode(KeyValue.create({ key: b('a'), modRevision: 5 }));
    expect(etcdTombstoneValue(tomb).toString('hex')).toBe('0a0161');
    expect(etcdAlarmKey({ memberId: 1n, alarm: AlarmType.NOSPACE }).toString('hex')).toBe('08011001');
  });
});

describe('writeEtcdSnapshot', () => {
  async function populated(): Promise<Awaited<ReturnType<StoreFixture['open']>>> {
    const opened = await fx.open();
    const { store } = opened;
    await store.put(b('foo'), b('bar'));
    await store.put(b('foo'), b('baz'));
    await store.put(b('a'), b('1'));
    await store.deleteRange(b('a'));
    store.leaseGrant(0x4f73a2144b5f3706n, 300);
    await store.put(b('leased'), b('v'), { lease: 0x4f73a2144b5f3706n });
    const c = await store.compact(2);
    await store.put(b('zz'), b('1'));
    await store.commit({ consistentIndex: 10 });
    await c.physicalDone;
    return opened;
  }

  it("writes etcd's ten buckets with the key space, leases, compaction marks, members and alarms", async () => {
    const { store } = await populated();
    const path = join(await fx.dir(), 'snap.db');
    const member = Member.create({
      id: 0xabcn,
      name: 'x1',
      peerUrls: ['http://127.0.0.1:2380'],
      clientUrls: ['http://127.0.0.1:2379'],
    });
    const size = await writeEtcdSnapshot(path, {
      records: store.snapshotRecords(),
      members: [member],
      removedMemberIds: [0x99n],
      alarms: [{ memberId: 0xabcn, alarm: AlarmType.NOSPACE }],
    });
    const file = await readFile(path);
    expect(file.length).toBe(size);
    expect(size % 4096).toBe(0);
    const r = BoltReader.fromBuffer(file);
    expect(r.check()).toEqual([]);
    const buckets = r.buckets();
    expect([...buckets.keys()]).toEqual(ETCD_BUCKETS);

    const keys = buckets.get('key')!.map(([k, v]) => {
      const rev = parseEtcdRevisionKey(k);
      const kv = KeyValue.decode(v);
      return `${rev.main}${rev.tombstone ? 't' : ''} ${str(kv.key)}=${str(kv.value)} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease.toString(16)}`;
    });
    // The same six records real etcd keeps for this history (compacting at 2 keeps foo's
    // revision 2, the newest at or below it); the tombstone of "a" holds only its key.
    expect(keys).toEqual([
      '2 foo=bar c2 m2 v1 l0',
      '3 foo=baz c2 m3 v2 l0',
      '4 a=1 c4 m4 v1 l0',
      '5t a= c0 m0 v0 l0',
      '6 leased=v c6 m6 v1 l4f73a2144b5f3706',
      '7 zz=1 c7 m7 v1 l0',
    ]);
    expect(buckets.get('lease')!.map(([k, v]) => [k.toString('hex'), decodeEtcdLease(v)])).toEqual([
      ['4f73a2144b5f3706', { id: 0x4f73a2144b5f3706n, ttl: 300, remainingTtl: 0 }],
    ]);
    expect(buckets.get('meta')!.map(([k, v]) => [str(k), v.toString('hex')])).toEqual([
      ['consistent_index', '000000000000000a'],
      ['finishedCompactRev', '00000000000000025f0000000000000000'],
      ['scheduledCompactRev', '00000000000000025f0000000000000000'],
    ]);
    expect(buckets.get('members')!.map(([k, v]) => [str(k), str(v)])).toEqual([
      ['abc', etcdMemberJson(member).toString()],
    ]);
    expect(buckets.get('members_removed')!.map(([k, v]) => [str(k), str(v)])).toEqual([['99', 'removed']]);
    expect(buckets.get('cluster')!.map(([k, v]) => [str(k), str(v)])).toEqual([['clusterVersion', '3.4.0']]);
    expect(buckets.get('alarm')!.map(([k, v]) => [k.toString('hex'), v.length])).toEqual([['08bc151001', 0]]);
    expect(buckets.get('auth')!.map(([k, v]) => [str(k), v.toString('hex')])).toEqual([
      ['authRevision', '0000000000000001'],
    ]);
  });

  it('a store that was never compacted has no compaction marks', async () => {
    const { store } = await fx.open();
    await store.put(b('k'), b('v'));
    await store.commit({ consistentIndex: 3 });
    const path = join(await fx.dir(), 'snap.db');
    await writeEtcdSnapshot(path, { records: store.snapshotRecords(), members: [], alarms: [] });
    const meta = BoltReader.fromBuffer(await readFile(path)).bucket('meta')!;
    expect(meta.map((i) => str(i.key))).toEqual(['consistent_index']);
  });

  it('refuses a record that fails its checksum', async () => {
    const { store } = await populated();
    async function* damaged(): AsyncGenerator<Array<[Buffer, Buffer]>> {
      for await (const page of store.snapshotRecords()) {
        yield page.map(([k, v]): [Buffer, Buffer] => {
          const copy = Buffer.from(v);
          if (k[0] === 0x6b) copy[copy.length - 1]! ^= 1;
          return [k, copy];
        });
      }
    }
    const path = join(await fx.dir(), 'snap.db');
    await expect(writeEtcdSnapshot(path, { records: damaged(), members: [], alarms: [] })).rejects.toThrow(
      SnapshotRecordError,
    );
  });
});

describe('streamSnapshot', () => {
  it('sends the file then its SHA-256, with exact remaining counts, and removes the temp file', async () => {
    const { store } = await fx.open();
    for (let i = 0; i < 2000; i++) await store.put(b(`key-${i}`), Buffer.alloc(100, i));
    await store.commit({ consistentIndex: 2000 });
    const path = join(await fx.dir(), 'snap.tmp');
    const chunks: Buffer[] = [];
    const remaining: number[] = [];
    for await (const c of streamSnapshot(store.snapshotRecords(), path, { members: [], alarms: [] })) {
      chunks.push(Buffer.from(c.blob));
      remaining.push(c.remaining);
    }
    expect(existsSync(path)).toBe(false);
    const all = Buffer.concat(chunks);
    expect(all.length % 512).toBe(32);
    const db = all.subarray(0, all.length - 32);
    expect(all.subarray(all.length - 32)).toEqual(createHash('sha256').update(db).digest());
    expect(chunks.at(-1)!.length).toBe(32);
    // etcd's counting: database bytes still to come after each chunk; the checksum message says 0.
    let left = db.length;
    chunks.slice(0, -1).forEach((c, i) => {
      left -= c.length;
      expect(remaining[i]).toBe(left);
    });
    expect(remaining.slice(-2)).toEqual([0, 0]);
    expect(chunks.slice(0, -1).every((c) => c.length <= 32 * 1024)).toBe(true);
    const r = BoltReader.fromBuffer(db);
    expect(r.check()).toEqual([]);
    expect(r.bucket('key')!.length).toBe(2000);
  });
});

describe('importing an etcd backend file (etcdSnapshotRecords)', () => {
  it('xetcd → etcd file → xetcd gives back the same store: revisions, history, compaction, leases, HashKV', async () => {
    const { store } = await fx.open();
    store.leaseGrant(77n, 120);
    store.leaseCheckpoint(77n, 90);
    for (let i = 0; i < 300; i++) {
      if (i % 11 === 0) await store.deleteRange(b(`k${i % 13}`));
      else await store.put(b(`k${i % 13}`), Buffer.from(`v${i}`), i % 17 === 0 ? { lease: 77n } : undefined);
    }
    const c = await store.compact(150);
    await store.commit({ consistentIndex: 400 });
    await c.physicalDone;
    const dir = await fx.dir();
    const path = join(dir, 'snap.db');
    const chunks: Buffer[] = [];
    for await (const ch of streamSnapshot(store.snapshotRecords(), join(dir, 'tmp'), {
      members: [],
      alarms: [],
    })) {
      chunks.push(Buffer.from(ch.blob));
    }
    await writeFile(path, Buffer.concat(chunks));

    const reader = await openEtcdSnapshot(path);
    const restored = await KvStore.restoreFromRecords(
      join(dir, 'restored'),
      etcdSnapshotRecords(reader, { pageSize: 64 }),
      {
        logger: silent,
      },
    );
    try {
      expect([restored.currentRevision, restored.compactRevision, restored.consistentIndex]).toEqual([
        store.currentRevision,
        150,
        400,
      ]);
      expect(await restored.hashKV()).toEqual(await store.hashKV());
      for (const rev of [150, 200, 299, store.currentRevision]) {
        expect((await restored.range(b('k'), b('l'), { revision: rev })).kvs).toEqual(
          (await store.range(b('k'), b('l'), { revision: rev })).kvs,
        );
      }
      expect(restored.leases()).toEqual(store.leases());
      expect(restored.keysOfLease(77n).map(str)).toEqual(store.keysOfLease(77n).map(str));
    } finally {
      await restored.close();
    }
  });

  it('a snapshot whose trailer does not match, or whose pages are damaged, is refused', async () => {
    const { store } = await fx.open();
    await store.put(b('k'), b('v'));
    await store.commit({ consistentIndex: 1 });
    const dir = await fx.dir();
    const chunks: Buffer[] = [];
    for await (const ch of streamSnapshot(store.snapshotRecords(), join(dir, 'tmp'), {
      members: [],
      alarms: [],
    })) {
      chunks.push(Buffer.from(ch.blob));
    }
    const file = Buffer.concat(chunks);
    const flipped = Buffer.from(file);
    flipped[3 * 4096 + 100]! ^= 1;
    await writeFile(join(dir, 'flipped.db'), flipped);
    await expect(openEtcdSnapshot(join(dir, 'flipped.db'))).rejects.toThrow('SHA-256 trailer does not match');
    // Without the trailer there is no hash to catch it, but a page that lost its identity fails the check.
    const bare = Buffer.from(file.subarray(0, file.length - 32));
    bare.writeBigUInt64LE(1234n, 2 * 4096);
    await writeFile(join(dir, 'bare.db'), bare);
    await expect(openEtcdSnapshot(join(dir, 'bare.db'))).rejects.toThrow('integrity check failed');
  });

  it('members come back with exact 64-bit IDs', async () => {
    const { store } = await fx.open();
    await store.commit({ consistentIndex: 1 });
    const path = join(await fx.dir(), 'snap.db');
    const members = [
      Member.create({
        id: 0xbdae9bbc11dd390dn,
        name: 'e1',
        peerUrls: ['http://127.0.0.1:2380'],
        clientUrls: ['http://127.0.0.1:2379'],
      }),
      Member.create({ id: 0x10n, peerUrls: ['http://127.0.0.1:2381'], isLearner: true }),
    ];
    await writeEtcdSnapshot(path, { records: store.snapshotRecords(), members, alarms: [] });
    expect(etcdSnapshotMembers(await openEtcdSnapshot(path))).toEqual([members[1], members[0]]);
  });
});
