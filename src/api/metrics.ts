// The member's Prometheus metrics, declared in one place (as etcd's metrics.go
// files do) with etcd's names, help texts, types and buckets wherever the concept
// exists, so dashboards and alerts written for etcd work on xetcd. Each member
// owns its registry (tests run several members in one process); the server and
// API layers update the instruments they are handed.
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** prometheus.ExponentialBuckets(start, factor, count). */
function exponential(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

export const GRPC_LABELS = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
export const GRPC_HANDLED_LABELS = [...GRPC_LABELS, 'grpc_code'] as const;
export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

export interface EtcdMetrics {
  readonly registry: Registry;
  /**
   * Set by whoever owns the gRPC connections (the client port); the two
   * etcd_network_client_grpc_*_bytes_total counters pull from it at each scrape.
   */
  grpcBytes?: GrpcByteSource;
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
  readonly healthSuccess: Counter;
  readonly healthFailures: Counter;
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
  // network / gRPC (go-grpc-prometheus names, as etcd registers them)
  readonly grpcReceivedBytes: Counter;
  readonly grpcSentBytes: Counter;
  readonly grpcStarted: Counter<(typeof GRPC_LABELS)[number]>;
  readonly grpcHandled: Counter<(typeof GRPC_HANDLED_LABELS)[number]>;
  readonly grpcMsgReceived: Counter<(typeof GRPC_LABELS)[number]>;
  readonly grpcMsgSent: Counter<(typeof GRPC_LABELS)[number]>;
}

export interface MetricsIdentity {
  /** Hex member ID, as etcd_server_id labels it. */
  readonly memberIdHex: string;
  readonly serverVersion: string;
  /** major.minor, as etcd_cluster_version labels it. */
  readonly clusterVersion: string;
  readonly quotaBackendBytes: number;
}

export function createMetrics(
  identity?: MetricsIdentity,
  options: { processMetrics?: boolean } = {},
): EtcdMetrics {
  const registry = new Registry();
  const registers = [registry];
  const gauge = <L extends string = string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Gauge<L> => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string = string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Counter<L> => new Counter<L>({ name, help, labelNames, registers });
  const histogram = (name: string, help: string, buckets: number[]): Histogram =>
    new Histogram({ name, help, buckets, registers });

  // Both byte counters call this at a scrape; the source hands out deltas, so the second call adds nothing.
  const pullBytes = (): void => {
    const taken = m.grpcBytes?.takeGrpcBytes();
    if (taken === undefined) return;
    if (taken.received > 0) m.grpcReceivedBytes.inc(taken.received);
    if (taken.sent > 0) m.grpcSentBytes.inc(taken.sent);
  };
  const m: EtcdMetrics = {
    registry,
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
    healthSuccess: counter('etcd_server_health_success', 'The total number of successful health checks'),
    healthFailures: counter('etcd_server_health_failures', 'The total number of failed health checks'),
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
    // Pulled at scrape time: counting per message would cost a serialization per call.
    grpcReceivedBytes: new Counter({
      name: 'etcd_network_client_grpc_received_bytes_total',
      help: 'The total number of bytes received from grpc clients.',
      registers,
      collect: () => pullBytes(),
    }),
    grpcSentBytes: new Counter({
      name: 'etcd_network_client_grpc_sent_bytes_total',
      help: 'The total number of bytes sent to grpc clients.',
      registers,
      collect: () => pullBytes(),
    }),
    grpcStarted: counter(
      'grpc_server_started_total',
      'Total number of RPCs started on the server.',
      GRPC_LABELS,
    ),
    grpcHandled: counter(
      'grpc_server_handled_total',
      'Total number of RPCs completed on the server, regardless of success or failure.',
      GRPC_HANDLED_LABELS,
    ),
    grpcMsgReceived: counter(
      'grpc_server_msg_received_total',
      'Total number of RPC stream messages received on the server.',
      GRPC_LABELS,
    ),
    grpcMsgSent: counter(
      'grpc_server_msg_sent_total',
      'Total number of gRPC stream messages sent by the server.',
      GRPC_LABELS,
    ),
  };

  if (identity !== undefined) {
    m.serverId.set({ server_id: identity.memberIdHex }, 1);
    m.serverVersion.set({ server_version: identity.serverVersion }, 1);
    m.clusterVersion.set({ cluster_version: identity.clusterVersion }, 1);
    if (Number.isFinite(identity.quotaBackendBytes)) m.quotaBackendBytes.set(identity.quotaBackendBytes);
  }
  // process_resident_memory_bytes and friends: `etcdctl check datascale` reads them.
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  return m;
}

/** Splits "/etcdserverpb.KV/Range" into the labels go-grpc-prometheus uses. */
export function grpcLabels(path: string, type: GrpcType): Record<(typeof GRPC_LABELS)[number], string> {
  const [, service = '', method = ''] = path.split('/');
  return { grpc_type: type, grpc_service: service, grpc_method: method };
}

/** go-grpc-prometheus's grpc_type label from a method's streaming shape. */
export function grpcType(requestStream: boolean, responseStream: boolean): GrpcType {
  if (requestStream && responseStream) return 'bidi_stream';
  if (requestStream) return 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

/** The gRPC status code's name as go-grpc-prometheus labels it (`OK`, `NotFound`, ...). */
const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? String(code);
}

/**
 * A grpc-js server interceptor that keeps grpc_server_started_total,
 * grpc_server_handled_total and the message counters, as etcd's
 * go-grpc-prometheus interceptors do, for every service on the server.
 * The labelled children are made once per method: this runs on every request.
 */
export function grpcMetricsInterceptor(metrics: EtcdMetrics): ServerInterceptor {
  interface MethodCounters {
    readonly labels: Record<(typeof GRPC_LABELS)[number], string>;
    readonly started: { inc(): void };
    readonly received: { inc(): void };
    readonly sent: { inc(): void };
    readonly handled: Map<number, { inc(): void }>;
  }
  const byPath = new Map<string, MethodCounters>();
  const countersFor = (path: string, requestStream: boolean, responseStream: boolean): MethodCounters => {
    let c = byPath.get(path);
    if (c === undefined) {
      const labels = grpcLabels(path, grpcType(requestStream, responseStream));
      c = {
        labels,
        started: metrics.grpcStarted.labels(labels),
        received: metrics.grpcMsgReceived.labels(labels),
        sent: metrics.grpcMsgSent.labels(labels),
        handled: new Map(),
      };
      byPath.set(path, c);
    }
    return c;
  };
  return (method, call) => {
    const c = countersFor(method.path, method.requestStream, method.responseStream);
    c.started.inc();
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            c.received.inc();
            nextMessage(message);
          },
        }),
      sendMessage: (message, next) => {
        c.sent.inc();
        next(message);
      },
      sendStatus: (status, next) => {
        const code = status.code ?? 0;
        let handled = c.handled.get(code);
        if (handled === undefined) {
          handled = metrics.grpcHandled.labels({ ...c.labels, grpc_code: grpcCodeName(code) });
          c.handled.set(code, handled);
        }
        handled.inc();
        next(status);
      },
    });
  };
}

/** Where the byte counters read from at scrape time (the client listeners' gRPC connections). */
export interface GrpcByteSource {
  takeGrpcBytes(): { received: number; sent: number };
}
