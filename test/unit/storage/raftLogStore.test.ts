import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfState, Snapshot, SnapshotMetadata } from '../../../src/proto/raftpb.js';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import type { ClassicLevel } from 'classic-level';
import {
  RaftLogClosedError,
  RaftLogFailedError,
  RaftLogWriteError,
} from '../../../src/storage/raftlog/errors.js';
import { RaftLogStore } from '../../../src/storage/raftlog/store.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { ent, entryData, ents, hs, openStore, reopenState, shape, silent } from './raftLogFixtures.js';

let tmp: TempDir;
let dir: string;
let store: RaftLogStore | undefined;

beforeEach(async () => {
  tmp = await makeTempDir('xetcd-raftlog-');
  dir = `${tmp.path}/member/raft`;
});

afterEach(async () => {
  await store?.close();
  store = undefined;
  await tmp.remove();
});

async function open(): Promise<RaftLogStore> {
  const opened = await openStore(dir);
  store = opened.store;
  return opened.store;
}

async function restart(): Promise<void> {
  await store?.close();
  store = undefined;
}

function snap(index: number, term: number, voters: bigint[] = [1n]): Snapshot {
  return Snapshot.create({
    data: new Uint8Array(0),
    metadata: SnapshotMetadata.create({ index, term, confState: ConfState.create({ voters }) }),
  });
}

describe('RaftLogStore: a fresh store', () => {
  it('opens empty with a zero hard state, and creates its directory', async () => {
    const { store: s, state } = await openStore(dir);
    store = s;
    expect(state.entries).toEqual([]);
    expect(state.hardState).toEqual(hs(0, 0n, 0));
    expect(state.snapshotMetadata).toBeUndefined();
    expect(s.firstIndex).toBe(1);
    expect(s.lastIndex).toBe(0);
  });
});

describe('RaftLogStore: append and overwrite', () => {
  it('reopens with exactly what was saved: entries, data, types and hard state', async () => {
    const s = await open();
    const vote = 0xfedcba9876543210n; // IDs are full 64-bit values
    await s.save({ entries: ents(1, 3, 1), hardState: hs(1, vote, 2) });
    await s.save({ entries: ents(4, 5, 2), hardState: hs(2, 0n, 4) });
    await restart();
    const state = await reopenState(dir);
    expect(state.entries).toEqual([...ents(1, 3, 1), ...ents(4, 5, 2)]);
    expect(state.hardState).toEqual(hs(2, 0n, 4));
  });

  it('overwrites a conflicting suffix from the first new index and drops what followed', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 6, 1), hardState: hs(1, 1n, 2) });
    await s.save({ entries: ents(3, 4, 2), hardState: hs(2, 2n, 2) });
    expect(s.lastIndex).toBe(4);
    await restart();
    const state = await reopenState(dir);
    expect(shape(state.entries)).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
    expect(state.entries[2]!.data).toEqual(entryData(3, 2));
  });

  it('accepts an append right after the last index and one that rewrites the same entries', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 3, 1), hardState: hs(1, 0n, 1) });
    await s.save({ entries: ents(2, 3, 1) });
    await s.save({ entries: ents(4, 4, 1) });
    await restart();
    expect(shape((await reopenState(dir)).entries)).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
  });

  it('refuses a gap, and the refusal leaves the store usable and unchanged', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 5, 1), hardState: hs(1, 0n, 0) });
    await expect(s.save({ entries: ents(7, 8, 1) })).rejects.toThrow(RaftLogWriteError);
    await expect(s.save({ entries: ents(7, 8, 1) })).rejects.toThrow(/gap after the last index 5/);
    await s.save({ entries: ents(6, 6, 1) });
    await restart();
    expect(shape((await reopenState(dir)).entries).map(([i]) => i)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses a log that does not start at 1 on a store without a snapshot', async () => {
    const s = await open();
    await expect(s.save({ entries: ents(2, 3, 1), hardState: hs(1, 0n, 0) })).rejects.toThrow(
      /gap after the last index 0/,
    );
  });

  it('refuses entries before any hard state, and entries of a term above it', async () => {
    const s = await open();
    await expect(s.save({ entries: ents(1, 1, 1) })).rejects.toThrow(/before any hard state/);
    await s.save({ entries: ents(1, 1, 1), hardState: hs(1, 0n, 0) });
    await expect(s.save({ entries: ents(2, 2, 2) })).rejects.toThrow(/term 2, above the hard state term 1/);
  });

  it('refuses entries that are not contiguous or whose terms go down', async () => {
    const s = await open();
    const h = hs(3, 0n, 0);
    await expect(s.save({ entries: [ent(1, 1), ent(3, 1)], hardState: h })).rejects.toThrow(/not contiguous/);
    await expect(s.save({ entries: [ent(1, 2), ent(2, 1)], hardState: h })).rejects.toThrow(
      /below the term 2/,
    );
    await s.save({ entries: ents(1, 2, 3), hardState: hs(3, 0n, 0) });
    await expect(s.save({ entries: ents(3, 3, 2) })).rejects.toThrow(/term 2 below the term 3 of entry 2/);
  });
});

