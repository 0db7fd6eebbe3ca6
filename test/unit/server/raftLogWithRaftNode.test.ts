// The raft log store under the real Raft core: a one-member cluster is
// bootstrapped, elects itself, commits proposals, stops, and restarts from
// disk alone: same term, vote, commit, log and configuration, and it goes on.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfState } from '../../../src/proto/raftpb.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import type { RaftLogStore } from '../../../src/storage/raftlog/store.js';
import { restoreMemoryStorage } from '../../../src/server/raftLogRestore.js';
import { Rng } from '../../../src/raft/rng.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { openStore } from '../storage/raftLogFixtures.js';

let tmp: TempDir;

beforeEach(async () => {
  tmp = await makeTempDir('xetcd-raftlog-node-');
});

afterEach(async () => {
  await tmp.remove();
});

function newNode(storage: MemoryStorage, applied: number): RaftNode {
  const rng = new Rng(1);
  return new RaftNode({
    id: 1n,
    storage,
    electionTick: 10,
    heartbeatTick: 1,
    applied,
    random: () => rng.u32() / 2 ** 32,
  });
}

/** The server's Ready loop, reduced to storage: persist, then append to memory, then advance. */
async function drain(
  node: RaftNode,
  storage: MemoryStorage,
  store: RaftLogStore,
  applied: Uint8Array[],
): Promise<void> {
  while (node.hasReady()) {
    const rd = node.ready();
    await store.save(rd, { sync: rd.mustSync });
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) if (e.data.length > 0) applied.push(e.data);
    node.advance(rd);
  }
}

describe('RaftLogStore with RaftNode', () => {
  it('a bootstrapped member restarts from disk with its term, vote, log and configuration', async () => {
    const dir = `${tmp.path}/member/raft`;
    const applied: Uint8Array[] = [];
    let { store } = await openStore(dir);
    let storage = new MemoryStorage();
    RaftNode.bootstrap(storage, [1n]);
    await store.saveSnapshot(storage.snapshot().metadata!);
    let node = newNode(storage, 0);
    node.campaign();
    await drain(node, storage, store, applied);
    expect(node.status().role).toBe('leader');
    for (let i = 0; i < 20; i++) {
      node.propose(Uint8Array.of(i));
      await drain(node, storage, store, applied);
    }
    const before = node.status();
    expect(applied.length).toBe(20);
    node.stop();
    await store.close();

    const reopened = await openStore(dir);
    store = reopened.store;
    expect(reopened.state.hardState).toEqual({ term: before.term, vote: before.vote, commit: before.commit });
    storage = restoreMemoryStorage(reopened.state);
    expect(storage.initialState().confState).toEqual(ConfState.create({ voters: [1n] }));
    expect(storage.lastIndex()).toBe(before.commit);
    // Everything was applied before the stop: nothing is handed out again.
    node = newNode(storage, before.commit);
    expect(node.status()).toMatchObject({ term: before.term, vote: before.vote, commit: before.commit });
    node.campaign();
    await drain(node, storage, store, applied);
    expect(node.status()).toMatchObject({ role: 'leader', term: before.term + 1 });
    node.propose(Uint8Array.of(99));
    await drain(node, storage, store, applied);
    expect(applied.length).toBe(21);
    expect(applied[20]).toEqual(Uint8Array.of(99));
    node.stop();
    await store.close();
  });
});
