// Crash test of the raft log store with a real process and SIGKILL.
//
// Each round starts raftLogCrashChild.ts on the same data directory, lets
// it write for a random while and kills it with SIGKILL. The test then opens
// the store itself and checks it holds exactly the state after some prefix of
// the writes the child issued, a prefix that contains every write the child
// saw acknowledged: nothing acknowledged is lost, nothing is corrupt, nothing
// half-written shows. XETCD_CRASH_ROUNDS sets the number of rounds (default 20).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfState, type Entry, SnapshotMetadata } from '../../src/proto/raftpb.js';
import type { RaftLogState } from '../../src/storage/raftlog/store.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { Rng } from '../../src/raft/rng.js';
import { CRASH_ENTRY_BYTES, ents, hs, reopenState } from '../unit/storage/raftLogFixtures.js';

const ROUNDS = Number(process.env.XETCD_CRASH_ROUNDS ?? 20);
const child = fileURLToPath(new URL('./raftLogCrashChild.ts', import.meta.url));
// `--import tsx` resolves from the working directory: the repository root.
const root = fileURLToPath(new URL('../..', import.meta.url));

type Write =
  | { kind: 'save'; from: number; to: number; term: number; vote: bigint; commit: number }
  | { kind: 'snap'; index: number; term: number }
  | { kind: 'compact'; index: number };

/** What the store must hold after a write: the reference the store is compared with. */
function apply(state: RaftLogState, w: Write): RaftLogState {
  switch (w.kind) {
    case 'save': {
      const kept = state.entries.filter((e) => e.index < w.from);
      return {
        ...state,
        hardState: hs(w.term, w.vote, w.commit),
        entries: [...kept, ...ents(w.from, w.to, w.term, CRASH_ENTRY_BYTES)],
      };
    }
    case 'snap':
      return {
        ...state,
        snapshotMetadata: SnapshotMetadata.create({
          index: w.index,
          term: w.term,
          confState: ConfState.create({ voters: [1n] }),
        }),
      };
    case 'compact':
      return { ...state, entries: state.entries.filter((e: Entry) => e.index > w.index) };
  }
}

function parseWrites(out: string): { issued: Write[]; acked: number; open: string | undefined } {
  const issued: Write[] = [];
  let acked = 0;
  let open: string | undefined;
  for (const line of out.split('\n')) {
    const f = line.trim().split(' ');
    if (f[0] === 'open') open = f.slice(1).join(' ');
    else if (f[0] === 'ack') {
      // Writes resolve in issue order, so acks arrive in order: count them.
      expect(Number(f[1])).toBe(acked);
      acked++;
    } else if (f[0] === 'issue') {
      expect(Number(f[1])).toBe(issued.length);
      const n = f.slice(3).map((x) => x);
      if (f[2] === 'save') {
        issued.push({
          kind: 'save',
          from: Number(n[0]),
          to: Number(n[1]),
          term: Number(n[2]),
          vote: BigInt(`0x${n[3]}`),
          commit: Number(n[4]),
        });
      } else if (f[2] === 'snap') issued.push({ kind: 'snap', index: Number(n[0]), term: Number(n[1]) });
      else if (f[2] === 'compact') issued.push({ kind: 'compact', index: Number(n[0]) });
    }
  }
  return { issued, acked, open };
}

let tmp: TempDir;
let running: ManagedProcess | undefined;

beforeAll(async () => {
  tmp = await makeTempDir('xetcd-raftlog-crash-');
});

afterAll(async () => {
  await running?.stop(1_000);
  await tmp?.remove();
});

describe('raft log store under SIGKILL', () => {
  it(
    `keeps every acknowledged write through ${ROUNDS} kills`,
    async () => {
      const dir = join(tmp.path, 'member', 'raft');
      const rng = new Rng(Number(process.env.XETCD_CRASH_SEED ?? 4242));
      let model: RaftLogState = { hardState: hs(0, 0n, 0), entries: [] };
      let totalAcked = 0;
      let inFlightAtKill = 0;
      let landedUnacked = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const proc = await startProcess({
          name: `raft-log-child-${round}`,
          command: process.execPath,
          args: ['--import', 'tsx', child, dir, String(round + 1)],
          cwd: root,
        });
        running = proc;
        await proc.waitForOutput(/^open .*$/m, 20_000, 'stdout');
        // Kill at a random moment: sometimes right away, mostly after a burst of writes.
        await sleep(rng.u32() % 4 === 0 ? rng.u32() % 20 : 30 + (rng.u32() % 400));
        proc.signal('SIGKILL');
        const status = await proc.exited;
        expect(status.signal, proc.tail()).toBe('SIGKILL');
        // 'exit' can come before the last lines are read from the pipe: a write announced there may be on disk.
        await finished(proc.child.stdout!);
        running = undefined;

        const { issued, acked, open } = parseWrites(proc.stdout());
        // The child found what the last round left.
        const last = Math.max(model.snapshotMetadata?.index ?? 0, model.entries.at(-1)?.index ?? 0);
        const h = model.hardState;
        expect(open).toBe(
          `${last} ${h.term} ${h.vote.toString(16)} ${h.commit} ${model.snapshotMetadata?.index ?? 0}`,
        );

        const found = await reopenState(dir);
        // Exactly the state after `acked` writes, or after some of the ones still in flight.
        let state = model;
        for (let k = 0; k < acked; k++) state = apply(state, issued[k]!);
        let matched = -1;
        for (let k = acked; k <= issued.length; k++) {
          if (k > acked) state = apply(state, issued[k - 1]!);
          try {
            expect(found).toEqual(state);
            matched = k;
            break;
          } catch {
            // try the next in-flight write
          }
        }
        if (matched < 0) {
          let expected = model;
          for (let k = 0; k < acked; k++) expected = apply(expected, issued[k]!);
          expect(found, `round ${round}: store differs from every admissible state`).toEqual(expected);
        }
        if (matched > acked) landedUnacked++;
        model = found;
        totalAcked += acked;
        inFlightAtKill += issued.length - acked;
      }
      // Visible in the test output: how much the rounds exercised.
      console.log(
        `raft log crash test: ${ROUNDS} rounds, ${totalAcked} acknowledged writes, ${inFlightAtKill} in flight at a kill, ` +
          `${landedUnacked} rounds where an unacknowledged write had landed, ` +
          `final log ${model.entries[0]?.index ?? 0}..${model.entries.at(-1)?.index ?? 0} (snapshot ${model.snapshotMetadata?.index ?? 0})`,
      );
      expect(totalAcked).toBeGreaterThan(ROUNDS);
    },
    ROUNDS * 15_000 + 30_000,
  );
});
