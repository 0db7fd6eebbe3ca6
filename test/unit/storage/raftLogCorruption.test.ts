// Damaged data must stop the member at startup with an error that says where
// the damage is (scenario 22 b): never a silently served wrong entry.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Entry, HardState } from '../../../src/proto/raftpb.js';
import { CorruptDataError } from '../../../src/storage/corruptDataError.js';
import {
  RecordKind,
  encodeEntryPayload,
  encodeRecord,
  entryKey,
  hardStateKey,
  metaKey,
} from '../../../src/storage/raftlog/records.js';
import { Rng } from '../../../src/raft/rng.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { ent, ents, hs, openStore, reopenState } from './raftLogFixtures.js';

let tmp: TempDir;
let dir: string;

beforeEach(async () => {
  tmp = await makeTempDir('xetcd-raftlog-corrupt-');
  dir = join(tmp.path, 'raft');
  const { store } = await openStore(dir);
  await store.save({ entries: ents(1, 10, 1, 64), hardState: hs(1, 1n, 8) });
  await store.close();
});

afterEach(async () => {
  await tmp.remove();
});

/** Edits the database underneath the store, as a disk or a buggy tool would. */
async function raw(edit: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await edit(db);
  } finally {
    await db.close();
  }
}

async function openError(): Promise<CorruptDataError> {
  try {
    await reopenState(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptDataError);
    return err as CorruptDataError;
  }
  throw new Error('the store opened corrupt data');
}

