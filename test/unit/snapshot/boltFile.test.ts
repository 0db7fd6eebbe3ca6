// The bbolt file writer against its own reader: page layout, meta checksums, inline buckets,
// multi-level trees, overflow pages, and the page accounting bbolt's tx.Check() enforces.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BoltReader } from '../../../src/storage/bolt/reader.js';
import { BoltFileWriter, type BoltEntries } from '../../../src/storage/bolt/writer.js';
import {
  BOLT_PAGE_SIZE,
  PageFlag,
  decodeMeta,
  encodeMetaPage,
  fnv64a,
  readPageHeader,
  type BoltMeta,
} from '../../../src/storage/bolt/page.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function build(buckets: Record<string, BoltEntries>): Promise<{ file: Buffer; size: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'xetcd-bolt-'));
  dirs.push(dir);
  const path = join(dir, 'db');
  const w = await BoltFileWriter.create(path);
  for (const [name, entries] of Object.entries(buckets)) await w.addBucket(Buffer.from(name), entries);
  const size = await w.finish();
  return { file: await readFile(path), size };
}

const kvs = (n: number, value: (i: number) => Buffer): Array<[Buffer, Buffer]> =>
  Array.from({ length: n }, (_, i) => [Buffer.from(`key-${String(i).padStart(8, '0')}`), value(i)]);

/** Rewrites the current meta (both copies) with `change`, checksums recomputed. */
function patchMetas(file: Buffer, change: (m: BoltMeta) => BoltMeta): Buffer {
  const out = Buffer.from(file);
  for (const id of [0, 1] as const) {
    const m = decodeMeta(out, id * BOLT_PAGE_SIZE);
    if ('invalid' in m) throw new Error(m.invalid);
    encodeMetaPage(id, change(m)).copy(out, id * BOLT_PAGE_SIZE);
  }
  return out;
}

describe('meta pages', () => {
  it('FNV-1a 64 matches the published test vectors', () => {
    expect(fnv64a(Buffer.alloc(0))).toBe(0xcbf29ce484222325n);
    expect(fnv64a(Buffer.from('a'))).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv64a(Buffer.from('foobar'))).toBe(0x85944171f73967e8n);
  });

  it('round-trip, and a flipped bit fails the checksum', () => {
    const meta: BoltMeta = {
      pageSize: 4096,
      flags: 0,
      root: 7,
      rootSequence: 0n,
      freelist: 8n,
      pgid: 9,
      txid: 12n,
    };
    const page = encodeMetaPage(1, meta);
    expect(page.length).toBe(4096);
    expect(readPageHeader(page, 0)).toEqual({ id: 1, flags: PageFlag.Meta, count: 0, overflow: 0 });
    expect(decodeMeta(page, 0)).toEqual(meta);
    page[16 + 20]! ^= 1;
    expect(decodeMeta(page, 0)).toEqual({ invalid: 'checksum error' });
  });

  it('the reader takes the valid meta with the higher txid, and survives one damaged meta', async () => {
    const { file } = await build({ b: [[Buffer.from('k'), Buffer.from('v')]] });
    expect(BoltReader.fromBuffer(file).meta.txid).toBe(3n);
    const damaged = Buffer.from(file);
    damaged[BOLT_PAGE_SIZE + 16 + 40]! ^= 0xff; // meta 1's pgid
    const r = BoltReader.fromBuffer(damaged);
    expect(r.meta.txid).toBe(2n);
    expect(r.bucket('b')!.map((i) => i.value.toString())).toEqual(['v']);
    damaged[16]! ^= 0xff; // meta 0's magic
    expect(() => BoltReader.fromBuffer(damaged)).toThrow('invalid database');
  });
});