describe('RaftLogStore: hard state', () => {
  it('keeps term, vote and commit across restarts (scenario 26: the term comes from disk)', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 1, 1), hardState: hs(5, 1n, 1) });
    await restart();
    const state = await reopenState(dir);
    expect(state.hardState).toEqual(hs(5, 1n, 1));
  });

  it('refuses a term that goes down, a second vote in a term, a commit that goes back or past the log', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 3, 5), hardState: hs(5, 2n, 2) });
    await expect(s.save({ entries: [], hardState: hs(4, 0n, 2) })).rejects.toThrow(/term 4 is behind/);
    await expect(s.save({ entries: [], hardState: hs(5, 3n, 2) })).rejects.toThrow(
      /changes the vote of term 5/,
    );
    await expect(s.save({ entries: [], hardState: hs(5, 2n, 1) })).rejects.toThrow(/commit 1 is behind/);
    await expect(s.save({ entries: [], hardState: hs(5, 2n, 4) })).rejects.toThrow(/beyond the last index 3/);
    // Truncating below the commit index would lose committed entries.
    await expect(s.save({ entries: ents(2, 2, 6) })).rejects.toThrow(
      /entry 2 would overwrite a committed entry/,
    );
    await expect(s.save({ entries: ents(3, 3, 6), hardState: hs(6, 0n, 4) })).rejects.toThrow(
      /commit 4 would be beyond the last index 3/,
    );
    // A new term may carry a new vote; commit may follow entries in the same write.
    await s.save({ entries: ents(4, 4, 6), hardState: hs(6, 3n, 4) });
    await restart();
    expect((await reopenState(dir)).hardState).toEqual(hs(6, 3n, 4));
  });
});

