// The metrics of a member's state machine, with etcd's names, help texts,
// types and buckets (etcdserver/metrics.go, wal, backend, mvcc and lease
// metrics.go), so dashboards and alerts written for etcd work on xetcd. The
// server records what it knows of (leadership, proposals, fsync, the database
// size); the rest are declared at etcd's zero so that etcd's dashboards find
// every series. The API layer declares its own (src/api/metrics.ts); embed puts
// both on one registry per member.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ServerMetrics {
  // etcdserver
  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly isLearner: Gauge;
  readonly leaderChangesSeen: Counter;
  readonly heartbeatSendFailures: Counter;
  readonly slowApply: Counter;
  readonly proposalsCommitted: Gauge;
  readonly proposalsApplied: Gauge;
  readonly proposalsPending: Gauge;
  readonly proposalsFailed: Counter;
  readonly slowReadIndexes: Counter;
  readonly readIndexesFailed: Counter;
  readonly quotaBackendBytes: Gauge;
  readonly serverId: Gauge<'server_id'>;
  readonly serverVersion: Gauge<'server_version'>;
  readonly clusterVersion: Gauge<'cluster_version'>;
  // disk
  readonly walFsyncDuration: Histogram;
  readonly backendCommitDuration: Histogram;
  readonly backendSnapshotDuration: Histogram;
  // mvcc
  readonly dbTotalSize: Gauge;
  readonly dbTotalSizeInUse: Gauge;
  readonly keysTotal: Gauge;
  readonly rangeTotal: Counter;
  readonly putTotal: Counter;
  readonly deleteTotal: Counter;
  readonly txnTotal: Counter;
  readonly compactionKeysTotal: Counter;
  readonly watchStreams: Gauge;
  readonly watchers: Gauge;
  readonly slowWatchers: Gauge;
  // lease
  readonly leaseGranted: Counter;
  readonly leaseRevoked: Counter;
  readonly leaseRenewed: Counter;
}

/** prometheus.ExponentialBuckets(start, factor, count). */
function exponential(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

export function createServerMetrics(registry: Registry): ServerMetrics {
  const registers = [registry];
  const gauge = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const counter = (name: string, help: string) => new Counter({ name, help, registers });
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name, help, buckets, registers });
  return {
    hasLeader: gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.'),
    isLeader: gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.'),
    isLearner: gauge(
      'etcd_server_is_learner',
      'Whether or not this member is a learner. 1 if is, 0 otherwise.',
    ),
    leaderChangesSeen: counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.'),
    heartbeatSendFailures: counter(
      'etcd_server_heartbeat_send_failures_total',
      'The total number of leader heartbeat send failures (likely overloaded from slow disk).',
    ),
    slowApply: counter(
      'etcd_server_slow_apply_total',
      'The total number of slow apply requests (likely overloaded from slow disk).',
    ),
    // etcd declares committed/applied as gauges: they are set to the Raft indexes.
    proposalsCommitted: gauge(
      'etcd_server_proposals_committed_total',
      'The total number of consensus proposals committed.',
    ),
    proposalsApplied: gauge(
      'etcd_server_proposals_applied_total',
      'The total number of consensus proposals applied.',
    ),
    proposalsPending: gauge(
      'etcd_server_proposals_pending',
      'The current number of pending proposals to commit.',
    ),
    proposalsFailed: counter(
      'etcd_server_proposals_failed_total',
      'The total number of failed proposals seen.',
    ),
    slowReadIndexes: counter(
      'etcd_server_slow_read_indexes_total',
      "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
    ),
    readIndexesFailed: counter(
      'etcd_server_read_indexes_failed_total',
      'The total number of failed read indexes seen.',
    ),
    quotaBackendBytes: gauge(
      'etcd_server_quota_backend_bytes',
      'Current backend storage quota size in bytes.',
    ),
    serverId: gauge(
      'etcd_server_id',
      "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
      ['server_id'] as const,
    ),
    serverVersion: gauge(
      'etcd_server_version',
      "Which version is running. 1 for 'server_version' label with current version.",
      ['server_version'] as const,
    ),
    clusterVersion: gauge(
      'etcd_cluster_version',
      "Which version is running. 1 for 'cluster_version' label with current cluster version",
      ['cluster_version'] as const,
    ),
    walFsyncDuration: histogram(
      'etcd_disk_wal_fsync_duration_seconds',
      'The latency distributions of fsync called by WAL.',
      exponential(0.001, 2, 14),
    ),
    backendCommitDuration: histogram(
      'etcd_disk_backend_commit_duration_seconds',
      'The latency distributions of commit called by backend.',
      exponential(0.001, 2, 14),
    ),
    backendSnapshotDuration: histogram(
      'etcd_disk_backend_snapshot_duration_seconds',
      'The latency distribution of backend snapshots.',
      exponential(0.01, 2, 17),
    ),
    dbTotalSize: gauge(
      'etcd_mvcc_db_total_size_in_bytes',
      'Total size of the underlying database physically allocated in bytes.',
    ),
    dbTotalSizeInUse: gauge(
      'etcd_mvcc_db_total_size_in_use_in_bytes',
      'Total size of the underlying database logically in use in bytes.',
    ),
    keysTotal: gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.'),
    rangeTotal: counter('etcd_mvcc_range_total', 'Total number of ranges seen by this member.'),
    putTotal: counter('etcd_mvcc_put_total', 'Total number of puts seen by this member.'),
    deleteTotal: counter('etcd_mvcc_delete_total', 'Total number of deletes seen by this member.'),
    txnTotal: counter('etcd_mvcc_txn_total', 'Total number of txns seen by this member.'),
    compactionKeysTotal: counter(
      'etcd_debugging_mvcc_db_compaction_keys_total',
      'Total number of db keys compacted.',
    ),
    watchStreams: gauge('etcd_debugging_mvcc_watch_stream_total', 'Total number of watch streams.'),
    watchers: gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.'),
    slowWatchers: gauge('etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.'),
    leaseGranted: counter('etcd_debugging_lease_granted_total', 'The total number of granted leases.'),
    leaseRevoked: counter('etcd_debugging_lease_revoked_total', 'The total number of revoked leases.'),
    leaseRenewed: counter(
      'etcd_debugging_lease_renewed_total',
      'The number of renewed leases seen by the leader.',
    ),
  };
}
