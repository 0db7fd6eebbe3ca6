/**
 * NATS subjects of a cluster. Members and clusters are named by their IDs in
 * hex, as etcd prints them, so a subject says which cluster and member it
 * belongs to: xetcd.<cluster-id>.raft.<member-id>.
 */
export function raftSubject(clusterId: bigint, memberId: bigint): string {
  return `xetcd.${clusterId.toString(16)}.raft.${memberId.toString(16)}`;
}
