// Storage parts of section B (20, 23, 25) and corrupt data: what survives a
// restart, what an interrupted compaction leaves, and how bad records are refused.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KvStore } from '../../../src/mvcc/kvStore.js';
import { CorruptDataError } from '../../../src/storage/corruptDataError.js';
import { revisionKey } from '../../../src/storage/backend/layout.js';
import { StoreFixture, b, str } from './storeFixture.js';

const fx = new StoreFixture();
afterEach(() => fx.cleanup());

/** The applied entries of a tiny deterministic "raft log": entry i writes one change. */
async function applyEntry(store: KvStore, i: number): Promise<void> {
  if (i % 7 === 0) await store.deleteRange(b(`k${(i * 3) % 5}`));
  else await store.put(b(`k${i % 5}`), b(`v${i}`));
}

async function dump(store: KvStore): Promise<string[]> {
  const r = await store.range(b('\0'), b('\0'));
  return r.kvs.map(
    (kv) => `${str(kv.key)}=${str(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`,
  );
}

describe('20 applied index persisted atomically with the effects', () => {
  it('a restart keeps exactly the committed entries; replay from the consistent index converges', async () => {
    const { store, dir } = await fx.open();
    for (let i = 1; i <= 10; i++) await applyEntry(store, i);
    await store.commit({ consistentIndex: 10 });
    for (let i = 11; i <= 15; i++) await applyEntry(store, i);
    const revBeforeCrash = store.currentRevision;
    const afterAll = await dump(store);
    // Crash: the uncommitted entries 11..15 are lost with the process.
    await store.close();
    const { store: again } = await fx.open(dir);
    expect(again.consistentIndex).toBe(10);
    expect(again.currentRevision).toBeLessThan(revBeforeCrash);
    // Replay what the raft log holds beyond the consistent index.
    for (let i = again.consistentIndex + 1; i <= 15; i++) await applyEntry(again, i);
    expect(again.currentRevision).toBe(revBeforeCrash);
    expect(await dump(again)).toEqual(afterAll);

    const reference = (await fx.open()).store;
    for (let i = 1; i <= 15; i++) await applyEntry(reference, i);
    expect(await again.hashKV()).toEqual(await reference.hashKV());
  });

  it('commits are applied in call order and the consistent index never goes back', async () => {
    const { store, dir } = await fx.open();
    await store.put(b('a'), b('1'));
    const c1 = store.commit({ consistentIndex: 1 });
    await store.put(b('a'), b('2'));
    const c2 = store.commit({ consistentIndex: 2, sync: true });
    await Promise.all([c1, c2]);
    await expect(store.commit({ consistentIndex: 1 })).rejects.toThrow('going backwards');
    await store.close();
    const { store: again } = await fx.open(dir);
    expect([again.consistentIndex, again.currentRevision]).toEqual([2, 3]);
  });
});

