/**
 * Raft core throughput: a 3-node in-memory cluster with no network (messages
 * are handed from one node's Ready straight to the other's step()), 256-byte
 * proposals in batches. Reports committed entries per second and bytes
 * allocated per entry.
 *
 *   npm run bench:raft -- [--seconds 5] [--batch 1000] [--size 256]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Message } from '../src/proto/raftpb.js';
import { MemoryStorage } from '../src/raft/memoryStorage.js';
import { RaftNode } from '../src/raft/raftNode.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const seconds = arg('seconds', 5);
const batch = arg('batch', 1000);
const size = arg('size', 256);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Member {
  id: bigint;
  storage: MemoryStorage;
  raft: RaftNode;
  applied: number;
}

const ids = [1n, 2n, 3n];
let seed = 1;
const members = new Map<bigint, Member>();
for (const id of ids) {
  const storage = new MemoryStorage();
  RaftNode.bootstrap(storage, ids);
  const s = seed++;
  let x = s;
  const random = (): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  const raft = new RaftNode({
    id,
    storage,
    electionTick: 10,
    heartbeatTick: 1,
    random,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
  });
  members.set(id, { id, storage, raft, applied: 0 });
}

let queue: Message[] = [];

/** One member's Ready: persist into its MemoryStorage, send, apply, advance. */
function handleReady(m: Member): boolean {
  if (!m.raft.hasReady()) return false;
  const rd = m.raft.ready();
  if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) m.storage.append(rd.entries);
  if (rd.hardState) m.storage.setHardState(rd.hardState);
  for (const msg of rd.messages) queue.push(msg);
  if (rd.committedEntries.length > 0) m.applied = rd.committedEntries[rd.committedEntries.length - 1]!.index;
  m.raft.advance(rd);
  // Keep the in-memory log bounded, as a server compacting after snapshots does.
  if (m.applied - m.storage.firstIndex() > 200_000) {
    const at = m.applied - 50_000;
    m.storage.createSnapshot(at, undefined, new Uint8Array(0));
    m.storage.compact(at);
  }
  return true;
}

function pump(): void {
  for (;;) {
    let busy = false;
    for (const m of members.values()) while (handleReady(m)) busy = true;
    if (queue.length === 0 && !busy) return;
    const q = queue;
    queue = [];
    for (const msg of q) members.get(msg.to)!.raft.step(msg);
  }
}

// Elect node 1.
const leader = members.get(1n)!;
leader.raft.campaign();
pump();
if (leader.raft.status().role !== 'leader') throw new Error('node 1 did not become leader');

const payloads: Uint8Array[] = [];
for (let i = 0; i < batch; i++) {
  const p = new Uint8Array(size);
  p.fill(i & 0xff);
  payloads.push(p);
}

/**
 * Proposes batches for durationMs. With measureHeap, samples heapUsed after
 * every batch and sums the increases: the bytes allocated (an underestimate
 * by what a GC frees within one batch). Sampling costs time, so the timed run
 * does not sample.
 */
function run(durationMs: number, measureHeap: boolean): { entries: number; ms: number; allocated: number } {
  const start = leader.applied;
  let allocated = 0;
  let last = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  let iter = 0;
  while (performance.now() - t0 < durationMs) {
    leader.raft.proposeMany(payloads);
    pump();
    // Time passes: a tick every few batches keeps heartbeats and CheckQuorum going.
    if (++iter % 4 === 0) for (const m of members.values()) m.raft.tick();
    if (measureHeap) {
      const now = process.memoryUsage().heapUsed;
      if (now > last) allocated += now - last;
      last = now;
    }
  }
  pump();
  return { entries: leader.applied - start, ms: performance.now() - t0, allocated };
}

run(1000, false); // warm-up
const alloc = run(1000, true);
gc();
const heapBefore = process.memoryUsage().heapUsed;
const r = run(seconds * 1000, false);
gc();
const heapAfter = process.memoryUsage().heapUsed;
const perSec = (r.entries / r.ms) * 1000;
for (const m of members.values()) {
  if (m.applied < leader.applied - batch)
    throw new Error(`member ${m.id} lags: applied ${m.applied} < ${leader.applied}`);
}
console.log(
  JSON.stringify(
    {
      nodes: 3,
      batch,
      entryBytes: size,
      seconds: +(r.ms / 1000).toFixed(2),
      committedEntries: r.entries,
      entriesPerSecond: Math.round(perSec),
      allocatedBytesPerEntry: Math.round(alloc.allocated / alloc.entries),
      retainedBytesPerEntryAfterGc: +((heapAfter - heapBefore) / r.entries).toFixed(2),
      target: 200_000,
    },
    null,
    2,
  ),
);
for (const m of members.values()) m.raft.stop();
