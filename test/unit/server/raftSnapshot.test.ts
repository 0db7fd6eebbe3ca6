// A local snapshot raises the stored commit index to the snapshot's index in the
// background, while the Raft loop keeps writing hard states: the snapshot's write must
// carry the commit, term and vote last issued, not those of when it was taken (found by
// the fault suite: under load the Raft loop issued a newer commit in between, the store
// refused the snapshot's older one, and the snapshot and its log compaction were lost).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfState } from '../../../src/proto/raftpb.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftSnapshots } from '../../../src/server/raftSnapshot.js';
import type { RaftLogStore } from '../../../src/storage/raftlog/store.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { ents, hs, openStore, reopenState } from '../storage/raftLogFixtures.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await makeTempDir('xetcd-raft-snapshot-');
});
afterEach(async () => {
  await tmp.remove();
});

/** A logger whose lines the test can wait for. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A log of entries 1..12 (term 1, commit 8, as persisted and in memory) and a snapshot
 * taken at 10 whose background write waits until `issue` has issued its own write.
 */
async function snapshotAfter(issue: (store: RaftLogStore) => Promise<void>): Promise<{
  store: RaftLogStore;
  errors: string[];
}> {
  const { store } = await openStore(`${tmp.path}/raft`);
  const confState = ConfState.create({ voters: [1n, 2n, 3n] });
  await store.saveSnapshot({ index: 0, term: 0, confState });
  await store.save({ entries: ents(1, 12, 1), hardState: hs(1, 1n, 8) });
  const memory = new MemoryStorage();
  memory.append(ents(1, 12, 1));
  memory.setHardState(hs(1, 1n, 8));
  let flushed!: () => void;
  const { logger, lines } = capturingLogger();
  const snapshots = new RaftSnapshots({
    memory,
    raftLog: store,
    flushApplied: () => new Promise<void>((resolve) => (flushed = resolve)),
    snapshotCount: 5,
    catchUpEntries: 2,
    logger,
  });
  // Entries up to 10 are committed and applied: a snapshot is due.
  snapshots.applied(10, undefined);
  const issued = issue(store);
  flushed();
  await issued;
  await until(() => lines.some((l) => /raft snapshot/.test(l)));
  return { store, errors: lines.filter((l) => /"level":50/.test(l)) };
}

describe('RaftSnapshots', () => {
  it('keeps a term and vote issued after the snapshot was taken', async () => {
    // An election: a new term and a vote, issued by the Raft loop.
    const { store, errors } = await snapshotAfter((s) => s.save({ entries: [], hardState: hs(2, 3n, 8) }));
    expect(errors).toEqual([]);
    expect(store.hardState).toEqual(hs(2, 3n, 10));
    expect(store.snapshotMetadata?.index).toBe(10);
    await store.close();
    expect((await reopenState(`${tmp.path}/raft`)).hardState).toEqual(hs(2, 3n, 10));
  });

  it('keeps a commit index issued beyond the snapshot', async () => {
    const { store, errors } = await snapshotAfter((s) => s.save({ entries: [], hardState: hs(1, 1n, 12) }));
    expect(errors).toEqual([]);
    expect(store.hardState).toEqual(hs(1, 1n, 12));
    expect(store.snapshotMetadata?.index).toBe(10);
    await store.close();
  });
});