describe('RaftLogStore: snapshots and compaction', () => {
  it('installs a snapshot from the leader: every stored entry goes, entries continue after it', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 8, 1), hardState: hs(1, 1n, 3) });
    await s.save({ snapshot: snap(20, 3, [1n, 2n, 3n]), entries: ents(21, 22, 3), hardState: hs(3, 0n, 20) });
    expect(s.firstIndex).toBe(21);
    expect(s.lastIndex).toBe(22);
    await restart();
    const state = await reopenState(dir);
    expect(state.snapshotMetadata).toEqual(snap(20, 3, [1n, 2n, 3n]).metadata);
    expect(shape(state.entries)).toEqual([
      [21, 3],
      [22, 3],
    ]);
    expect(state.hardState).toEqual(hs(3, 0n, 20));
  });

  it('refuses entries that do not continue the snapshot they come with, and older snapshots', async () => {
    const s = await open();
    await s.save({ snapshot: snap(10, 2), entries: [], hardState: hs(2, 0n, 10) });
    await expect(s.save({ entries: ents(10, 11, 2) })).rejects.toThrow(/at or below the snapshot index 10/);
    await expect(
      s.save({ snapshot: snap(12, 2), entries: ents(14, 14, 2), hardState: hs(2, 0n, 12) }),
    ).rejects.toThrow(/gap/);
    await expect(s.save({ snapshot: snap(9, 2), entries: [], hardState: hs(2, 0n, 10) })).rejects.toThrow(
      /older/,
    );
    await expect(s.save({ snapshot: Snapshot.create(), entries: [] })).rejects.toThrow(/needs metadata/);
    await expect(s.save({ snapshot: snap(15, 2), entries: [], hardState: hs(2, 0n, 14) })).rejects.toThrow(
      /behind the snapshot index 15/,
    );
    await restart();
    const state = await reopenState(dir);
    expect(state.entries).toEqual([]);
    expect(state.snapshotMetadata?.index).toBe(10);
  });

  it('records a local snapshot and compacts up to it, keeping later entries', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 10, 1), hardState: hs(1, 1n, 8) });
    const meta = SnapshotMetadata.create({
      index: 6,
      term: 1,
      confState: ConfState.create({ voters: [1n] }),
    });
    await expect(s.compact(4)).rejects.toThrow(/newest snapshot is at 0/);
    await expect(s.saveSnapshot({ ...meta, index: 9 })).rejects.toThrow(/beyond the commit index 8/);
    await expect(s.saveSnapshot({ ...meta, term: 2 })).rejects.toThrow(/has term 2 but the log has 1/);
    await s.saveSnapshot(meta);
    await expect(s.compact(7)).rejects.toThrow(/newest snapshot is at 6/);
    // etcd keeps some entries below the snapshot for slow followers: compacting short of it is fine.
    await s.compact(4);
    await restart();
    let state = await reopenState(dir);
    expect(state.snapshotMetadata).toEqual(meta);
    expect(shape(state.entries).map(([i]) => i)).toEqual([5, 6, 7, 8, 9, 10]);
    const reopened = await open();
    expect(reopened.firstIndex).toBe(7);
    await reopened.compact(6);
    await reopened.save({ entries: ents(11, 11, 2), hardState: hs(2, 0n, 11) });
    await restart();
    state = await reopenState(dir);
    expect(shape(state.entries).map(([i]) => i)).toEqual([7, 8, 9, 10, 11]);
  });
});

describe('RaftLogStore: ordering of concurrent writes', () => {
  it('lands writes in issue order and resolves them in issue order', async () => {
    const s = await open();
    const resolved: number[] = [];
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) {
      writes.push(
        s.save({ entries: [ent(i, 1)], hardState: hs(1, 1n, i - 1) }).then(() => void resolved.push(i)),
      );
    }
    await Promise.all(writes);
    expect(resolved).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
    await restart();
    const state = await reopenState(dir);
    expect(state.entries.length).toBe(50);
    expect(state.hardState.commit).toBe(49);
  });

  it('never lets an older write for the same indexes overtake a newer one (scenario 27, ABA)', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 4, 1), hardState: hs(1, 1n, 4) });
    // Term 2 entries 5..7 are in flight when a term-3 leader's entries for 5..6 arrive,
    // and a term-2 rewrite of the same indexes was still queued behind them.
    const older = s.save({ entries: ents(5, 7, 2), hardState: hs(2, 2n, 4) });
    const newer = s.save({ entries: ents(5, 6, 3), hardState: hs(3, 3n, 4) });
    const newest = s.save({ entries: ents(7, 7, 3) });
    await Promise.all([older, newer, newest]);
    expect(s.lastIndex).toBe(7);
    await restart();
    const state = await reopenState(dir);
    expect(shape(state.entries.slice(4))).toEqual([
      [5, 3],
      [6, 3],
      [7, 3],
    ]);
    for (const e of state.entries) expect(e.data).toEqual(entryData(e.index, e.term));
  });

  it('checks each write against the writes issued before it, not against the disk', async () => {
    const s = await open();
    // Issued back to back: the second is valid only because the first will have landed.
    const a = s.save({ entries: ents(1, 3, 1), hardState: hs(1, 0n, 0) });
    const b = s.save({ entries: ents(4, 6, 1) });
    const gap = s.save({ entries: ents(9, 9, 1) });
    await expect(gap).rejects.toThrow(/gap after the last index 6/);
    await Promise.all([a, b]);
    await restart();
    expect((await reopenState(dir)).entries.length).toBe(6);
  });

  it('close waits for queued writes; later writes are refused', async () => {
    const s = await open();
    const pending = s.save({ entries: ents(1, 100, 1), hardState: hs(1, 0n, 0) });
    await s.close();
    await pending;
    await expect(s.save({ entries: ents(101, 101, 1) })).rejects.toThrow(RaftLogClosedError);
    store = undefined;
    expect((await reopenState(dir)).entries.length).toBe(100);
  });
});

