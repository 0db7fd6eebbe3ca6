// Member and cluster IDs derived exactly as etcd 3.4 derives them
// (etcdserver/api/membership: NewMember and RaftCluster.genID), so a default
// xetcd reports the same IDs a default etcd does and etcdctl output matches.
import { createHash } from 'node:crypto';

function first8BigEndian(digest: Buffer): bigint {
  return digest.readBigUInt64BE(0);
}

/**
 * Member ID: SHA-1 over the member's peer URLs (sorted, concatenated without a
 * separator), then the cluster token, then — only for a member added to a running
 * cluster — the decimal Unix time in seconds; the ID is the first 8 bytes, big-endian.
 * Bootstrapping members from --initial-cluster pass no time, so every member of a
 * new cluster computes the same IDs for all of them.
 */
export function memberId(
  peerUrls: readonly string[],
  clusterToken: string,
  addedAtUnixSeconds?: number,
): bigint {
  const sorted = [...peerUrls].sort();
  let text = sorted.join('') + clusterToken;
  if (addedAtUnixSeconds !== undefined) text += String(Math.trunc(addedAtUnixSeconds));
  return first8BigEndian(createHash('sha1').update(text, 'utf8').digest());
}

/** Cluster ID: SHA-1 over the sorted member IDs, each as 8 big-endian bytes; first 8 bytes of the digest. */
export function clusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return first8BigEndian(createHash('sha1').update(buf).digest());
}

/** etcd prints IDs as lower-case hex without a prefix (types.ID.String). */
export function idHex(id: bigint): string {
  return id.toString(16);
}