describe('writer and reader', () => {
  it('an empty database: metas, the root bucket leaf and an empty freelist, nothing else', async () => {
    const { file, size } = await build({});
    expect(size).toBe(4 * BOLT_PAGE_SIZE);
    expect(file.length).toBe(size);
    const r = BoltReader.fromBuffer(file);
    expect(r.meta).toMatchObject({ pageSize: 4096, root: 2, freelist: 3n, pgid: 4 });
    expect(readPageHeader(file, 2 * BOLT_PAGE_SIZE)).toEqual({
      id: 2,
      flags: PageFlag.Leaf,
      count: 0,
      overflow: 0,
    });
    expect(readPageHeader(file, 3 * BOLT_PAGE_SIZE)).toEqual({
      id: 3,
      flags: PageFlag.Freelist,
      count: 0,
      overflow: 0,
    });
    expect(r.bucketNames()).toEqual([]);
    expect(r.check()).toEqual([]);
  });

  it('small buckets are inline in the root bucket; names come out sorted whatever the order added', async () => {
    const { file, size } = await build({
      zeta: [[Buffer.from('a'), Buffer.from('1')]],
      alpha: [],
      mid: [
        [Buffer.from('x'), Buffer.alloc(0)],
        [Buffer.from('y'), Buffer.from('2')],
      ],
    });
    // Everything fits in the root leaf: metas, root, freelist.
    expect(size).toBe(4 * BOLT_PAGE_SIZE);
    const r = BoltReader.fromBuffer(file);
    expect(r.bucketNames().map(String)).toEqual(['alpha', 'mid', 'zeta']);
    const root = [...r.items({ page: r.meta.root })];
    // An inline bucket's value: header with root 0, then its own leaf page header.
    expect(root[0]!.value.readBigUInt64LE(0)).toBe(0n);
    expect(readPageHeader(root[1]!.value, 16)).toMatchObject({ flags: PageFlag.Leaf, count: 2 });
    expect(r.bucket('mid')!.map((i) => [String(i.key), String(i.value)])).toEqual([
      ['x', ''],
      ['y', '2'],
    ]);
    expect(r.bucket('alpha')).toEqual([]);
    expect(r.bucket('nope')).toBeUndefined();
    expect(r.check()).toEqual([]);
  });

  it('a bucket of 40k keys becomes a multi-level tree with full leaves', async () => {
    const entries = kvs(40_000, (i) => Buffer.from(`value ${i}`));
    const { file } = await build({ big: entries });
    const r = BoltReader.fromBuffer(file);
    const root = [...r.items({ page: r.meta.root })][0]!;
    const bigRoot = Number(root.value.readBigUInt64LE(0));
    expect(bigRoot).toBeGreaterThan(0);
    const top = readPageHeader(file, bigRoot * BOLT_PAGE_SIZE);
    expect(top.flags).toBe(PageFlag.Branch);
    const child = Number(file.readBigUInt64LE(bigRoot * BOLT_PAGE_SIZE + 16 + 8));
    expect(readPageHeader(file, child * BOLT_PAGE_SIZE).flags).toBe(PageFlag.Branch); // three levels
    const got = r.bucket('big')!;
    expect(got.length).toBe(40_000);
    expect(got.every((it, i) => it.key.equals(entries[i]![0]) && it.value.equals(entries[i]![1]))).toBe(true);
    // Leaves are packed: the file is within 15% of the payload's size.
    const payload = entries.reduce((n, [k, v]) => n + 16 + k.length + v.length, 0);
    expect(file.length).toBeLessThan(payload * 1.15 + 4 * BOLT_PAGE_SIZE);
    expect(r.check()).toEqual([]);
  });

  it('values larger than a page go to overflow pages', async () => {
    const entries = kvs(5, (i) => Buffer.alloc(3 * BOLT_PAGE_SIZE + i, i + 1));
    const { file } = await build({ blobs: entries });
    const r = BoltReader.fromBuffer(file);
    const got = r.bucket('blobs')!;
    expect(got.map((i) => i.value.length)).toEqual(entries.map(([, v]) => v.length));
    expect(got.every((it, i) => it.value.equals(entries[i]![1]))).toBe(true);
    // Page 2 is the first leaf: one element, three overflow pages.
    expect(readPageHeader(file, 2 * BOLT_PAGE_SIZE)).toMatchObject({
      flags: PageFlag.Leaf,
      count: 1,
      overflow: 3,
    });
    expect(r.check()).toEqual([]);
  });

  it('streams pages of entries from an async source', async () => {
    async function* pages(): AsyncGenerator<Array<[Buffer, Buffer]>> {
      const all = kvs(3000, (i) => Buffer.from(String(i)));
      for (let i = 0; i < all.length; i += 700) yield all.slice(i, i + 700);
    }
    const r = BoltReader.fromBuffer((await build({ s: pages() })).file);
    expect(r.bucket('s')!.length).toBe(3000);
    expect(r.check()).toEqual([]);
  });

  it('refuses keys out of order, duplicate keys, empty keys and a bucket added twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'xetcd-bolt-'));
    dirs.push(dir);
    const w = await BoltFileWriter.create(join(dir, 'db'));
    try {
      await expect(
        w.addBucket(Buffer.from('a'), [
          [Buffer.from('b'), Buffer.alloc(0)],
          [Buffer.from('a'), Buffer.alloc(0)],
        ]),
      ).rejects.toThrow('out of order');
      await expect(
        w.addBucket(Buffer.from('b'), [
          [Buffer.from('a'), Buffer.alloc(0)],
          [Buffer.from('a'), Buffer.alloc(0)],
        ]),
      ).rejects.toThrow('out of order');
      await expect(w.addBucket(Buffer.from('c'), [[Buffer.alloc(0), Buffer.alloc(0)]])).rejects.toThrow(
        'zero-length',
      );
      await w.addBucket(Buffer.from('d'), []);
      await expect(w.addBucket(Buffer.from('d'), [])).rejects.toThrow('added twice');
    } finally {
      await w.close();
    }
  });

  it('property: any sorted key/value sets round-trip and pass the check', async () => {
    const bucket = fc
      .uniqueArray(
        fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.uint8Array({ maxLength: 6000 })),
        {
          selector: ([k]) => Buffer.from(k).toString('hex'),
          maxLength: 60,
        },
      )
      .map((pairs) =>
        pairs
          .map(([k, v]): [Buffer, Buffer] => [Buffer.from(k), Buffer.from(v)])
          .sort((a, b) => Buffer.compare(a[0], b[0])),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.stringMatching(/^[a-z_]{1,12}$/), bucket, { maxKeys: 5 }),
        async (spec) => {
          const { file } = await build(spec);
          const r = BoltReader.fromBuffer(file);
          expect(r.check()).toEqual([]);
          const got = r.buckets();
          expect([...got.keys()]).toEqual(Object.keys(spec).sort());
          for (const [name, pairs] of Object.entries(spec)) {
            expect(got.get(name)!.map(([k, v]) => k.toString('hex') + ':' + v.toString('hex'))).toEqual(
              pairs.map(([k, v]) => k.toString('hex') + ':' + v.toString('hex')),
            );
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('check() finds what bbolt refuses', () => {
  it('a page beyond every tree that is not free: unreachable unfreed', async () => {
    const { file } = await build({ b: kvs(200, () => Buffer.alloc(40)) });
    const grown = Buffer.concat([
      patchMetas(file, (m) => ({ ...m, pgid: m.pgid + 1 })),
      Buffer.alloc(BOLT_PAGE_SIZE),
    ]);
    const pgid = BoltReader.fromBuffer(file).meta.pgid;
    expect(BoltReader.fromBuffer(grown).check()).toEqual([`page ${pgid}: unreachable unfreed`]);
  });

  it('a page referenced twice, and a page that is both in use and free', async () => {
    const { file } = await build({ b: kvs(300, () => Buffer.alloc(40)) });
    const r = BoltReader.fromBuffer(file);
    const rootItem = [...r.items({ page: r.meta.root })][0]!;
    const branch = Number(rootItem.value.readBigUInt64LE(0)) * BOLT_PAGE_SIZE;
    expect(readPageHeader(file, branch).flags).toBe(PageFlag.Branch);
    const twice = Buffer.from(file);
    // Point the branch's second child at its first: the first is referenced twice, the second by no one.
    const first = twice.readBigUInt64LE(branch + 16 + 8);
    const second = Number(twice.readBigUInt64LE(branch + 32 + 8));
    twice.writeBigUInt64LE(first, branch + 32 + 8);
    expect(BoltReader.fromBuffer(twice).check()).toEqual(
      expect.arrayContaining([`page ${first}: multiple references`, `page ${second}: unreachable unfreed`]),
    );

    const freed = Buffer.from(file);
    const fl = Number(r.meta.freelist) * BOLT_PAGE_SIZE;
    freed.writeUInt16LE(1, fl + 10);
    freed.writeBigUInt64LE(first, fl + 16);
    expect(BoltReader.fromBuffer(freed).check()).toEqual([`page ${first}: reachable freed`]);
  });

  it('a page whose header names another page, and a page of the wrong type', async () => {
    const { file } = await build({ b: kvs(300, () => Buffer.alloc(40)) });
    const bad = Buffer.from(file);
    bad.writeBigUInt64LE(99n, 2 * BOLT_PAGE_SIZE);
    expect(BoltReader.fromBuffer(bad).check()).toContain('page 2: header says page 99');
    const wrong = Buffer.from(file);
    wrong.writeUInt16LE(PageFlag.Meta, 2 * BOLT_PAGE_SIZE + 8);
    expect(BoltReader.fromBuffer(wrong).check()).toContain(`page 2: invalid type: ${PageFlag.Meta}`);
  });
});
