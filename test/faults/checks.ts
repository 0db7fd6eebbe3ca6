// What must hold after every fault, once the cluster has recovered and the load has
// stopped: the members agree (leader, revision, applied index, HashKV), every write
// the load saw acknowledged is readable on every member at the revision it made, every
// member serves a linearizable read, and the recorded history is linearizable. Each
// check returns the problems it found, spelled out, so one run reports all of them.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterMember } from '../helpers/cluster.js';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import { checkLinearizable, type CheckResult } from '../helpers/linearizability/checker.js';
import type { KvOperation } from '../helpers/linearizability/history.js';
import { FAST_RECONNECT } from './load.js';

export interface Agreement {
  readonly leader: bigint;
  readonly revision: number;
  readonly appliedIndex: number;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function withClient<T>(member: ClusterMember, fn: (c: EtcdRpcClient) => Promise<T>): Promise<T> {
  const c = new EtcdRpcClient(member.endpoint, FAST_RECONNECT);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/**
 * Waits until every member names the same leader, one of them, and all are at the
 * same revision and applied index on two polls in a row (writes of unknown outcome may
 * still be landing when the load stops).
 */
export async function waitForAgreement(
  members: readonly ClusterMember[],
  timeoutMs: number,
): Promise<Agreement> {
  const deadline = Date.now() + timeoutMs;
  let previous = '';
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const statuses = await Promise.all(members.map((m) => m.status(1_000)));
    last = statuses
      .map((s, i) =>
        s === undefined
          ? `${members[i]!.name}: no answer`
          : `${members[i]!.name}: leader ${s.leader.toString(16)} rev ${s.header?.revision} applied ${s.raftAppliedIndex}`,
      )
      .join('; ');
    const ids = new Set(statuses.map((s) => s?.header?.memberId));
    const leaders = new Set(statuses.map((s) => s?.leader ?? 0n));
    const same = new Set(statuses.map((s) => `${s?.header?.revision}/${s?.raftAppliedIndex}`));
    const leader = statuses[0]?.leader ?? 0n;
    if (statuses.every((s) => s !== undefined) && leaders.size === 1 && ids.has(leader) && same.size === 1) {
      const key = [...same][0]!;
      if (key === previous) {
        return {
          leader,
          revision: statuses[0]!.header!.revision,
          appliedIndex: statuses[0]!.raftAppliedIndex,
        };
      }
      previous = key;
    } else previous = '';
    await sleep(200);
  }
  throw new Error(`members did not agree within ${timeoutMs} ms: ${last}`);
}

/** A change the history says was acknowledged: the revision it made, and what the key held then. */
interface AcknowledgedChange {
  readonly key: string;
  /** undefined: a delete. */
  readonly value: string | undefined;
  readonly revision: number;
}

export function acknowledgedChanges(history: readonly KvOperation[]): AcknowledgedChange[] {
  const out: AcknowledgedChange[] = [];
  for (const op of history) {
    if (op.output === undefined) continue;
    const key = op.input.key;
    switch (op.type) {
      case 'put':
        out.push({ key, value: op.input.value, revision: op.output.revision });
        break;
      case 'putIf':
        if (op.output.succeeded) out.push({ key, value: op.input.value, revision: op.output.revision });
        break;
      case 'delete':
        if (op.output.deleted > 0) out.push({ key, value: undefined, revision: op.output.revision });
        break;
      case 'get':
        break;
    }
  }
  return out;
}

/** Every acknowledged change, read back on every member at the revision it made (serializable: local state). */
export async function checkAcknowledgedWrites(
  history: readonly KvOperation[],
  members: readonly ClusterMember[],
): Promise<string[]> {
  const changes = acknowledgedChanges(history);
  const problems = await Promise.all(
    members.map((m) =>
      withClient(m, async (c) => {
        const found = await mapLimit(changes, 16, async (ch) => {
          const r = await c
            .range({ key: Buffer.from(ch.key), revision: ch.revision, serializable: true }, 5_000)
            .catch((err: Error) => err);
          const what = `${m.name}: ${ch.value === undefined ? 'delete' : `put ${JSON.stringify(ch.value)}`} of ${ch.key} at revision ${ch.revision}`;
          if (r instanceof Error) return `${what}: range failed: ${r.message}`;
          const kv = r.kvs[0];
          if (ch.value === undefined) return kv === undefined ? undefined : `${what}: the key is there`;
          if (kv === undefined) return `${what}: the key is absent`;
          const value = Buffer.from(kv.value).toString();
          if (value !== ch.value || kv.modRevision !== ch.revision)
            return `${what}: found ${JSON.stringify(value)} (mod ${kv.modRevision})`;
          return undefined;
        });
        return found.filter((p): p is string => p !== undefined);
      }),
    ),
  );
  return problems.flat();
}

/** HashKV at `revision` on every member: one key space, one hash. */
export async function checkHashes(members: readonly ClusterMember[], revision: number): Promise<string[]> {
  const hashes = await Promise.all(
    members.map((m) =>
      withClient(m, (c) => c.hashKV(revision, 10_000)).then(
        (r) => `${r.hash}`,
        (err: Error) => `error: ${err.message}`,
      ),
    ),
  );
  if (new Set(hashes).size === 1 && !hashes[0]!.startsWith('error')) return [];
  return [`HashKV at revision ${revision}: ${members.map((m, i) => `${m.name} ${hashes[i]}`).join(', ')}`];
}

/** The history against etcd's KV model, from the store as it was at `startRevision` (no load key existed). */
export function checkHistory(history: readonly KvOperation[], startRevision: number): CheckResult {
  return checkLinearizable(history, { initial: { revision: startRevision } });
}
