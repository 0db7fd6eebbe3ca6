// Crash test of the MVCC store with a real child process: the child applies a
// deterministic workload and acknowledges each synced commit; the test kills it
// with SIGKILL at random moments (also while a physical compaction is running),
// reopens the data and checks that every acknowledged entry is there, the state
// is exactly the one of the recovered consistent index, and the revision never
// went backwards. MVCC_CRASH_ROUNDS sets the number of rounds (default 12).
import { seededRandom } from '../../src/raft/rng.js';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { KvStore } from '../../src/mvcc/kvStore.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { expectedState } from './mvccCrashWorkload.js';

const ROUNDS = Number(process.env.MVCC_CRASH_ROUNDS ?? 12);
const child = fileURLToPath(new URL('./mvccCrashChild.ts', import.meta.url));

let dir: TempDir | undefined;
let running: ManagedProcess | undefined;
afterAll(async () => {
  if (running?.isRunning()) await running.stop(1_000);
  await dir?.remove();
});

describe('mvcc crash recovery', () => {
  it(`keeps every acknowledged write across ${ROUNDS} SIGKILLs`, async () => {
    const seed = Number(process.env.MVCC_CRASH_SEED ?? Date.now() % 100000);
    const random = seededRandom(seed);
    dir = await makeTempDir('xetcd-mvcc-crash-');
    let lastVerifiedRevision = 1;
    let killedDuringCompaction = 0;
    let acked = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const where = `seed ${seed} round ${round}`;
      running = await startProcess({
        name: `mvcc-crash-child-${round}`,
        command: process.execPath,
        args: ['--import', 'tsx', child, dir.path],
      });
      const proc = running;
      await proc.waitForOutput(/^ack /m, 20_000, 'stdout');
      await sleep(20 + random() * 400);
      proc.signal('SIGKILL');
      await proc.exited;

      const lines = proc.stdout().split('\n');
      const acks = lines
        .filter((l) => l.startsWith('ack '))
        .map((l) => l.split(' ').map(Number) as [number, number, number]);
      const lastAck = acks[acks.length - 1]!;
      acked += acks.length;
      const started = lines.filter((l) => l.startsWith('compacting ')).map((l) => l.split(' ')[1]);
      const finished = new Set(lines.filter((l) => l.startsWith('compacted ')).map((l) => l.split(' ')[1]));
      if (started.some((r) => !finished.has(r))) killedDuringCompaction++;

      const store = await KvStore.open(dir.path, { logger: pino({ level: 'silent' }) });
      try {
        const ci = store.consistentIndex;
        expect(ci, where).toBeGreaterThanOrEqual(lastAck[1]);
        expect(store.currentRevision, where).toBeGreaterThanOrEqual(lastAck[2]);
        expect(store.currentRevision, where).toBeGreaterThanOrEqual(lastVerifiedRevision);
        const want = expectedState(ci);
        expect([store.currentRevision, store.compactRevision], where).toEqual([
          want.revision,
          want.compactRevision,
        ]);
        const all = await store.range(Buffer.of(0), Buffer.of(0));
        const got = new Map(
          all.kvs.map((kv) => [Buffer.from(kv.key).toString(), Buffer.from(kv.value).toString()]),
        );
        expect(got, where).toEqual(want.kvs);
        lastVerifiedRevision = store.currentRevision;
      } finally {
        await store.close();
      }
    }
    console.log(
      `mvcc crash test: seed ${seed}, ${ROUNDS} SIGKILL rounds, ${acked} acknowledged commits, ${killedDuringCompaction} kills during a physical compaction, final revision ${lastVerifiedRevision}`,
    );
  }, 600_000);
});
