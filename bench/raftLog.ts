// Raft log store throughput: synced batches of 100 entries of 256 bytes, as a
// busy leader's Readies would write them. Run: npx tsx bench/raftLog.ts
// [--seconds 5] [--entries 100] [--bytes 256] [--dir <path>] (default: a temp
// dir on the system temp disk, removed afterwards).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Command } from 'commander';
import { pino } from 'pino';
import { Entry, EntryType, HardState } from '../src/proto/raftpb.js';
import { RaftLogStore } from '../src/storage/raftlog/store.js';

const program = new Command()
  .option('--seconds <n>', 'seconds per phase', '5')
  .option('--entries <n>', 'entries per batch', '100')
  .option('--bytes <n>', 'bytes of data per entry', '256')
  .option('--dir <path>', 'where to put the store (default: a temp dir)')
  .parse();
const opts = program.opts<{ seconds: string; entries: string; bytes: string; dir?: string }>();
const seconds = Number(opts.seconds);
const perBatch = Number(opts.entries);
const bytes = Number(opts.bytes);

const base = opts.dir ?? (await mkdtemp(join(tmpdir(), 'xetcd-bench-raftlog-')));
const logger = pino({ level: 'silent' });
const payload = new Uint8Array(bytes).map((_, i) => i & 0xff);

let next = 1;
function batch(term: number): Entry[] {
  const out: Entry[] = [];
  for (let k = 0; k < perBatch; k++) {
    out.push(Entry.create({ index: next++, term, type: EntryType.EntryNormal, data: payload }));
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Writes for `seconds` keeping `depth` synced batches in flight; returns what it measured. */
async function phase(store: RaftLogStore, depth: number): Promise<string> {
  const latencies: number[] = [];
  let batches = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const entries = batch(1);
      await store.save({
        entries,
        hardState: HardState.create({ term: 1, vote: 1n, commit: next - 1 - perBatch }),
      });
      latencies.push(performance.now() - t);
      batches++;
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const entriesPerSec = (batches * perBatch) / elapsed;
  return (
    `${depth} in flight: ${(batches / elapsed).toFixed(0)} synced batches/s, ${entriesPerSec.toFixed(0)} entries/s, ` +
    `${((entriesPerSec * bytes) / 1e6).toFixed(1)} MB/s of entry data; ` +
    `save latency p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`
  );
}

/** The same batches written straight to classic-level (no framing, checks or queue): the floor. */
async function rawPhase(dir: string): Promise<string> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const key = (i: number): Uint8Array => {
    const k = new Uint8Array(9);
    k[0] = 0x65;
    new DataView(k.buffer).setUint32(5, i);
    return k;
  };
  let batches = 0;
  let index = 1;
  const started = performance.now();
  while (performance.now() < started + seconds * 1000) {
    const ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
    for (let k = 0; k < perBatch; k++) {
      const e = Entry.create({ index, term: 1, type: EntryType.EntryNormal, data: payload });
      ops.push({ type: 'put', key: key(index++), value: Entry.encode(e) });
    }
    await db.batch(ops, { sync: true });
    batches++;
  }
  const elapsed = (performance.now() - started) / 1000;
  await db.close();
  return `raw classic-level, 1 in flight: ${(batches / elapsed).toFixed(0)} synced batches/s, ${((batches * perBatch) / elapsed).toFixed(0)} entries/s`;
}

try {
  const dir = join(base, 'member', 'raft');
  const { store } = await RaftLogStore.open(dir, { logger });
  await store.save({ entries: [], hardState: HardState.create({ term: 1, vote: 1n, commit: 0 }) });
  console.log(
    `raft log store, ${perBatch} entries x ${bytes} B per synced batch, ${seconds} s per phase, in ${dir}`,
  );
  console.log(`  ${await phase(store, 1)}`);
  console.log(`  ${await phase(store, 4)}`);
  await store.close();
  const t = performance.now();
  const { store: reopened, state } = await RaftLogStore.open(dir, { logger });
  const openMs = performance.now() - t;
  await reopened.close();
  console.log(`  open (verify every record) of ${state.entries.length} entries: ${openMs.toFixed(0)} ms`);
  console.log(`  ${await rawPhase(join(base, 'raw'))}`);
} finally {
  if (opts.dir === undefined) await rm(base, { recursive: true, force: true });
}