describe('RaftLogStore: corrupt records are a startup error', () => {
  it('a bit flipped inside a stored entry names the directory, the record, the index and the way out', async () => {
    await raw(async (db) => {
      const value = (await db.get(entryKey(4)))!;
      value[value.length - 10]! ^= 0x08;
      await db.put(entryKey(4), value);
    });
    const err = await openError();
    expect(err.record).toBe('entry');
    expect(err.index).toBe(4);
    expect(err.dir).toBe(dir);
    expect(err.message).toContain(dir);
    expect(err.message).toContain('entry record at index 4: checksum mismatch');
    expect(err.message).toContain('restore from a snapshot');
    expect(err.message).toContain('remove the member and re-add it');
  });

  it('every single-bit flip of an entry value is caught', async () => {
    const original = await (async () => {
      let v: Uint8Array | undefined;
      await raw(async (db) => {
        v = await db.get(entryKey(7));
      });
      return v!;
    })();
    const rng = new Rng(7);
    for (let trial = 0; trial < 24; trial++) {
      const bit = rng.u32() % (original.length * 8);
      const flipped = original.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      await raw((db) => db.put(entryKey(7), flipped));
      const err = await openError();
      expect(err.index).toBe(7);
    }
  });

  it('a valid record under the wrong key is caught (the value carries its own index)', async () => {
    await raw(async (db) => {
      const value = (await db.get(entryKey(3)))!;
      await db.put(entryKey(4), value);
    });
    const err = await openError();
    expect(err.index).toBe(4);
    expect(err.detail).toMatch(/belongs to index 3/);
  });

  it('an older, well-formed version of an overwritten entry is caught (a lost newer write)', async () => {
    const { store } = await openStore(dir);
    await store.save({ entries: ents(9, 12, 2, 64), hardState: hs(2, 2n, 8) });
    await store.close();
    // What LevelDB would show if the table holding the term-2 entry 9 were lost: the term-1 one.
    const stale = encodeRecord(RecordKind.Entry, 9, encodeEntryPayload(1, Entry.encode(ent(9, 1, 64))));
    await raw((db) => db.put(entryKey(9), stale));
    const err = await openError();
    expect(err.index).toBe(9);
    expect(err.detail).toMatch(/entry 10 was written after a term-2 entry there/);
  });

  it('an older, well-formed hard state is caught (a lost vote)', async () => {
    const { store } = await openStore(dir);
    await store.save({ entries: [], hardState: hs(3, 2n, 8) });
    await store.close();
    await raw((db) =>
      db.put(hardStateKey, encodeRecord(RecordKind.HardState, 0, HardState.encode(hs(1, 1n, 8)))),
    );
    const err = await openError();
    expect(err.record).toBe('hardState');
    expect(err.detail).toMatch(/the last write left term 3 and vote 2/);
  });

  it('a bit flipped in the hard state is caught', async () => {
    await raw(async (db) => {
      const value = (await db.get(hardStateKey))!;
      value[value.length - 1]! ^= 0x01;
      await db.put(hardStateKey, value);
    });
    const err = await openError();
    expect(err.record).toBe('hardState');
    expect(err.detail).toMatch(/checksum mismatch/);
  });

  it('a missing entry in the middle of the log is a gap naming the missing index', async () => {
    await raw((db) => db.del(entryKey(6)));
    const err = await openError();
    expect(err.index).toBe(6);
    expect(err.detail).toMatch(/jumps from 5 to 7/);
  });

  it('a log that lost its first entries without a snapshot is caught', async () => {
    await raw((db) => db.batch([{ type: 'del', key: entryKey(1) }]));
    const err = await openError();
    expect(err.index).toBe(1);
  });

  it('a hard state whose commit is beyond the last entry is caught', async () => {
    await raw((db) =>
      db.put(hardStateKey, encodeRecord(RecordKind.HardState, 0, HardState.encode(hs(1, 1n, 11)))),
    );
    const err = await openError();
    expect(err.detail).toMatch(/commit 11 is beyond the last index 10/);
  });

  it('a lost tail below the commit index is caught', async () => {
    await raw((db) =>
      db.batch([
        { type: 'del', key: entryKey(8) },
        { type: 'del', key: entryKey(9) },
        { type: 'del', key: entryKey(10) },
      ]),
    );
    const err = await openError();
    expect(err.index).toBe(8);
    expect(err.detail).toMatch(/the last write left entries up to 10 but the log ends at 7/);
  });

  it('a lost tail beyond the commit index is caught too (those entries may have been acknowledged)', async () => {
    await raw((db) => db.del(entryKey(10)));
    const err = await openError();
    expect(err.index).toBe(10);
  });

  it('a database that reads as empty is not taken for a new one', async () => {
    await raw(async (db) => {
      const ops: { type: 'del'; key: Uint8Array }[] = [];
      for await (const key of db.keys()) ops.push({ type: 'del', key });
      await db.batch(ops);
    });
    expect((await openError()).detail).toMatch(/exists but no record could be read/);
  });

  it('a truncated value, and a well-framed value holding another entry, are caught', async () => {
    await raw(async (db) => {
      const value = (await db.get(entryKey(2)))!;
      await db.put(entryKey(2), value.subarray(0, 10));
    });
    expect((await openError()).detail).toMatch(/shorter than its header/);
    await raw(async (db) => {
      const value = (await db.get(entryKey(3)))!;
      await db.put(entryKey(2), encodeRecord(RecordKind.Entry, 2, value.subarray(14)));
    });
    expect((await openError()).detail).toMatch(/holds entry 3/);
  });

  it('an unknown key is caught', async () => {
    await raw((db) => db.put(Uint8Array.of(0x7a), Uint8Array.of(1, 2, 3)));
    expect((await openError()).detail).toMatch(/unknown key 7a/);
  });

  it('a store whose format marker is gone is not taken for a fresh one', async () => {
    await raw((db) => db.del(metaKey));
    expect((await openError()).detail).toMatch(/format marker is missing/);
  });
});

describe('RaftLogStore: damage to LevelDB table files', () => {
  it('a flipped byte anywhere in a table file either fails the open or changes nothing', async () => {
    await raw((db) => db.compactRange(Uint8Array.of(0), Uint8Array.of(0xff)));
    const tables = (await readdir(dir)).filter((f) => f.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    const path = join(dir, tables[0]!);
    const pristine = await readFile(path);
    const expected = await reopenState(dir);
    const rng = new Rng(22);
    let refused = 0;
    for (let trial = 0; trial < 40; trial++) {
      const damaged = Buffer.from(pristine);
      damaged[rng.u32() % damaged.length]! ^= 1 << (rng.u32() % 8);
      await writeFile(path, damaged);
      let state: Awaited<ReturnType<typeof reopenState>> | undefined;
      try {
        state = await reopenState(dir);
      } catch (err) {
        expect(err).toBeInstanceOf(CorruptDataError);
        refused++;
      }
      if (state !== undefined) {
        // Opened: then it must be exactly the data that was written (the flip hit unused bytes).
        expect(state).toEqual(expected);
      }
    }
    await writeFile(path, pristine);
    expect(refused).toBeGreaterThan(0);
  });
});
