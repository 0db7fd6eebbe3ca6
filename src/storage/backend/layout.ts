/**
 * What lives where in the MVCC backend (one classic-level directory):
 *
 * - `k` + main (8 bytes BE) + `_` + sub (8 bytes BE) [+ `t`]: one change of the
 *   key space, an `mvccpb.KeyValue`; the `t` suffix marks a tombstone (a delete),
 *   as etcd marks it. Byte order of these keys is revision order.
 * - `l` + lease ID (8 bytes BE, two's complement): a lease (granted TTL and
 *   remaining-TTL checkpoint).
 * - `m` + name: metadata: the consistent (applied) index, the current
 *   revision, the scheduled and the finished compaction revision, the format.
 * - `a` + bucket + name: the auth store, in etcd's three buckets with etcd's
 *   keys and values: `m` for etcd's `auth` bucket (authEnabled, authRevision),
 *   `u` for `authUsers` (name → authpb.User), `r` for `authRoles` (name →
 *   authpb.Role). It is written with the key space's commit, so it is always
 *   at the same applied index.
 *
 * Every value carries a CRC-32C of key and payload (see backend.ts).
 * Nothing in the directory may be deleted by hand.
 */
/**
 * A revision as etcd numbers changes: `main` is the store revision a write
 * transaction creates, `sub` orders the changes inside it (0, 1, 2, ...).
 * Only `main` is visible on the wire; `sub` orders the events of one revision.
 * Declared here because the backend's keys are revisions: their byte order is
 * revision order.
 */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** The version of this layout, in the `format` meta record (absent in a store no commit has written yet). */
export const BACKEND_FORMAT = 1;

export const AUTH_PREFIX = 0x61; // 'a'
export const KEY_PREFIX = 0x6b; // 'k'
export const LEASE_PREFIX = 0x6c; // 'l'
export const META_PREFIX = 0x6d; // 'm'
const TOMBSTONE_MARK = 0x74; // 't'
const SEPARATOR = 0x5f; // '_'

export const REVISION_KEY_LENGTH = 18;

export function revisionKey(rev: Revision, tombstone: boolean): Buffer {
  const b = Buffer.allocUnsafe(tombstone ? REVISION_KEY_LENGTH + 1 : REVISION_KEY_LENGTH);
  b[0] = KEY_PREFIX;
  b.writeUIntBE(0, 1, 2);
  b.writeUIntBE(rev.main, 3, 6);
  b[9] = SEPARATOR;
  b.writeUIntBE(0, 10, 2);
  b.writeUIntBE(rev.sub, 12, 6);
  if (tombstone) b[REVISION_KEY_LENGTH] = TOMBSTONE_MARK;
  return b;
}

/** The smallest key of main revision `main` and the largest, tombstones included. */
export function revisionKeyBounds(fromMain: number, toMain: number): { gte: Buffer; lte: Buffer } {
  const gte = revisionKey({ main: fromMain, sub: 0 }, false);
  const lte = Buffer.alloc(REVISION_KEY_LENGTH + 1, 0xff);
  revisionKey({ main: toMain, sub: 0 }, false).copy(lte, 0, 0, 10);
  return { gte, lte };
}

export function isRevisionKey(key: Buffer): boolean {
  return (
    key[0] === KEY_PREFIX &&
    key[9] === SEPARATOR &&
    (key.length === REVISION_KEY_LENGTH ||
      (key.length === REVISION_KEY_LENGTH + 1 && key[REVISION_KEY_LENGTH] === TOMBSTONE_MARK))
  );
}

export function parseRevisionKey(key: Buffer): { rev: Revision; tombstone: boolean } {
  return {
    rev: { main: key.readUIntBE(3, 6), sub: key.readUIntBE(12, 6) },
    tombstone: key.length === REVISION_KEY_LENGTH + 1,
  };
}

export function leaseKey(id: bigint): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = LEASE_PREFIX;
  b.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  return b;
}

export function parseLeaseKey(key: Buffer): bigint {
  return BigInt.asIntN(64, key.readBigUInt64BE(1));
}

export type MetaName =
  'consistentIndex' | 'currentRevision' | 'scheduledCompact' | 'finishedCompact' | 'format';

export function metaKey(name: MetaName): Buffer {
  return Buffer.concat([Buffer.of(META_PREFIX), Buffer.from(name, 'latin1')]);
}

export function encodeCounter(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export function decodeCounter(b: Buffer): number {
  return Number(b.readBigUInt64BE(0));
}

/** etcd's auth buckets, as the auth store names them. */
export type AuthBucket = 'auth' | 'authUsers' | 'authRoles';

const AUTH_BUCKET_TAGS: Record<AuthBucket, number> = { auth: 0x6d, authUsers: 0x75, authRoles: 0x72 };

export function authRecordKey(bucket: AuthBucket, key: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(AUTH_PREFIX, AUTH_BUCKET_TAGS[bucket]), key]);
}

/** The bucket and etcd key of an auth record, or undefined when `key` is not one. */
export function parseAuthRecordKey(key: Buffer): { bucket: AuthBucket; key: Buffer } | undefined {
  if (key[0] !== AUTH_PREFIX || key.length < 2) return undefined;
  const bucket = (Object.keys(AUTH_BUCKET_TAGS) as AuthBucket[]).find((b) => AUTH_BUCKET_TAGS[b] === key[1]);
  return bucket === undefined ? undefined : { bucket, key: key.subarray(2) };
}

/** A key of the backend as a reader would name it in an error message. */
export function describeBackendKey(key: Buffer): string {
  if (isRevisionKey(key)) {
    const { rev, tombstone } = parseRevisionKey(key);
    return `key-space record at revision ${rev.main}.${rev.sub}${tombstone ? ' (tombstone)' : ''}`;
  }
  if (key[0] === LEASE_PREFIX && key.length === 9) return `lease record ${parseLeaseKey(key).toString(16)}`;
  if (key[0] === META_PREFIX) return `meta record ${key.subarray(1).toString('latin1')}`;
  const auth = parseAuthRecordKey(key);
  if (auth !== undefined) return `auth record ${auth.bucket}/${auth.key.toString('latin1')}`;
  return `record ${key.toString('hex')}`;
}
