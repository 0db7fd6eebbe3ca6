// Model-based property test of the raft log store: random sequences of the
// writes a Raft member makes (appends, rewrites of the uncommitted tail in a
// new term, snapshots installed from a leader, local snapshots, compactions),
// issued several at a time without waiting, plus refused writes and restarts.
// After every restart the store must hold exactly what a plain in-memory model
// of the log holds.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfState, Snapshot, SnapshotMetadata } from '../../../src/proto/raftpb.js';
import type { RaftLogState, RaftLogStore } from '../../../src/storage/raftlog/store.js';
import { RaftLogWriteError } from '../../../src/storage/raftlog/errors.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { ents, hs, openStore } from './raftLogFixtures.js';

type Command =
  | { kind: 'append'; count: number; newTerm: boolean; back: number; advance: number }
  | { kind: 'localSnapshot'; back: number }
  | { kind: 'compact'; back: number }
  | { kind: 'install'; ahead: number; count: number }
  | { kind: 'gap' }
  | { kind: 'staleTerm' }
  | { kind: 'restart' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 6 }),
      newTerm: fc.boolean(),
      back: fc.nat(5),
      advance: fc.nat(4),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('localSnapshot' as const), back: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(3) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      ahead: fc.integer({ min: 1, max: 10 }),
      count: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'gap' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'staleTerm' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

function lastIndex(m: RaftLogState): number {
  return Math.max(m.snapshotMetadata?.index ?? 0, m.entries.at(-1)?.index ?? 0);
}

function termAt(m: RaftLogState, i: number): number | undefined {
  if (i === (m.snapshotMetadata?.index ?? 0)) return m.snapshotMetadata?.term ?? 0;
  return m.entries.find((e) => e.index === i)?.term;
}

let tmp: TempDir;
let runs = 0;

beforeAll(async () => {
  tmp = await makeTempDir('xetcd-raftlog-model-');
});

afterAll(async () => {
  await tmp.remove();
});

describe('RaftLogStore against a model of the log', () => {
  it('holds exactly what the model holds, across concurrent writes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 50 }), async (commands) => {
        const dir = `${tmp.path}/run-${runs++}`;
        let { store } = await openStore(dir);
        let model: RaftLogState = { hardState: hs(0, 0n, 0), entries: [] };
        let pending: Promise<void>[] = [];
        const settle = async (): Promise<void> => {
          await Promise.all(pending);
          pending = [];
        };
        const restart = async (s: RaftLogStore): Promise<RaftLogStore> => {
          await settle();
          await s.close();
          const reopened = await openStore(dir);
          expect(reopened.state).toEqual(model);
          return reopened.store;
        };
        try {
          for (const c of commands) {
            const h = model.hardState;
            const last = lastIndex(model);
            const snapIndex = model.snapshotMetadata?.index ?? 0;
            switch (c.kind) {
              case 'append': {
                let term = Math.max(1, h.term);
                let vote = h.vote === 0n ? 1n : h.vote;
                let from = last + 1;
                if (h.term === 0 || (c.newTerm && h.term > 0)) {
                  term = h.term + 1;
                  vote = BigInt(term % 3) + 1n;
                  // A new leader may replace part of the uncommitted tail.
                  from = Math.max(h.commit + 1, last + 1 - c.back);
                }
                const batch = ents(from, from + c.count - 1, term);
                const commit = Math.min(from + c.count - 1, h.commit + c.advance);
                const hardState = hs(term, vote, commit);
                pending.push(store.save({ entries: batch, hardState }));
                model = {
                  ...model,
                  hardState,
                  entries: [...model.entries.filter((e) => e.index < from), ...batch],
                };
                break;
              }
              case 'localSnapshot': {
                const index = h.commit - c.back;
                const term = termAt(model, index);
                if (index <= snapIndex || term === undefined) break;
                const meta = SnapshotMetadata.create({
                  index,
                  term,
                  confState: ConfState.create({ voters: [1n] }),
                });
                pending.push(store.saveSnapshot(meta));
                model = { ...model, snapshotMetadata: meta };
                break;
              }
              case 'compact': {
                const index = snapIndex - c.back;
                if (index < 1) break;
                pending.push(store.compact(index));
                model = { ...model, entries: model.entries.filter((e) => e.index > index) };
                break;
              }
              case 'install': {
                const index = last + c.ahead;
                const term = h.term + 1;
                const meta = SnapshotMetadata.create({
                  index,
                  term,
                  confState: ConfState.create({ voters: [1n, 2n] }),
                });
                const batch = ents(index + 1, index + c.count, term);
                const hardState = hs(term, 0n, index);
                pending.push(
                  store.save({ snapshot: Snapshot.create({ metadata: meta }), entries: batch, hardState }),
                );
                model = { hardState, snapshotMetadata: meta, entries: batch };
                break;
              }
              case 'gap':
                await expect(
                  store.save({ entries: ents(last + 2, last + 2, Math.max(1, h.term)), hardState: h }),
                ).rejects.toThrow(RaftLogWriteError);
                break;
              case 'staleTerm':
                if (h.term < 2) break;
                await expect(
                  store.save({ entries: [], hardState: hs(h.term - 1, 0n, h.commit) }),
                ).rejects.toThrow(RaftLogWriteError);
                break;
              case 'restart':
                store = await restart(store);
                break;
            }
            expect(store.lastIndex).toBe(lastIndex(model));
          }
          store = await restart(store);
        } finally {
          await settle().catch(() => undefined);
          await store.close();
        }
      }),
      { numRuns: Number(process.env.XETCD_PROPERTY_RUNS ?? 30) },
    );
  }, 120_000);
});
