// What the NATS watch tests share: a generated workload (puts, deletes,
// multi-key txns, keys on a lease left to expire) written through whichever
// member answers, and the reference history of a range from a gRPC watch,
// both cut into one group of events per revision for comparison.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { TestCluster, type ClusterMember, type ClusterOptions } from '../helpers/cluster.js';
import { progressSubject } from '../../src/natswatch/subjects.js';
import type { EtcdRpcClient } from '../helpers/etcdRpc.js';
import { Rng } from '../../src/raft/rng.js';
import { Event, type Event as MvccEvent } from '../../src/proto/mvccpb.js';
import {
  DeleteRangeRequest,
  PutRequest,
  type RequestOp,
  type WatchResponse,
} from '../../src/proto/etcdserverpb.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** One revision's events as plain JSON, comparable with toEqual. */
export interface RevisionGroup {
  readonly revision: number;
  readonly events: Record<string, unknown>[];
}

/** Cuts events (possibly of many revisions, as a gRPC response may carry) into per-revision groups. */
export function groupByRevision(events: readonly MvccEvent[], into: RevisionGroup[] = []): RevisionGroup[] {
  for (const e of events) {
    const revision = e.kv?.modRevision ?? 0;
    const last = into.at(-1);
    const json = Event.toJSON(e);
    if (last !== undefined && last.revision === revision) last.events.push(json);
    else into.push({ revision, events: [json] });
  }
  return into;
}

export function prefixEnd(prefix: string): Uint8Array {
  const b = enc(prefix);
  b[b.length - 1]!++;
  return b;
}

/** A client of some running member, moving to another when one fails. */
export class AnyMember {
  private member: ClusterMember | undefined;
  private client: EtcdRpcClient | undefined;
  constructor(private readonly cluster: TestCluster) {}

  async call<T>(f: (c: EtcdRpcClient) => Promise<T>, attempts = 60): Promise<T> {
    for (let i = 0; ; i++) {
      if (this.client === undefined || !this.member!.running) {
        this.client?.close();
        const running = this.cluster.running();
        this.member = running[i % Math.max(1, running.length)];
        this.client = this.member?.client();
      }
      try {
        if (this.client === undefined) throw new Error('no member is running');
        return await f(this.client);
      } catch (err) {
        if (i >= attempts) throw err;
        this.client?.close();
        this.client = undefined;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  close(): void {
    this.client?.close();
  }
}

/**
 * Writes `steps` changes under prefix (and a few outside it, in the same txns)
 * from a seeded generator, until done or until stop() says so. Returns the
 * revision of the last write acknowledged.
 */
export async function writeWorkload(
  members: AnyMember,
  prefix: string,
  opts: { steps: number; seed: number; stop?: () => boolean; pauseMs?: number },
): Promise<number> {
  const rng = new Rng(opts.seed);
  const key = (): Uint8Array => enc(`${prefix}k${rng.int(12)}`);
  let last = 0;
  for (let step = 0; step < opts.steps && !(opts.stop?.() ?? false); step++) {
    const kind = rng.int(10);
    if (kind < 5) {
      const r = await members.call((c) => c.put({ key: key(), value: enc(`v${step}`) }));
      last = r.header!.revision;
    } else if (kind < 7) {
      const r = await members.call((c) => c.deleteRange({ key: key() }));
      last = r.header!.revision;
    } else {
      // A txn over distinct keys, one of them outside the prefix.
      const keys = new Set<string>();
      const n = 2 + rng.int(3);
      while (keys.size < n) keys.add(`${prefix}k${rng.int(12)}`);
      const ops: RequestOp[] = [...keys].map((k, i) =>
        i === 1
          ? { requestDeleteRange: DeleteRangeRequest.create({ key: enc(k) }) }
          : { requestPut: PutRequest.create({ key: enc(k), value: enc(`t${step}`) }) },
      );
      ops.push({ requestPut: PutRequest.create({ key: enc(`other/${step}`), value: enc('x') }) });
      const r = await members.call((c) => c.txn({ compare: [], success: ops, failure: [] }));
      last = r.header!.revision;
    }
    if (opts.pauseMs !== undefined) await new Promise((r) => setTimeout(r, opts.pauseMs));
  }
  return last;
}

/** Puts keys on a short lease that nobody keeps alive, and waits until the leader's expiry deleted them. */
export async function expireLeasedKeys(members: AnyMember, prefix: string, count: number): Promise<void> {
  const lease = await members.call((c) => c.leaseGrant(2));
  for (let i = 0; i < count; i++) {
    await members.call((c) => c.put({ key: enc(`${prefix}leased${i}`), value: enc('l'), lease: lease.id }));
  }
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const r = await members.call((c) =>
      c.range({ key: enc(`${prefix}leased`), rangeEnd: prefixEnd(`${prefix}leased`) }),
    );
    if (r.kvs.length === 0) return;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error('the leased keys did not expire in 20 s');
}

/** The changes of [prefix, prefixEnd) from revision `from` through `to`, as a gRPC watch with prev_kv gives them. */
export async function grpcHistory(
  member: ClusterMember,
  prefix: string,
  from: number,
  to: number,
): Promise<RevisionGroup[]> {
  const client = member.client();
  const stream = client.watch();
  const groups: RevisionGroup[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the gRPC watch did not reach revision ${to}`)),
        20_000,
      );
      stream.onResponse((res: WatchResponse) => {
        groupByRevision(res.events, groups);
        if ((groups.at(-1)?.revision ?? 0) >= to) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.create({
        key: prefix === '' ? Uint8Array.of(0) : enc(prefix),
        rangeEnd: prefix === '' ? Uint8Array.of(0) : prefixEnd(prefix),
        startRevision: from,
        prevKv: true,
      });
    });
  } finally {
    stream.close();
    client.close();
  }
  return groups.filter((g) => g.revision <= to);
}

/** A three-member cluster that publishes its changes, once its leader has sent a first bookmark. */
export async function startWatchedCluster(
  opts: Pick<ClusterOptions, 'args' | 'natsArgs'>,
): Promise<{ cluster: TestCluster; cid: bigint; members: AnyMember; nc: NatsConnection }> {
  const cluster = await TestCluster.start({ size: 3, ...opts });
  const members = new AnyMember(cluster);
  const cid = (await members.call((c) => c.status())).header!.clusterId;
  const nc = await connect({ servers: cluster.natsUrl });
  for await (const _ of nc.subscribe(progressSubject(cid), { max: 1 })) break;
  return { cluster, cid, members, nc };
}
