// The deterministic workload of the mvcc crash test: entry i of a pretend raft
// log always does the same thing, so the checker can compute the exact state
// the store must hold at any consistent index.
import type { KvStore } from '../../src/mvcc/kvStore.js';

export const KEYS = 40;
const COMPACT_LAG = 25;

export type WorkloadOp =
  { t: 'put'; key: string; value: string } | { t: 'del'; key: string } | { t: 'compact' };

export function entryOp(i: number): WorkloadOp {
  if (i % 10 === 0) return { t: 'del', key: `k${(i / 10) % KEYS}` };
  if (i % 37 === 0) return { t: 'compact' };
  return { t: 'put', key: `k${i % KEYS}`, value: `v${i}-`.padEnd(256, '.') };
}

/**
 * Applies entry i to the store, exactly as the reference below does. A
 * compaction hands back its physical completion wrapped in an object: an async
 * function returning the bare promise would wait for it, and the physical pass
 * only starts after the next commit.
 */
export async function applyEntry(
  store: KvStore,
  i: number,
): Promise<{ physicalDone: Promise<void> } | undefined> {
  const op = entryOp(i);
  if (op.t === 'put') await store.put(Buffer.from(op.key), Buffer.from(op.value));
  else if (op.t === 'del') await store.deleteRange(Buffer.from(op.key));
  else {
    const target = store.currentRevision - COMPACT_LAG;
    if (target > store.compactRevision && target >= 1) return await store.compact(target);
  }
  return undefined;
}

/** The state after entries 1..n: keys with values, the revision and the compact revision. */
export function expectedState(n: number): {
  kvs: Map<string, string>;
  revision: number;
  compactRevision: number;
} {
  const kvs = new Map<string, string>();
  let revision = 1;
  let compactRevision = 0;
  for (let i = 1; i <= n; i++) {
    const op = entryOp(i);
    if (op.t === 'put') {
      kvs.set(op.key, op.value);
      revision++;
    } else if (op.t === 'del') {
      if (kvs.delete(op.key)) revision++;
    } else {
      const target = revision - COMPACT_LAG;
      if (target > compactRevision && target >= 1) compactRevision = target;
    }
  }
  return { kvs, revision, compactRevision };
}
