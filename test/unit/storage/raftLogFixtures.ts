// Shared by the raft log tests: a silent logger, entries whose data is derived
// from (index, term) so any mix-up is visible, and open/reopen shorthands.
import { pino } from 'pino';
import { Entry, EntryType, HardState } from '../../../src/proto/raftpb.js';
import { RaftLogStore, type RaftLogState } from '../../../src/storage/raftlog/store.js';

export const silent = pino({ level: 'silent' });

/** The data of entry (index, term): distinct for every pair, 16 bytes or `size` bytes. */
export function entryData(index: number, term: number, size = 16): Uint8Array {
  const data = new Uint8Array(size);
  const view = new DataView(data.buffer);
  if (size >= 8) {
    view.setUint32(0, index);
    view.setUint32(4, term);
  }
  for (let i = 8; i < size; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return data;
}

export function ent(index: number, term: number, size = 16): Entry {
  return Entry.create({ index, term, type: EntryType.EntryNormal, data: entryData(index, term, size) });
}

/** Entries lo..hi (inclusive) of one term. */
export function ents(lo: number, hi: number, term: number, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(ent(i, term, size));
  return out;
}

export function hs(term: number, vote: bigint, commit: number): HardState {
  return HardState.create({ term, vote, commit });
}

export async function openStore(dir: string): Promise<{ store: RaftLogStore; state: RaftLogState }> {
  return RaftLogStore.open(dir, { logger: silent });
}

/** Opens, reads, closes: what a restarted member would find. */
export async function reopenState(dir: string): Promise<RaftLogState> {
  const { store, state } = await openStore(dir);
  await store.close();
  return state;
}

/** (index, term) pairs: compact to compare in assertions. */
export function shape(entries: readonly Entry[]): [number, number][] {
  return entries.map((e) => [e.index, e.term]);
}

/** Entry size used by the crash test's child and its checker. */
export const CRASH_ENTRY_BYTES = 100;