describe('RaftLogStore: creation and failure', () => {
  it('refuses a non-empty directory that holds no store instead of writing into it', async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/notes.txt`, 'mine');
    await expect(openStore(dir)).rejects.toThrow(/is not empty but holds no raft log store/);
  });

  it('discards what a crash during creation left beside the store, and creates it', async () => {
    await mkdir(`${dir}.creating`, { recursive: true });
    await writeFile(`${dir}.creating/000001.log`, 'half');
    await open();
    await restart();
    expect(await readdir(tmp.path + '/member')).toEqual(['raft']);
    expect((await reopenState(dir)).entries).toEqual([]);
  });

  it('a store already open elsewhere is an open error, not corruption', async () => {
    await open();
    await expect(openStore(dir)).rejects.toThrow(/cannot open the raft log in/);
  });

  it('after a failed write every queued and later write fails: the disk no longer matches them', async () => {
    const s = await open();
    await s.save({ entries: ents(1, 2, 1), hardState: hs(1, 1n, 1) });
    // Pull the database out from under the store, as a dying disk would.
    await (s as unknown as { db: ClassicLevel<Uint8Array, Uint8Array> }).db.close();
    const failed = s.save({ entries: ents(3, 3, 1) });
    const queued = s.save({ entries: ents(4, 4, 1) });
    await expect(failed).rejects.toThrow(RaftLogFailedError);
    await expect(queued).rejects.toThrow(RaftLogFailedError);
    await expect(s.save({ entries: ents(5, 5, 1) })).rejects.toThrow(RaftLogFailedError);
    store = undefined;
  });
});

describe('RaftLogStore: durability contract', () => {
  it('hands every Ready write to LevelDB as one batch, fsynced when asked (and by default)', async () => {
    const s = await open();
    const db = (s as unknown as { db: ClassicLevel<Uint8Array, Uint8Array> }).db;
    const calls: { ops: number; sync: boolean | undefined }[] = [];
    const batch = db.batch.bind(db) as (ops: unknown[], o: { sync?: boolean }) => Promise<void>;
    (db as unknown as { batch: typeof batch }).batch = (ops, o) => {
      calls.push({ ops: ops.length, sync: o.sync });
      return batch(ops, o);
    };
    await s.save({ entries: ents(1, 3, 1), hardState: hs(1, 1n, 0) });
    await s.save({ entries: [], hardState: hs(1, 1n, 2) }, { sync: false });
    await s.save({ entries: ents(4, 4, 1) }, { sync: true });
    // Entries are synced even when the caller says otherwise.
    await s.save({ entries: ents(5, 5, 1) }, { sync: false });
    // 3 entries + hard state + bounds; hard state + bounds; 1 entry + bounds; 1 entry + bounds.
    expect(calls).toEqual([
      { ops: 5, sync: true },
      { ops: 2, sync: false },
      { ops: 2, sync: true },
      { ops: 2, sync: true },
    ]);
  });

  it('reports how long each synced batch took', async () => {
    const observed: number[] = [];
    const opened = await RaftLogStore.open(dir, {
      logger: silent,
      fsyncDuration: { observe: (v) => observed.push(v) },
    });
    store = opened.store;
    await store.save({ entries: ents(1, 1, 1), hardState: hs(1, 1n, 0) });
    await store.save({ entries: [], hardState: hs(1, 1n, 1) }, { sync: false });
    expect(observed.length).toBe(1);
    expect(observed[0]).toBeGreaterThan(0);
    expect(observed[0]).toBeLessThan(30);
  });
});
