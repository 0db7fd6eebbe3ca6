// restoreDataDirFromSnapshot: a new member's data dir from a snapshot file, as etcdctl's
// `snapshot restore` makes one: the key space and leases of the snapshot, applied index 0.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KvStore } from '../../../src/mvcc/kvStore.js';
import { Member } from '../../../src/proto/etcdserverpb.js';
import { streamSnapshot } from '../../../src/server/snapshotFile.js';
import { restoreDataDirFromSnapshot } from '../../../src/cli/snapshotRestore.js';
import { StoreFixture, b, silent, str } from '../mvcc/storeFixture.js';

const fx = new StoreFixture();
afterEach(() => fx.cleanup());

async function saveSnapshot(store: KvStore, file: string, members: Member[] = []): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of streamSnapshot(store.snapshotRecords(), `${file}.tmp`, { members, alarms: [] })) {
    chunks.push(Buffer.from(c.blob));
  }
  const bytes = Buffer.concat(chunks);
  await writeFile(file, bytes);
  return bytes;
}

describe('restoreDataDirFromSnapshot', () => {
  it('writes member/kv with the snapshot key space and leases, applied index 0, and reports what it restored', async () => {
    const { store } = await fx.open();
    store.leaseGrant(9n, 60);
    await store.put(b('a'), b('1'));
    await store.put(b('b'), b('2'), { lease: 9n });
    await store.put(b('a'), b('3'));
    await store.commit({ consistentIndex: 57 });
    const dir = await fx.dir();
    const member = Member.create({ id: 0x1234n, name: 'old', peerUrls: ['http://127.0.0.1:2380'] });
    await saveSnapshot(store, join(dir, 'snap.db'), [member]);

    const dataDir = join(dir, 'data');
    const summary = await restoreDataDirFromSnapshot({
      snapshot: join(dir, 'snap.db'),
      dataDir,
      logger: silent,
    });
    expect(summary).toEqual({
      revision: 4,
      compactRevision: 0,
      keys: 2,
      leases: 1,
      snapshotMembers: [member],
    });
    const { store: restored } = await fx.open(join(dataDir, 'member', 'kv'));
    expect(restored.consistentIndex).toBe(0);
    expect(restored.currentRevision).toBe(4);
    expect((await restored.range(b('a'), b('c'))).kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}`)).toEqual(
      ['a=3', 'b=2'],
    );
    expect(restored.keysOfLease(9n).map(str)).toEqual(['b']);
  });

  it('refuses an existing data dir and a damaged snapshot, leaving no data dir behind', async () => {
    const { store } = await fx.open();
    await store.put(b('a'), b('1'));
    await store.commit({ consistentIndex: 1 });
    const dir = await fx.dir();
    const bytes = await saveSnapshot(store, join(dir, 'snap.db'));
    await expect(
      restoreDataDirFromSnapshot({ snapshot: join(dir, 'snap.db'), dataDir: dir, logger: silent }),
    ).rejects.toThrow('exists');
    const damaged = Buffer.from(bytes);
    damaged[2 * 4096 + 40]! ^= 0x10;
    await writeFile(join(dir, 'bad.db'), damaged);
    const dataDir = join(dir, 'data');
    await expect(
      restoreDataDirFromSnapshot({ snapshot: join(dir, 'bad.db'), dataDir, logger: silent }),
    ).rejects.toThrow('SHA-256');
    await expect(
      restoreDataDirFromSnapshot({ snapshot: join(dir, 'nope.db'), dataDir, logger: silent }),
    ).rejects.toThrow('ENOENT');
    expect(existsSync(dataDir)).toBe(false);
  });
});
