// Child process of mvccCrash.test.ts: applies the deterministic workload from
// the store's consistent index on, commits every few entries with sync, and
// prints each acknowledged (entry, revision) after the commit has completed.
import { pino } from 'pino';
import { KvStore } from '../../src/mvcc/kvStore.js';
import { applyEntry } from './mvccCrashWorkload.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: mvcc-crash-child <data-dir>');

const store = await KvStore.open(dir, {
  logger: pino({ level: 'silent' }),
  // Small, slow compaction batches so kills often land in the middle of one.
  compactionBatchLimit: 16,
  compactionBatchIntervalMs: 3,
});
process.stdout.write(`open ${store.consistentIndex} ${store.currentRevision}\n`);
let i = store.consistentIndex;
for (;;) {
  const batch = 1 + (i % 5);
  let compacting: Promise<void> | undefined;
  for (let k = 0; k < batch; k++) {
    const physical = await applyEntry(store, ++i);
    if (physical !== undefined) compacting = physical.physicalDone;
  }
  await store.commit({ consistentIndex: i, sync: true });
  process.stdout.write(`ack ${i} ${store.currentRevision}\n`);
  if (compacting !== undefined) {
    process.stdout.write(`compacting ${store.compactRevision}\n`);
    const rev = store.compactRevision;
    compacting.then(
      () => process.stdout.write(`compacted ${rev}\n`),
      () => undefined,
    );
  }
}