function captureLogger(lines: string[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return pino({ level: 'info' }, sink);
}

describe('restart with more data than one iterator page', () => {
  it('rebuilds the whole index and history (classic-level pages by bytes, not by count)', async () => {
    const { store, dir } = await fx.open();
    const value = Buffer.alloc(300, 0x61);
    for (let i = 0; i < 400; i++) await store.put(b(`key-${i % 150}`), value);
    await store.commit({ consistentIndex: 400 });
    const before = await dump(store);
    const hash = await store.hashKV();
    await store.close();
    const { store: again } = await fx.open(dir);
    expect(again.currentRevision).toBe(401);
    expect(await dump(again)).toEqual(before);
    expect(await again.hashKV()).toEqual(hash);
    expect((await again.eventsBetween(2, 401)).length).toBe(400);
  });
});

describe('23/25 crash in the middle of compaction', () => {
  it('resumes the compaction on open, keeps the revision (even when the newest change is a tombstone) and the applied index', async () => {
    const { store, dir } = await fx.open(undefined, {
      compactionBatchLimit: 4,
      compactionBatchIntervalMs: 20,
    });
    for (let i = 0; i < 60; i++) await store.put(b(`k${i % 6}`), b(`v${i}`));
    await store.deleteRange(b('k0')); // the newest revision is a tombstone
    const rev = store.currentRevision;
    await store.commit({ consistentIndex: 61 });
    const { physicalDone } = await store.compact(rev);
    await store.commit({ consistentIndex: 62 });
    const expected = await dump(store);
    const expectedHash = await store.hashKV();
    // Close while the physical pass is between batches: it stops there.
    await new Promise((r) => setTimeout(r, 25));
    await store.close();
    await expect(physicalDone).rejects.toThrow();

    const lines: string[] = [];
    const again = await KvStore.open(dir, { logger: captureLogger(lines), compactionBatchIntervalMs: 0 });
    try {
      expect(lines.join('')).toContain('resuming an interrupted compaction');
      expect([again.currentRevision, again.compactRevision, again.consistentIndex]).toEqual([rev, rev, 62]);
      expect(await dump(again)).toEqual(expected);
      expect(await again.hashKV()).toEqual(expectedHash);
      // The tombstone at the compact revision is still there for watchers.
      const atRev = await again.eventsBetween(rev, rev);
      expect(atRev[0]!.events.map((e) => [e.type, str(e.kv!.key)])).toEqual([[1, 'k0']]);
      await again.put(b('next'), b('1'));
      expect(again.currentRevision).toBe(rev + 1);
    } finally {
      await again.close();
    }
  });

  it('a compaction that never reached a commit is not on disk after a crash', async () => {
    const { store, dir } = await fx.open();
    for (let i = 0; i < 10; i++) await store.put(b('k'), b(`v${i}`));
    await store.commit({ consistentIndex: 10 });
    await store.compact(8);
    await store.close();
    const { store: again } = await fx.open(dir);
    expect(again.compactRevision).toBe(0);
    expect(str((await again.range(b('k'), undefined, { revision: 3 })).kvs[0]!.value)).toBe('v1');
  });
});

describe('corrupt data', () => {
  it('a flipped bit in a key-space record fails open with an error naming the record', async () => {
    const { store, dir } = await fx.open();
    await store.put(b('a'), b('hello'));
    await store.put(b('b'), b('world'));
    await store.commit({ consistentIndex: 2 });
    await store.close();
    // Flip one bit of the stored value, below LevelDB (as a bad disk would).
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const key = revisionKey({ main: 3, sub: 0 }, false);
    const value = (await raw.get(key))!;
    value[value.length - 2]! ^= 0x10;
    await raw.put(key, value);
    await raw.close();
    const err = await KvStore.open(dir, { logger: pino({ level: 'silent' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptDataError);
    expect((err as Error).message).toContain('key-space record at revision 3.0');
    expect((err as Error).message).toContain('checksum mismatch');
  });

  it('a record moved under another revision is refused too', async () => {
    const { store, dir } = await fx.open();
    await store.put(b('a'), b('1'));
    await store.put(b('a'), b('2'));
    await store.commit({ consistentIndex: 2 });
    await store.close();
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const v2 = (await raw.get(revisionKey({ main: 2, sub: 0 }, false)))!;
    await raw.put(revisionKey({ main: 3, sub: 0 }, false), v2);
    await raw.close();
    await expect(KvStore.open(dir, { logger: pino({ level: 'silent' }) })).rejects.toThrow(
      /revision 3\.0.*checksum mismatch/,
    );
  });

  it('a bit flipped inside the LevelDB files is never served', async () => {
    const { store, dir } = await fx.open();
    const original = 'Q'.repeat(64);
    await store.put(b('victim'), b(original));
    await store.put(b('other'), b('fine'));
    await store.commit({ consistentIndex: 2, sync: true });
    await store.close();
    let flipped = false;
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const bytes = await readFile(path);
      const at = bytes.indexOf(Buffer.from(original));
      if (at < 0) continue;
      bytes[at + 30]! ^= 0x01;
      await writeFile(path, bytes);
      flipped = true;
    }
    expect(flipped).toBe(true);
    // LevelDB may reject the file, drop the damaged log record, or hand the bytes to us;
    // in no case may the damaged value come back as data.
    let reopened: KvStore | undefined;
    try {
      reopened = await KvStore.open(dir, { logger: pino({ level: 'silent' }) });
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      return;
    }
    try {
      const r = await reopened.range(b('victim')).catch(() => undefined);
      if (r !== undefined && r.kvs.length > 0) expect(str(r.kvs[0]!.value)).toBe(original);
    } finally {
      await reopened.close();
    }
  });
});

describe('snapshots and defragment', () => {
  it('restores a member from snapshotRecords() with the same revision, applied index, leases and hash', async () => {
    const { store } = await fx.open();
    store.leaseGrant(42n, 30);
    for (let i = 1; i <= 30; i++) await applyEntry(store, i);
    await store.put(b('leased'), b('x'), { lease: 42n });
    const c = await store.compact(10);
    await store.commit({ consistentIndex: 31 });
    await c.physicalDone;
    await store.put(b('uncommitted'), b('y'));
    const target = join(await fx.dir(), 'restored');
    const restored = await KvStore.restoreFromRecords(target, store.snapshotRecords(), {
      logger: pino({ level: 'silent' }),
    });
    try {
      expect([restored.consistentIndex, restored.currentRevision, restored.compactRevision]).toEqual([
        31,
        store.currentRevision - 1,
        10,
      ]);
      expect(restored.keysOfLease(42n).map(str)).toEqual(['leased']);
      await store.deleteRange(b('uncommitted'));
      expect((await restored.hashKV(restored.currentRevision)).hash).toBe(
        (await store.hashKV(restored.currentRevision)).hash,
      );
      await expect(
        KvStore.restoreFromRecords(target, store.snapshotRecords(), { logger: pino({ level: 'silent' }) }),
      ).rejects.toThrow('exists');
    } finally {
      await restored.close();
    }
  });

  it('refuses a damaged snapshot', async () => {
    const { store } = await fx.open();
    await store.put(b('a'), b('1'));
    await store.commit({ consistentIndex: 1 });
    async function* damaged(): AsyncGenerator<Array<[Buffer, Buffer]>> {
      for await (const page of store.snapshotRecords()) {
        yield page.map(([k, v]) => {
          const copy = Buffer.from(v);
          if (k[0] === 0x6b) copy[copy.length - 1]! ^= 1;
          return [k, copy] as [Buffer, Buffer];
        });
      }
    }
    const target = join(await fx.dir(), 'restored');
    await expect(
      KvStore.restoreFromRecords(target, damaged(), { logger: pino({ level: 'silent' }) }),
    ).rejects.toThrow('checksum mismatch');
  });

  it('defragment keeps the data and the applied index', async () => {
    const { store, dir } = await fx.open();
    for (let i = 0; i < 200; i++) await store.put(b(`k${i % 10}`), Buffer.alloc(200, i));
    await store.commit({ consistentIndex: 200 });
    const c = await store.compact(190);
    await store.commit({ consistentIndex: 201 });
    await c.physicalDone;
    const before = await dump(store);
    await store.defragment();
    expect(await dump(store)).toEqual(before);
    await store.close();
    const { store: again } = await fx.open(dir);
    expect([again.consistentIndex, again.currentRevision]).toEqual([201, 201]);
  });
});

describe('physical compaction does not stall writes', () => {
  it('writes and reads complete while the batches of a large compaction are still running', async () => {
    const { store } = await fx.open(undefined, { compactionBatchLimit: 20, compactionBatchIntervalMs: 5 });
    for (let n = 0; n < 3000; n += 500) {
      await store.write(async (txn) => {
        for (let i = n; i < n + 500; i++) await txn.put(b(`k${i % 20}`), b(`v${i}`));
      });
    }
    await store.commit({ consistentIndex: 1 });
    const rev = store.currentRevision;
    const { physicalDone } = await store.compact(rev - 1);
    await store.commit({ consistentIndex: 2 });
    let finished = false;
    void physicalDone.then(() => (finished = true));
    for (let i = 0; i < 20; i++) {
      await store.put(b(`new${i}`), b('x'));
      expect((await store.range(b(`k${i}`))).kvs.length).toBe(1);
    }
    expect(finished).toBe(false);
    expect(store.currentRevision).toBe(rev + 20);
    await physicalDone;
    expect((await store.eventsBetween(rev - 1, rev + 20)).length).toBe(22);
  });
});

describe('torn tail of the backend log', () => {
  it('a truncated last write loses whole commits only: data, revision and applied index stay consistent', async () => {
    const { store, dir } = await fx.open();
    const states: { dump: string[]; revision: number }[] = [{ dump: [], revision: 1 }];
    for (let i = 1; i <= 12; i++) {
      await applyEntry(store, i);
      await store.commit({ consistentIndex: i, sync: true });
      states.push({ dump: await dump(store), revision: store.currentRevision });
    }
    await store.close();
    const logs = (await readdir(dir)).filter((n) => n.endsWith('.log'));
    expect(logs.length).toBeGreaterThan(0);
    for (const name of logs) {
      const path = join(dir, name);
      const bytes = await readFile(path);
      if (bytes.length > 60) await writeFile(path, bytes.subarray(0, bytes.length - 37));
    }
    const { store: again } = await fx.open(dir);
    const ci = again.consistentIndex;
    expect(ci).toBeLessThan(12);
    expect(again.currentRevision).toBe(states[ci]!.revision);
    expect(await dump(again)).toEqual(states[ci]!.dump);
  });
});

describe('lost writes', () => {
  it('a revision missing above the compact revision fails open with an error naming it', async () => {
    const { store, dir } = await fx.open();
    for (let i = 0; i < 6; i++) await store.put(b(`k${i}`), b('v'));
    await store.commit({ consistentIndex: 6 });
    await store.close();
    // LevelDB skips a damaged record in its log and replays the rest: simulate one lost batch.
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.del(revisionKey({ main: 4, sub: 0 }, false));
    await raw.close();
    await expect(KvStore.open(dir, { logger: pino({ level: 'silent' }) })).rejects.toThrow(
      /key-space revision 4 .*missing/,
    );
  });

  it('revisions below the compact revision may be gone', async () => {
    const { store, dir } = await fx.open();
    for (let i = 0; i < 6; i++) await store.put(b('same'), b(`v${i}`));
    await store.commit({ consistentIndex: 6 });
    const c = await store.compact(6);
    await store.commit({ consistentIndex: 7 });
    await c.physicalDone;
    await store.close();
    const { store: again } = await fx.open(dir);
    expect([again.currentRevision, again.compactRevision]).toEqual([7, 6]);
  });
});

describe('a failed commit', () => {
  it('stops further writes and commits; reopening shows the last good commit', async () => {
    const { store, dir } = await fx.open();
    await store.put(b('a'), b('1'));
    await store.commit({ consistentIndex: 1 });
    await store.put(b('a'), b('2'));
    store.leaseGrant(7n, 10);
    // Make the backend fail underneath the store, as a full or broken disk would.
    await (store as unknown as { backend: { close(): Promise<void> } }).backend.close();
    await expect(store.commit({ consistentIndex: 2 })).rejects.toThrow('commit failed');
    await expect(store.put(b('a'), b('3'))).rejects.toThrow('commit failed');
    await expect(store.commit({ consistentIndex: 3 })).rejects.toThrow('commit failed');
    await store.close();
    const { store: again } = await fx.open(dir);
    expect([again.consistentIndex, again.currentRevision, again.leases().length]).toEqual([1, 2, 0]);
  });
});
