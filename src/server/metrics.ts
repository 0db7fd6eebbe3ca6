// The metrics of a member's state machine, with etcd's names, help texts,
// types and buckets (etcdserver/metrics.go, wal, backend, mvcc and lease
// metrics.go), so dashboards and alerts written for etcd work on xetcd. Every
// family records a real value: events as they happen, or (the key space's
// counts, revisions and watchers) read from their owners at each scrape once
// the server has bound them (bind()). The API layer declares its own
// (src/api/metrics.ts); embed puts both on one registry per member.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MvccStats } from '../mvcc/kvStats.js';

/** What the scrape-time families read: the server's key space, watchers and auth store. */
export interface ServerMetricSources {
  readonly kv: {
    readonly currentRevision: number;
    readonly compactRevision: number;
    readonly indexedKeys: number;
    readonly stats: MvccStats;
    dbSize(): Promise<number>;
    dbSizeInUse(): Promise<number>;
  };
  readonly watch: {
    readonly streamCount: number;
    readonly syncedCount: number;
    readonly unsyncedCount: number;
    readonly eventsSent: number;
    readonly pendingEvents: number;
  };
  authRevision(): number;
}

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
  readonly leaseExpired: Counter;
  readonly leaseTtl: Histogram;
  // more of etcdserver, disk, snap
  readonly learnerPromotes: Counter;
  readonly snapshotApplyInProgress: Gauge;
  readonly walWriteBytes: Gauge;
  readonly snapSaveMarshalling: Histogram;
  readonly snapSaveTotal: Histogram;
  readonly snapFsync: Histogram;
  readonly debuggingDbTotalSize: Gauge;
  /** Read the scrape-time families from these from now on, and feed the key space's timings to the histograms. */
  bind(sources: ServerMetricSources): void;
}

