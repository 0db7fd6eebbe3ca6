/**
 * NATS subjects of a cluster. Members and clusters are named by their IDs in
 * hex, as etcd prints them, so a subject says which cluster and member it
 * belongs to.
 */
import { createHash } from 'node:crypto';

/** Where a member hears Raft messages: xetcd.<cluster-id>.raft.<member-id>. */
export function raftSubject(clusterId: bigint, memberId: bigint): string {
  return `xetcd.${clusterId.toString(16)}.raft.${memberId.toString(16)}`;
}

/** Where a member answers its peers' requests: xetcd.<cluster-id>.rpc.<member-id>. */
export function rpcSubject(clusterId: bigint, memberId: bigint): string {
  return `xetcd.${clusterId.toString(16)}.rpc.${memberId.toString(16)}`;
}

/**
 * Where a member answers as the owner of one of its peer URLs, before the
 * asker knows the cluster (a joining member asks for the member list there).
 * A URL holds characters a subject cannot, so the subject names its digest.
 */
export function peerUrlSubject(peerUrl: string): string {
  return `xetcd.peer.${createHash('sha256').update(peerUrl).digest('hex').slice(0, 32)}`;
}
