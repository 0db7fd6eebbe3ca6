import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfState, SnapshotMetadata } from '../../../src/proto/raftpb.js';
import { CompactedError } from '../../../src/raft/storage.js';
import { restoreMemoryStorage } from '../../../src/server/raftLogRestore.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { ents, hs, openStore, reopenState } from '../storage/raftLogFixtures.js';

let tmp: TempDir;

beforeEach(async () => {
  tmp = await makeTempDir('xetcd-raftlog-restore-');
});

afterEach(async () => {
  await tmp.remove();
});

describe('restoreMemoryStorage', () => {
  it('gives the Raft core the log a restarted member had: hard state, conf state, entries', async () => {
    const { store } = await openStore(tmp.path + '/raft');
    await store.save({ entries: [...ents(1, 5, 1), ...ents(6, 9, 2)], hardState: hs(2, 3n, 8) });
    const confState = ConfState.create({ voters: [1n, 2n, 3n], learners: [4n] });
    await store.saveSnapshot(SnapshotMetadata.create({ index: 7, term: 2, confState }));
    await store.compact(5);
    await store.close();

    const ms = restoreMemoryStorage(await reopenState(tmp.path + '/raft'), Uint8Array.of(9));
    expect(ms.initialState()).toEqual({ hardState: hs(2, 3n, 8), confState });
    expect(ms.firstIndex()).toBe(8);
    expect(ms.lastIndex()).toBe(9);
    expect(ms.term(7)).toBe(2);
    expect(() => ms.term(6)).toThrow(CompactedError);
    expect(ms.entries(8, 10, Infinity)).toEqual(ents(8, 9, 2));
    expect(ms.snapshot().metadata?.index).toBe(7);
    expect(ms.snapshot().data).toEqual(Uint8Array.of(9));
  });

  it('restores a store without a snapshot from index 1', async () => {
    const { store } = await openStore(tmp.path + '/raft');
    await store.save({ entries: ents(1, 3, 1), hardState: hs(1, 1n, 2) });
    await store.close();
    const ms = restoreMemoryStorage(await reopenState(tmp.path + '/raft'));
    expect(ms.firstIndex()).toBe(1);
    expect(ms.lastIndex()).toBe(3);
    expect(ms.entries(1, 4, Infinity)).toEqual(ents(1, 3, 1));
  });
});
