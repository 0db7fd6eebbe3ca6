import { AlarmMember, type Member } from '../../proto/etcdserverpb.js';
import { KeyValue } from '../../proto/mvccpb.js';

/**
 * etcd 3.4's backend layout inside its bbolt file (mvcc/kvstore.go,
 * lease/lessor.go, etcdserver/api/membership/store.go, auth/store.go,
 * etcdserver/api/v3alarm/alarms.go), as far as a snapshot of xetcd fills it.
 * A fresh etcd 3.4 member has exactly these ten buckets.
 */
export const EtcdBucket = {
  /** Revision (17 or 18 bytes) → mvccpb.KeyValue. */
  key: 'key',
  /** consistent_index, scheduledCompactRev, finishedCompactRev. */
  meta: 'meta',
  /** Lease ID (8 bytes BE) → leasepb.Lease. */
  lease: 'lease',
  /** Member ID in hex → the member as JSON. */
  members: 'members',
  /** Member ID in hex → "removed". */
  membersRemoved: 'members_removed',
  /** clusterVersion → "3.4.0". */
  cluster: 'cluster',
  /** Marshaled etcdserverpb.AlarmMember → empty. */
  alarm: 'alarm',
  /** authEnabled, authRevision. */
  auth: 'auth',
  authUsers: 'authUsers',
  authRoles: 'authRoles',
} as const;

export const META_CONSISTENT_INDEX = 'consistent_index';
export const META_SCHEDULED_COMPACT = 'scheduledCompactRev';
export const META_FINISHED_COMPACT = 'finishedCompactRev';
export const CLUSTER_VERSION_KEY = 'clusterVersion';
export const AUTH_REVISION_KEY = 'authRevision';

/** etcd's revision key: main (8 bytes BE), '_', sub (8 bytes BE), and a 't' for a tombstone. */
export function etcdRevisionKey(main: number, sub: number, tombstone = false): Buffer {
  const b = Buffer.alloc(tombstone ? 18 : 17);
  b.writeBigUInt64BE(BigInt(main), 0);
  b[8] = 0x5f;
  b.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) b[17] = 0x74;
  return b;
}

export function parseEtcdRevisionKey(key: Buffer): { main: number; sub: number; tombstone: boolean } {
  if (
    (key.length !== 17 && key.length !== 18) ||
    key[8] !== 0x5f ||
    (key.length === 18 && key[17] !== 0x74)
  ) {
    throw new Error(`etcd backend: ${key.toString('hex')} is not a revision key`);
  }
  return {
    main: Number(key.readBigUInt64BE(0)),
    sub: Number(key.readBigUInt64BE(9)),
    tombstone: key.length === 18,
  };
}

/** An 8-byte big-endian counter (the consistent index, the auth revision). */
export function etcdCounter(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** etcd stores a tombstone's value as a KeyValue that holds only the key. */
export function etcdTombstoneValue(kv: Uint8Array): Buffer {
  return Buffer.from(KeyValue.encode(KeyValue.create({ key: KeyValue.decode(kv).key })));
}

/** The lease bucket's key: the ID as int64, big-endian. */
export function etcdLeaseKey(id: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt.asIntN(64, id));
  return b;
}

export interface EtcdLease {
  id: bigint;
  ttl: number;
  remainingTtl: number;
}

/** leasepb.Lease {ID = 1, TTL = 2, RemainingTTL = 3}, all int64, zero fields left out as proto3 does. */
export function encodeEtcdLease(l: EtcdLease): Buffer {
  const out: number[] = [];
  const field = (tag: number, v: bigint): void => {
    if (v === 0n) return;
    out.push(tag << 3);
    let u = BigInt.asUintN(64, v);
    while (u >= 0x80n) {
      out.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    out.push(Number(u));
  };
  field(1, l.id);
  field(2, BigInt(l.ttl));
  field(3, BigInt(l.remainingTtl));
  return Buffer.from(out);
}

export function decodeEtcdLease(b: Buffer): EtcdLease {
  const lease: EtcdLease = { id: 0n, ttl: 0, remainingTtl: 0 };
  let i = 0;
  while (i < b.length) {
    const tag = b[i++]!;
    if ((tag & 7) !== 0) throw new Error(`leasepb: unexpected wire type ${tag & 7}`);
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (i >= b.length) throw new Error('leasepb: truncated varint');
      const byte = b[i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    const signed = BigInt.asIntN(64, v);
    if (tag >> 3 === 1) lease.id = signed;
    else if (tag >> 3 === 2) lease.ttl = Number(signed);
    else if (tag >> 3 === 3) lease.remainingTtl = Number(signed);
  }
  return lease;
}

/** The members bucket's key: the member ID in lower-case hex (etcd's types.ID.String()). */
export function etcdMemberKey(id: bigint): Buffer {
  return Buffer.from(id.toString(16), 'latin1');
}

/**
 * A member as etcd's membership store marshals it: Go's encoding/json of
 * membership.Member, the ID as a decimal number, `isLearner`, `name` and
 * `clientURLs` left out when empty.
 */
export function etcdMemberJson(m: Member): Buffer {
  let s = `{"id":${m.id.toString(10)},"peerURLs":${JSON.stringify(m.peerUrls)}`;
  if (m.isLearner) s += ',"isLearner":true';
  if (m.name !== '') s += `,"name":${JSON.stringify(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":${JSON.stringify(m.clientUrls)}`;
  return Buffer.from(`${s}}`, 'utf8');
}

/** The alarm bucket's key: the marshaled AlarmMember (its value is empty). */
export function etcdAlarmKey(a: AlarmMember): Buffer {
  return Buffer.from(AlarmMember.encode(AlarmMember.create({ memberId: a.memberId, alarm: a.alarm })));
}