/** prometheus.ExponentialBuckets(start, factor, count). */
function exponential(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

export function createServerMetrics(registry: Registry): ServerMetrics {
  const registers = [registry];
  let sources: ServerMetricSources | undefined;
  const gauge = <L extends string = string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  /** A gauge whose value is read at each scrape (absent until the server is bound). */
  const readGauge = (name: string, help: string, read: (s: ServerMetricSources) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        if (sources !== undefined) this.set(read(sources));
      },
    });
  /** A size measured on disk at each scrape (every member, leader or not). */
  const sizeGauge = (name: string, help: string, read: (s: ServerMetricSources) => Promise<number>) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        if (sources !== undefined) this.set(await read(sources));
      },
    });
  /** A counter kept by its owner as a plain number, copied at each scrape. */
  const readCounter = (name: string, help: string, read: (s: ServerMetricSources) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (sources === undefined) return;
        this.reset();
        this.inc(read(sources));
      },
    });
  const counter = (name: string, help: string) => new Counter({ name, help, registers });
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name, help, buckets, registers });

  const mvccCounters = (what: string, read: (st: MvccStats) => number): [Counter, Counter] => [
    readCounter(`etcd_mvcc_${what}_total`, `Total number of ${what}s seen by this member.`, (x) =>
      read(x.kv.stats),
    ),
    readCounter(`etcd_debugging_mvcc_${what}_total`, `Total number of ${what}s seen by this member.`, (x) =>
      read(x.kv.stats),
    ),
  ];
  const [rangeTotal] = mvccCounters('range', (st) => st.ranges);
  const [putTotal] = mvccCounters('put', (st) => st.puts);
  const [deleteTotal] = mvccCounters('delete', (st) => st.deletes);
  const [txnTotal] = mvccCounters('txn', (st) => st.txns);

  const backendCommitDuration = histogram(
    'etcd_disk_backend_commit_duration_seconds',
    'The latency distributions of commit called by backend.',
    exponential(0.001, 2, 14),
  );
  const indexCompactionPause = histogram(
    'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds',
    'Bucketed histogram of index compaction pause duration.',
    exponential(0.5, 2, 14),
  );
  const dbCompactionPause = histogram(
    'etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds',
    'Bucketed histogram of db compaction pause duration.',
    exponential(1, 2, 13),
  );
  const dbCompactionTotal = histogram(
    'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds',
    'Bucketed histogram of db compaction total duration.',
    exponential(100, 2, 14),
  );
  const hashDuration = histogram(
    'etcd_mvcc_hash_duration_seconds',
    'The latency distribution of storage hash operation.',
    exponential(0.01, 2, 15),
  );
  const hashRevDuration = histogram(
    'etcd_mvcc_hash_rev_duration_seconds',
    'The latency distribution of storage hash by revision operation.',
    exponential(0.01, 2, 15),
  );
  const defragDuration = histogram(
    'etcd_disk_backend_defrag_duration_seconds',
    'The latency distribution of backend defragmentation.',
    exponential(0.1, 2, 13),
  );
  const defragInflight = gauge(
    'etcd_disk_defrag_inflight',
    'Whether or not defrag is active on the member. 1 means active, 0 means not.',
  );
  defragInflight.set(0);

  readGauge(
    'etcd_debugging_mvcc_current_revision',
    'The current revision of store.',
    (x) => x.kv.currentRevision,
  );
  readGauge(
    'etcd_debugging_mvcc_compact_revision',
    'The revision of the last compaction in store.',
    (x) => x.kv.compactRevision,
  );
  readGauge(
    'etcd_debugging_mvcc_total_put_size_in_bytes',
    'The total size of put kv pairs seen by this member.',
    (x) => x.kv.stats.putBytes,
  );
  readGauge(
    'etcd_mvcc_db_open_read_transactions',
    'The number of currently open read transactions',
    (x) => x.kv.stats.openReads,
  );
  readGauge(
    'etcd_debugging_mvcc_pending_events_total',
    'Total number of pending events to be sent.',
    (x) => x.watch.pendingEvents,
  );
  readCounter(
    'etcd_debugging_mvcc_events_total',
    'Total number of events sent by this member.',
    (x) => x.watch.eventsSent,
  );
  readGauge('etcd_debugging_auth_revision', 'The current revision of auth store.', (x) => x.authRevision());

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
    backendCommitDuration,
    backendSnapshotDuration: histogram(
      'etcd_disk_backend_snapshot_duration_seconds',
      'The latency distribution of backend snapshots.',
      exponential(0.01, 2, 17),
    ),
    dbTotalSize: sizeGauge(
      'etcd_mvcc_db_total_size_in_bytes',
      'Total size of the underlying database physically allocated in bytes.',
      (x) => x.kv.dbSize(),
    ),
    debuggingDbTotalSize: sizeGauge(
      'etcd_debugging_mvcc_db_total_size_in_bytes',
      'Total size of the underlying database physically allocated in bytes.',
      (x) => x.kv.dbSize(),
    ),
    dbTotalSizeInUse: sizeGauge(
      'etcd_mvcc_db_total_size_in_use_in_bytes',
      'Total size of the underlying database logically in use in bytes.',
      (x) => x.kv.dbSizeInUse(),
    ),
    keysTotal: readGauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', (x) => x.kv.indexedKeys),
    rangeTotal,
    putTotal,
    deleteTotal,
    txnTotal,
    compactionKeysTotal: readCounter(
      'etcd_debugging_mvcc_db_compaction_keys_total',
      'Total number of db keys compacted.',
      (x) => x.kv.stats.compactedKeys,
    ),
    watchStreams: readGauge(
      'etcd_debugging_mvcc_watch_stream_total',
      'Total number of watch streams.',
      (x) => x.watch.streamCount,
    ),
    watchers: readGauge(
      'etcd_debugging_mvcc_watcher_total',
      'Total number of watchers.',
      (x) => x.watch.syncedCount + x.watch.unsyncedCount,
    ),
    slowWatchers: readGauge(
      'etcd_debugging_mvcc_slow_watcher_total',
      'Total number of unsynced slow watchers.',
      (x) => x.watch.unsyncedCount,
    ),
    leaseGranted: counter('etcd_debugging_lease_granted_total', 'The total number of granted leases.'),
    leaseRevoked: counter('etcd_debugging_lease_revoked_total', 'The total number of revoked leases.'),
    leaseRenewed: counter(
      'etcd_debugging_lease_renewed_total',
      'The number of renewed leases seen by the leader.',
    ),
    leaseExpired: counter('etcd_debugging_server_lease_expired_total', 'The total number of expired leases.'),
    leaseTtl: histogram(
      'etcd_debugging_lease_ttl_total',
      'Bucketed histogram of lease TTLs.',
      exponential(1, 2, 24),
    ),
    learnerPromotes: counter(
      'etcd_server_learner_promote_successes',
      'The total number of successful learner promotions while this member is leader.',
    ),
    snapshotApplyInProgress: gauge(
      'etcd_server_snapshot_apply_in_progress_total',
      '1 if the server is applying the incoming snapshot. 0 if none.',
    ),
    walWriteBytes: gauge('etcd_disk_wal_write_bytes_total', 'Total number of bytes written in WAL.'),
    snapSaveMarshalling: histogram(
      'etcd_debugging_snap_save_marshalling_duration_seconds',
      'The marshalling cost distributions of save called by snapshot.',
      exponential(0.001, 2, 14),
    ),
    snapSaveTotal: histogram(
      'etcd_debugging_snap_save_total_duration_seconds',
      'The total latency distributions of save called by snapshot.',
      exponential(0.001, 2, 14),
    ),
    snapFsync: histogram(
      'etcd_snap_fsync_duration_seconds',
      'The latency distributions of fsync called by snap.',
      exponential(0.001, 2, 14),
    ),
    bind(s: ServerMetricSources): void {
      sources = s;
      s.kv.stats.timings = {
        commit: (ms) => backendCommitDuration.observe(ms / 1000),
        indexCompaction: (ms) => indexCompactionPause.observe(ms),
        compactionBatch: (ms) => dbCompactionPause.observe(ms),
        compaction: (ms) => dbCompactionTotal.observe(ms),
        hash: (ms) => hashDuration.observe(ms / 1000),
        hashKV: (ms) => hashRevDuration.observe(ms / 1000),
        defrag: (ms) => defragDuration.observe(ms / 1000),
        defragRunning: (running) => defragInflight.set(running ? 1 : 0),
      };
    },
  };
}
