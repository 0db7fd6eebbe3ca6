import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Member } from '../../proto/etcdserverpb.js';
import { KeyValue } from '../../proto/mvccpb.js';
import { Backend } from '../backend/backend.js';
import { authRecordKey, encodeCounter, leaseKey, metaKey, revisionKey } from '../backend/layout.js';
import {
  EtcdBucket,
  META_CONSISTENT_INDEX,
  META_FINISHED_COMPACT,
  META_SCHEDULED_COMPACT,
  decodeEtcdLease,
  parseEtcdRevisionKey,
} from './etcdLayout.js';
import { BoltReader } from './reader.js';

/** A snapshot file that cannot become a member's data. */
export class EtcdSnapshotError extends Error {
  override readonly name = 'EtcdSnapshotError';
}

const SHA256_SIZE = 32;

/**
 * Opens an etcd (or xetcd) snapshot file as etcd's restore does: a size of
 * 512·n + 32 means a SHA-256 trailer follows the database, and it must match;
 * then the database must pass bbolt's page check and hold etcd's key and meta
 * buckets. The whole file is read into memory.
 */
export async function openEtcdSnapshot(path: string): Promise<BoltReader> {
  const file = await readFile(path);
  let db = file;
  if (file.length % 512 === SHA256_SIZE) {
    db = file.subarray(0, file.length - SHA256_SIZE);
    const want = file.subarray(file.length - SHA256_SIZE);
    if (!createHash('sha256').update(db).digest().equals(want)) {
      throw new EtcdSnapshotError(`snapshot ${path}: SHA-256 trailer does not match the data`);
    }
  }
  let reader: BoltReader;
  try {
    reader = BoltReader.fromBuffer(db);
  } catch (err) {
    throw new EtcdSnapshotError(`snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  const errors = reader.check();
  if (errors.length > 0) {
    throw new EtcdSnapshotError(`snapshot ${path}: integrity check failed: ${errors.slice(0, 5).join('; ')}`);
  }
  for (const name of [EtcdBucket.key, EtcdBucket.meta]) {
    if (reader.bucket(name) === undefined) throw new EtcdSnapshotError(`snapshot ${path}: no ${name} bucket`);
  }
  return reader;
}

export interface ImportOptions {
  /**
   * The applied index the new store starts from. A member seeded from a
   * snapshot starts a new Raft log, so the old cluster's index means nothing
   * to it (etcd's restore resets it too); default: the snapshot's own.
   */
  consistentIndex?: number;
  /** Records per page handed out. */
  pageSize?: number;
}

/**
 * The key space of an etcd backend file as xetcd backend records (checksum
 * frames included), in xetcd's key order, ready for KvStore.restoreFromRecords:
 * revision records (tombstones regain their mod revision, which xetcd keeps),
 * leases, the meta records (consistent index, current revision, compaction
 * marks), and the auth store's records (etcd's auth buckets, as they are).
 */
export async function* etcdSnapshotRecords(
  reader: BoltReader,
  opts: ImportOptions = {},
): AsyncGenerator<Array<[Buffer, Buffer]>> {
  const pageSize = opts.pageSize ?? 1000;
  let page: Array<[Buffer, Buffer]> = [];
  const put = (key: Buffer, payload: Uint8Array): Array<[Buffer, Buffer]> | undefined => {
    page.push([key, Backend.frame(key, payload)]);
    if (page.length < pageSize) return undefined;
    const full = page;
    page = [];
    return full;
  };

  let maxMain = 0;
  for (const item of reader.bucketItems(EtcdBucket.key) ?? []) {
    let rev: ReturnType<typeof parseEtcdRevisionKey>;
    try {
      rev = parseEtcdRevisionKey(item.key);
    } catch (err) {
      throw new EtcdSnapshotError(`snapshot: ${(err as Error).message}`);
    }
    let payload: Uint8Array = item.value;
    if (rev.tombstone) {
      const kv = KeyValue.decode(item.value);
      payload = KeyValue.encode(KeyValue.create({ key: kv.key, modRevision: rev.main }));
    }
    maxMain = Math.max(maxMain, rev.main);
    const full = put(revisionKey({ main: rev.main, sub: rev.sub }, rev.tombstone), payload);
    if (full) yield full;
  }

  const leases = (reader.bucket(EtcdBucket.lease) ?? []).map((item) => decodeEtcdLease(item.value));
  leases.sort((a, b) => Buffer.compare(leaseKey(a.id), leaseKey(b.id)));
  for (const l of leases) {
    const value = Buffer.alloc(16);
    value.writeBigInt64BE(BigInt(l.ttl), 0);
    value.writeBigInt64BE(BigInt(l.remainingTtl), 8);
    const full = put(leaseKey(l.id), value);
    if (full) yield full;
  }

  const meta = new Map(
    (reader.bucket(EtcdBucket.meta) ?? []).map((i) => [i.key.toString('latin1'), i.value]),
  );
  const compactMark = (name: string): number => {
    const v = meta.get(name);
    return v === undefined ? 0 : parseEtcdRevisionKey(v).main;
  };
  const indexBytes = meta.get(META_CONSISTENT_INDEX);
  const consistentIndex = opts.consistentIndex ?? (indexBytes ? Number(indexBytes.readBigUInt64BE(0)) : 0);
  const scheduled = compactMark(META_SCHEDULED_COMPACT);
  const finished = compactMark(META_FINISHED_COMPACT);
  // Metas in key order; etcd derives the current revision from the newest record and the compaction.
  const metas: Array<[Parameters<typeof metaKey>[0], number]> = [
    ['consistentIndex', consistentIndex],
    ['currentRevision', Math.max(1, maxMain, scheduled)],
    ['finishedCompact', finished],
    ['scheduledCompact', scheduled],
  ];
  for (const [name, n] of metas) {
    const full = put(metaKey(name), encodeCounter(n));
    if (full) yield full;
  }
  for (const bucket of ['auth', 'authUsers', 'authRoles'] as const) {
    for (const item of reader.bucket(EtcdBucket[bucket]) ?? []) {
      const full = put(authRecordKey(bucket, item.key), item.value);
      if (full) yield full;
    }
  }
  if (page.length > 0) yield page;
}

/** The members an etcd snapshot lists (its members bucket), IDs kept exact. */
export function etcdSnapshotMembers(reader: BoltReader): Member[] {
  return (reader.bucket(EtcdBucket.members) ?? []).map((item) => {
    const text = item.value.toString('utf8');
    // JSON numbers lose precision past 2^53; member IDs are 64-bit, so read the ID from the text.
    const id = /"id":\s*(\d+)/.exec(text)?.[1];
    const json = JSON.parse(text) as {
      peerURLs?: string[];
      name?: string;
      clientURLs?: string[];
      isLearner?: boolean;
    };
    if (id === undefined)
      throw new EtcdSnapshotError(`snapshot: member ${item.key.toString('latin1')} has no id`);
    return Member.create({
      id: BigInt(id),
      name: json.name ?? '',
      peerUrls: json.peerURLs ?? [],
      clientUrls: json.clientURLs ?? [],
      isLearner: json.isLearner ?? false,
    });
  });
}
