// The child of raftLogCrash.test.ts: opens the raft log store in argv[2] and
// writes to it as a Raft member would (appends, rewrites of the uncommitted tail
// in a new term, local snapshots and compactions, up to three writes in flight)
// until it is killed. Each write is announced on stdout before it is issued
// ("issue") and again once the store resolved it ("ack"); the test replays the
// announced writes to know what the disk must hold. Writes to a pipe are
// asynchronous in Node: a write is issued only once its announcement is in
// the pipe, where a SIGKILL cannot take it back.
//
// Lines:  open <lastIndex> <term> <vote hex> <commit> <snapshotIndex>
//         issue <seq> save <from> <to> <term> <vote hex> <commit>
//         issue <seq> snap <index> <term>
//         issue <seq> compact <index>
//         ack <seq>
import { pino } from 'pino';
import { ConfState, SnapshotMetadata } from '../../src/proto/raftpb.js';
import { RaftLogStore } from '../../src/storage/raftlog/store.js';
import { Rng } from '../../src/raft/rng.js';
import { CRASH_ENTRY_BYTES, ents, hs } from '../unit/storage/raftLogFixtures.js';

const dir = process.argv[2];
const seed = Number(process.argv[3] ?? 1);
if (dir === undefined) throw new Error('usage: raft-log-crash-child <dir> <seed>');

const say = (line: string): void => void process.stdout.write(`${line}\n`);
/** Resolves once the lines are handed to the pipe (not merely queued in this process). */
const announce = (lines: string[]): Promise<void> =>
  new Promise((resolve, reject) =>
    process.stdout.write(lines.map((l) => `${l}\n`).join(''), (err) => (err ? reject(err) : resolve())),
  );

const { store, state } = await RaftLogStore.open(dir, { logger: pino({ level: 'silent' }) });
const rng = new Rng(seed);
// The child's own picture of the log, kept exactly as the store checks writes: terms by index.
const terms = new Map<number, number>();
for (const e of state.entries) terms.set(e.index, e.term);
let snapIndex = state.snapshotMetadata?.index ?? 0;
if (state.snapshotMetadata !== undefined) terms.set(snapIndex, state.snapshotMetadata.term);
let first = state.entries[0]?.index ?? snapIndex + 1;
let last = Math.max(snapIndex, state.entries.at(-1)?.index ?? 0);
let { term, vote, commit } = state.hardState;
say(`open ${last} ${term} ${vote.toString(16)} ${commit} ${snapIndex}`);

let seq = 0;
for (;;) {
  // The writes of one pipeline are announced together, then issued back to back (so they
  // can share a batch) and awaited together.
  const lines: string[] = [];
  const issues: (() => Promise<void>)[] = [];
  const pipeline = 1 + (rng.u32() % 3);
  for (let p = 0; p < pipeline; p++) {
    const n = seq++;
    const pick = rng.u32() % 24;
    let issue: () => Promise<void>;
    if (pick === 0 && commit > snapIndex) {
      const index = commit;
      const meta = SnapshotMetadata.create({
        index,
        term: terms.get(index)!,
        confState: ConfState.create({ voters: [1n] }),
      });
      lines.push(`issue ${n} snap ${index} ${meta.term}`);
      issue = () => store.saveSnapshot(meta);
      snapIndex = index;
    } else if (pick === 1 && snapIndex >= first) {
      const index = Math.max(first, snapIndex - (rng.u32() % 4));
      lines.push(`issue ${n} compact ${index}`);
      issue = () => store.compact(index);
      for (let i = first; i <= index; i++) if (i !== snapIndex) terms.delete(i);
      first = index + 1;
    } else {
      let from = last + 1;
      if (term === 0) {
        term = 1;
        vote = 1n;
      } else if (last > commit + 1 && rng.u32() % 5 === 0) {
        // A new leader in a higher term replaces part of the uncommitted tail.
        term++;
        vote = BigInt(1 + (rng.u32() % 5));
        from = commit + 1 + (rng.u32() % (last - commit));
      }
      const to = from + (rng.u32() % 8);
      for (let i = from; i <= last; i++) terms.delete(i);
      for (let i = from; i <= to; i++) terms.set(i, term);
      last = to;
      commit = Math.min(last, commit + (rng.u32() % 4));
      lines.push(`issue ${n} save ${from} ${to} ${term} ${vote.toString(16)} ${commit}`);
      const write = { entries: ents(from, to, term, CRASH_ENTRY_BYTES), hardState: hs(term, vote, commit) };
      issue = () => store.save(write);
    }
    issues.push(() => issue().then(() => say(`ack ${n}`)));
  }
  await announce(lines);
  await Promise.all(issues.map((run) => run()));
}
