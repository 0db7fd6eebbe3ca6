import type { AlarmMember, Member } from '../../proto/etcdserverpb.js';
import { frameProblem } from '../backend/backend.js';
import {
  LEASE_PREFIX,
  META_PREFIX,
  decodeCounter,
  describeBackendKey,
  isRevisionKey,
  parseAuthRecordKey,
  parseLeaseKey,
  parseRevisionKey,
  type AuthBucket,
} from '../backend/layout.js';
import {
  AUTH_REVISION_KEY,
  CLUSTER_VERSION_KEY,
  EtcdBucket,
  META_CONSISTENT_INDEX,
  META_FINISHED_COMPACT,
  META_SCHEDULED_COMPACT,
  encodeEtcdLease,
  etcdAlarmKey,
  etcdCounter,
  etcdLeaseKey,
  etcdMemberJson,
  etcdMemberKey,
  etcdRevisionKey,
  etcdTombstoneValue,
} from './etcdLayout.js';
import { BoltFileWriter } from './writer.js';

/** What a member's snapshot holds besides its key space. */
export interface EtcdSnapshotSource {
  /** The MVCC backend's raw records in key order (KvStore.snapshotRecords()), checksum frames included. */
  records: AsyncIterable<Array<[Buffer, Buffer]>>;
  members: readonly Member[];
  removedMemberIds?: readonly bigint[];
  alarms: readonly AlarmMember[];
  /** The cluster version etcd records; 3.4 members write "3.4.0". */
  clusterVersion?: string;
}

export class SnapshotRecordError extends Error {
  override readonly name = 'SnapshotRecordError';
}

/**
 * Writes the member's state as an etcd 3.4 backend file: a bbolt database
 * with etcd's ten buckets, so `etcdctl snapshot status` can read it and
 * `etcdctl snapshot restore` can turn it into an etcd data directory.
 * Revision keys lose xetcd's prefix, tombstones keep only their key (as etcd
 * writes them), leases become leasepb.Lease, compaction revisions become
 * revision keys. Every record's checksum is verified on the way: a snapshot
 * must never carry damage out of a member. Returns the file's size.
 */
export async function writeEtcdSnapshot(path: string, source: EtcdSnapshotSource): Promise<number> {
  const writer = await BoltFileWriter.create(path);
  try {
    const leases: Array<[Buffer, Buffer]> = [];
    const meta = new Map<string, number>();
    const auth: Record<AuthBucket, Array<[Buffer, Buffer]>> = { auth: [], authUsers: [], authRoles: [] };
    await writer.addBucket(Buffer.from(EtcdBucket.key), keyBucket(source.records, { leases, meta, auth }));

    await writer.addBucket(Buffer.from(EtcdBucket.lease), leases);
    const metaEntries: Array<[Buffer, Buffer]> = [];
    const consistentIndex = meta.get('consistentIndex') ?? 0;
    metaEntries.push([Buffer.from(META_CONSISTENT_INDEX), etcdCounter(consistentIndex)]);
    // etcd writes the compaction marks only once a compaction was scheduled; absent means none.
    const finished = meta.get('finishedCompact') ?? 0;
    const scheduled = meta.get('scheduledCompact') ?? 0;
    if (finished > 0) metaEntries.push([Buffer.from(META_FINISHED_COMPACT), etcdRevisionKey(finished, 0)]);
    if (scheduled > 0) metaEntries.push([Buffer.from(META_SCHEDULED_COMPACT), etcdRevisionKey(scheduled, 0)]);
    await writer.addBucket(
      Buffer.from(EtcdBucket.meta),
      metaEntries.sort((a, b) => Buffer.compare(a[0], b[0])),
    );

    const members = source.members
      .map((m): [Buffer, Buffer] => [etcdMemberKey(m.id), etcdMemberJson(m)])
      .sort((a, b) => Buffer.compare(a[0], b[0]));
    await writer.addBucket(Buffer.from(EtcdBucket.members), members);
    const removed = (source.removedMemberIds ?? [])
      .map((id): [Buffer, Buffer] => [etcdMemberKey(id), Buffer.from('removed')])
      .sort((a, b) => Buffer.compare(a[0], b[0]));
    await writer.addBucket(Buffer.from(EtcdBucket.membersRemoved), removed);
    await writer.addBucket(Buffer.from(EtcdBucket.cluster), [
      [Buffer.from(CLUSTER_VERSION_KEY), Buffer.from(source.clusterVersion ?? '3.4.0')],
    ]);
    const alarms = source.alarms
      .map((a): [Buffer, Buffer] => [etcdAlarmKey(a), Buffer.alloc(0)])
      .sort((a, b) => Buffer.compare(a[0], b[0]));
    await writer.addBucket(Buffer.from(EtcdBucket.alarm), alarms);
    // The auth store's records are etcd's own keys and values; a store never changed has
    // no revision record, and etcd starts its auth revision at 1.
    if (!auth.auth.some(([k]) => k.equals(Buffer.from(AUTH_REVISION_KEY))))
      auth.auth.push([Buffer.from(AUTH_REVISION_KEY), etcdCounter(1)]);
    for (const bucket of ['auth', 'authRoles', 'authUsers'] as const) {
      await writer.addBucket(
        Buffer.from(EtcdBucket[bucket]),
        auth[bucket].sort((a, b) => Buffer.compare(a[0], b[0])),
      );
    }
    return await writer.finish();
  } finally {
    await writer.close();
  }
}

