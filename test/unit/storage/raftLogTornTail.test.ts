// Scenario 22 (a): a write cut off mid-way. LevelDB appends every batch to its
// own write-ahead log (*.log) before applying it; a batch whose bytes were cut
// is dropped on recovery. Here the newest *.log is truncated at many offsets
// after a sequence of synced writes: the store must open every time, every
// batch that lies wholly before the cut must be there, and nothing after it:
// what opens is exactly the state after some prefix of the writes.
import { cp, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry, HardState } from '../../../src/proto/raftpb.js';
import type { RaftLogState } from '../../../src/storage/raftlog/store.js';
import { CorruptDataError } from '../../../src/storage/corruptDataError.js';
import { Rng } from '../../../src/raft/rng.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { ents, hs, openStore, reopenState } from './raftLogFixtures.js';

let tmp: TempDir;
let source: string;
let logFile: string;
/** Size of the newest *.log after the store was created, then after each acknowledged write. */
const boundaries: number[] = [];
/** The state after 0, 1, 2, ... writes. */
const states: RaftLogState[] = [];

async function newestLog(dir: string): Promise<string> {
  const logs = (await readdir(dir)).filter((f) => /^\d+\.log$/.test(f)).sort();
  expect(logs.length).toBeGreaterThan(0);
  return logs[logs.length - 1]!;
}

beforeAll(async () => {
  tmp = await makeTempDir('xetcd-raftlog-torn-');
  source = join(tmp.path, 'source');
  const { store } = await openStore(source);
  logFile = await newestLog(source);
  const rng = new Rng(2203);
  let log: Entry[] = [];
  let hard: HardState = hs(0, 0n, 0);
  const snapshotState = (): RaftLogState => ({ hardState: hard, entries: log.slice() });
  states.push(snapshotState());
  boundaries.push((await stat(join(source, logFile))).size);
  for (let w = 0; w < 60; w++) {
    const last = log.length;
    let term = hard.term === 0 ? 1 : hard.term;
    let from = last + 1;
    // Now and then a new leader rewrites the uncommitted tail with a higher term.
    if (last > hard.commit + 2 && rng.u32() % 4 === 0) {
      term++;
      from = hard.commit + 1 + (rng.u32() % (last - hard.commit));
    }
    const batch = ents(from, from + 1 + (rng.u32() % 4), term, 40 + (rng.u32() % 200));
    log = [...log.slice(0, from - 1), ...batch];
    const commit = Math.min(log.length, Math.max(hard.commit, from - 1 + (rng.u32() % 3)));
    hard = hs(term, term === hard.term ? hard.vote : BigInt(1 + (rng.u32() % 3)), commit);
    await store.save({ entries: batch, hardState: hard }, { sync: true });
    states.push(snapshotState());
    boundaries.push((await stat(join(source, logFile))).size);
  }
  await store.close();
  // Every write went to this one log file, or the offsets would mean nothing.
  for (let k = 1; k < boundaries.length; k++) expect(boundaries[k]).toBeGreaterThan(boundaries[k - 1]!);
  expect(await newestLog(source)).toBe(logFile);
  expect((await stat(join(source, logFile))).size).toBe(boundaries[boundaries.length - 1]);
});

afterAll(async () => {
  await tmp?.remove();
});

/** The number of writes wholly inside the first `cut` bytes of the log. */
function writesBefore(cut: number): number {
  let k = 0;
  while (k + 1 < boundaries.length && boundaries[k + 1]! <= cut) k++;
  return k;
}

describe('RaftLogStore: torn tail of the LevelDB log', () => {
  it('opens at every cut with exactly the writes that lie wholly before it', async () => {
    const rng = new Rng(22);
    const end = boundaries[boundaries.length - 1]!;
    const cuts = new Set<number>([0, end, end - 1]);
    // Around write boundaries (where off-by-one mistakes live) for a third of the writes, and anywhere.
    boundaries.forEach((b, k) => {
      if (k % 3 === 0) for (const d of [-1, 0, 1]) cuts.add(Math.min(end, Math.max(0, b + d)));
    });
    for (let i = 0; i < 40; i++) cuts.add(rng.u32() % end);
    let trial = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const dir = join(tmp.path, `cut-${trial++}`);
      await cp(source, dir, { recursive: true });
      await truncate(join(dir, logFile), cut);
      const k = writesBefore(cut);
      const state = await reopenState(dir);
      expect({ cut, writes: k, state }).toEqual({ cut, writes: k, state: states[k] });
      // And a store reopened after the cut keeps working from there.
      if (trial % 10 === 0) {
        const { store } = await openStore(dir);
        const next = (states[k]!.entries.at(-1)?.index ?? 0) + 1;
        const term = Math.max(1, states[k]!.hardState.term);
        await store.save({
          entries: ents(next, next, term),
          hardState: hs(term, states[k]!.hardState.vote, states[k]!.hardState.commit),
        });
        await store.close();
        expect((await reopenState(dir)).entries.length).toBe(next);
      }
    }
    expect(trial).toBeGreaterThan(80);
  });

  it('a flipped bit before the end of the log is a startup error, and stays one', async () => {
    // LevelDB would skip the damaged record and the rest of its block, report it only in its
    // info log, and fold the remains into a table: the second open must refuse as well.
    const rng = new Rng(222);
    for (const write of [3, 20, boundaries.length - 1]) {
      const dir = join(tmp.path, `flip-${write}`);
      await cp(source, dir, { recursive: true });
      const path = join(dir, logFile);
      const bytes = await readFile(path);
      const lo = boundaries[write - 1]!;
      const at = lo + 8 + (rng.u32() % (boundaries[write]! - lo - 8));
      bytes[at]! ^= 0x10;
      await writeFile(path, bytes);
      for (const attempt of [1, 2]) {
        const err = await reopenState(dir).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `write ${write}, attempt ${attempt}`).toBeInstanceOf(CorruptDataError);
        expect((err as CorruptDataError).record).toBe('log');
        expect((err as CorruptDataError).message).toMatch(/dropping \d+ bytes/);
      }
    }
  });
});
