/**
 * `npm run bench:mvcc`: the MVCC key space on this machine, 256-byte values.
 *
 *   puts/s      puts applied in batches of 100, each batch committed with sync:true
 *               (the consistent index and revision in the same batch), as an apply loop does
 *   point       single-key Range reads/s over 100,000 keys (32 in flight)
 *   prefix      prefix Range reads/s (10 keys per prefix) over 100,000 keys (32 in flight)
 *   memory      what 100,000 keys cost the process (heap + external), key index and all
 *   open        reopening a store of 100,000 keys (every record verified, the index rebuilt)
 *   watch       fan-out to 1,000 watchers (bench/mvccWatch.ts)
 *
 * MVCC_BENCH_PUTS changes the number of synced puts (default 20,000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { KvStore } from '../src/mvcc/kvStore.js';
import { benchWatchFanOut, printWatchFanOut } from './mvccWatch.js';

const logger = pino({ level: 'warn' });
const VALUE = Buffer.alloc(256, 0x76);
const KEYS = 100_000;
const key = (i: number): Buffer => Buffer.from(`key/${String(i).padStart(6, '0')}`);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function withStore<T>(fn: (store: KvStore) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'xetcd-bench-mvcc-'));
  const store = await KvStore.open(dir, { logger });
  try {
    return await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function syncedPuts(total: number): Promise<{ putsPerSecond: number; batchMs: number }> {
  return withStore(async (store) => {
    const start = process.hrtime.bigint();
    let index = 0;
    for (let n = 0; n < total; n += 100) {
      for (let i = 0; i < 100; i++) await store.put(key((n + i) % KEYS), VALUE);
      await store.commit({ consistentIndex: ++index, sync: true });
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { putsPerSecond: total / seconds, batchMs: (seconds * 1000) / (total / 100) };
  });
}

async function load(store: KvStore): Promise<void> {
  for (let n = 0; n < KEYS; n += 1000) {
    await store.write(async (txn) => {
      for (let i = n; i < n + 1000; i++) await txn.put(key(i), VALUE);
    });
    await store.commit({ consistentIndex: n / 1000 + 1 });
  }
}

async function readsPerSecond(
  count: number,
  inFlight: number,
  read: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await read(next++);
    }),
  );
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function reads(): Promise<{ point: number; prefix: number; pointSerial: number }> {
  return withStore(async (store) => {
    await load(store);
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const pointSerial = await readsPerSecond(20_000, 1, async () => {
      const r = await store.range(key(random() % KEYS));
      if (r.kvs.length !== 1) throw new Error('point read missed');
    });
    const point = await readsPerSecond(100_000, 32, async () => {
      const r = await store.range(key(random() % KEYS));
      if (r.kvs.length !== 1) throw new Error('point read missed');
    });
    const prefix = await readsPerSecond(30_000, 32, async () => {
      const p = Buffer.from(`key/${String(random() % (KEYS / 10)).padStart(5, '0')}`);
      const end = Buffer.from(p);
      end[end.length - 1]!++;
      const r = await store.range(p, end);
      if (r.kvs.length !== 10) throw new Error(`prefix read got ${r.kvs.length}`);
    });
    return { point, prefix, pointSerial };
  });
}

function footprint(): { heap: number; external: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss };
}

async function reopen(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'xetcd-bench-mvcc-'));
  try {
    const store = await KvStore.open(dir, { logger });
    await load(store);
    await store.close();
    const start = process.hrtime.bigint();
    const again = await KvStore.open(dir, { logger });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (again.indexedKeys !== KEYS) throw new Error('reopen lost keys');
    await again.close();
    return ms;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function memory(): Promise<{ bytesPer100k: number; heapPer100k: number; rssPer100k: number }> {
  return withStore(async (store) => {
    const before = footprint();
    await load(store);
    const after = footprint();
    if (store.indexedKeys !== KEYS) throw new Error('load incomplete');
    const heap = after.heap - before.heap;
    return {
      heapPer100k: heap,
      bytesPer100k: heap + (after.external - before.external),
      rssPer100k: after.rss - before.rss,
    };
  });
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const total = Number(process.env.MVCC_BENCH_PUTS ?? 20_000);
  console.log(`xetcd mvcc benchmark (node ${process.version}, 256-byte values)`);
  const puts = await syncedPuts(total);
  console.log(
    `  puts, batches of 100, sync:true  ${fmt(puts.putsPerSecond)} puts/s  (${puts.batchMs.toFixed(2)} ms per batch, ${fmt(total)} puts)`,
  );
  const r = await reads();
  console.log(
    `  point reads, 100k keys          ${fmt(r.point)} reads/s (32 in flight), ${fmt(r.pointSerial)} reads/s one at a time`,
  );
  console.log(`  prefix reads (10 keys), 100k    ${fmt(r.prefix)} reads/s (32 in flight)`);
  const m = await memory();
  console.log(
    `  memory per 100,000 keys         ${mb(m.bytesPer100k)} (heap ${mb(m.heapPer100k)}; RSS grew ${mb(m.rssPer100k)} incl. LevelDB)`,
  );

  console.log(`  open 100,000 keys (verify+index) ${fmt(await reopen())} ms`);

  // ---- watch fan-out (bench/mvccWatch.ts, owned by the watch helper) ----
  printWatchFanOut(await benchWatchFanOut());
}

await main();