/** What the scan of the key space sets aside for the other buckets. */
interface SetAside {
  readonly leases: Array<[Buffer, Buffer]>;
  readonly meta: Map<string, number>;
  readonly auth: Record<AuthBucket, Array<[Buffer, Buffer]>>;
}

/**
 * The key bucket's entries, converted a page at a time. The records come in
 * xetcd's key order (auth, revisions, leases, meta); auth, leases and meta
 * are set aside for their own buckets as the scan passes them.
 */
async function* keyBucket(
  records: AsyncIterable<Array<[Buffer, Buffer]>>,
  { leases, meta, auth }: SetAside,
): AsyncGenerator<Array<[Buffer, Buffer]>> {
  for await (const page of records) {
    const out: Array<[Buffer, Buffer]> = [];
    for (const [key, framed] of page) {
      const payload = verified(key, framed);
      if (isRevisionKey(key)) {
        const { rev, tombstone } = parseRevisionKey(key);
        out.push([
          etcdRevisionKey(rev.main, rev.sub, tombstone),
          tombstone ? etcdTombstoneValue(payload) : payload,
        ]);
      } else if (key[0] === LEASE_PREFIX && key.length === 9) {
        if (payload.length !== 16)
          throw new SnapshotRecordError(`snapshot: ${describeBackendKey(key)} is malformed`);
        const id = parseLeaseKey(key);
        const lease = {
          id,
          ttl: Number(payload.readBigInt64BE(0)),
          remainingTtl: Number(payload.readBigInt64BE(8)),
        };
        leases.push([etcdLeaseKey(id), encodeEtcdLease(lease)]);
      } else if (key[0] === META_PREFIX && payload.length === 8) {
        meta.set(key.subarray(1).toString('latin1'), decodeCounter(payload));
      } else if (parseAuthRecordKey(key) !== undefined) {
        const { bucket, key: name } = parseAuthRecordKey(key)!;
        auth[bucket].push([Buffer.from(name), Buffer.from(payload)]);
      } else {
        throw new SnapshotRecordError(`snapshot: unexpected ${describeBackendKey(key)}`);
      }
    }
    if (out.length > 0) yield out;
  }
  // Lease IDs are positive int64s, so their big-endian keys sort as the IDs do; sort anyway for safety.
  leases.sort((a, b) => Buffer.compare(a[0], b[0]));
}

function verified(key: Buffer, framed: Buffer): Buffer {
  if (frameProblem(key, framed) !== undefined) {
    throw new SnapshotRecordError(`snapshot: ${describeBackendKey(key)} fails its checksum`);
  }
  return framed.subarray(4);
}
