// One member's facts for the dashboard, read from the running server: its
// `endpoint status` figures, the states of its charts, and a sample of the
// metrics behind etcd's Grafana panels (read from the member's own registry,
// so the page shows what /metrics shows).
import { merge, map, type Observable } from 'rxjs';
import type { Registry } from 'prom-client';
import type { StateValue } from 'xstate';
import type { ChartChange, ChartHistory } from '../../server/chartHistory.js';
import type { EtcdServer } from '../../server/etcdServer.js';
import { ETCD_SERVER_VERSION } from '../httpVersion.js';
import { statusErrors } from '../services/maintenance.js';
import type {
  ChartName,
  ClusterMember,
  HistogramTotals,
  MemberStatus,
  MetricsSample,
  StateValueJson,
  Transition,
} from './protocol.js';

/** etcd's quota when --quota-backend-bytes is 0. */
const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

export interface MemberFactsSource {
  readonly server: EtcdServer;
  readonly registry: Registry;
  /** The member lifecycle chart, which runs around the server. */
  readonly lifecycle: ChartHistory;
  readonly now?: () => number;
}

const hexId = (id: bigint): string => id.toString(16);
const json = (value: StateValue): StateValueJson => value as StateValueJson;

export class MemberFacts {
  private readonly now: () => number;

  constructor(private readonly source: MemberFactsSource) {
    this.now = source.now ?? Date.now;
  }

  get selfId(): string {
    return hexId(this.source.server.memberId);
  }

  members(): ClusterMember[] {
    return this.source.server.membership.list().map((m) => ({
      id: hexId(m.id),
      name: m.name,
      peerUrls: m.peerUrls,
      clientUrls: m.clientUrls,
      isLearner: m.isLearner,
    }));
  }

  async status(): Promise<MemberStatus> {
    const s = this.source.server;
    const figures = await s.statusFigures();
    const raft = s.raftChart();
    const self = s.membership.get(s.memberId);
    const lifecycle = this.source.lifecycle.value;
    const parts = s.partsHistory.value;
    return {
      id: this.selfId,
      name: self?.name ?? s.config.name,
      clientUrls: self?.clientUrls ?? s.config.clientUrls,
      role: raft.role,
      states: {
        raft: json(raft.value),
        ...(lifecycle !== undefined ? { memberLifecycle: json(lifecycle) } : {}),
        ...(parts !== undefined ? { serverParts: json(parts) } : {}),
      },
      term: s.raftTerm,
      leader: hexId(s.leader),
      commitIndex: figures.raftIndex,
      appliedIndex: figures.raftApplied,
      revision: s.kv.currentRevision,
      compactRevision: s.kv.compactRevision,
      dbSize: figures.dbSize,
      dbSizeInUse: figures.dbSize,
      quotaBytes: s.config.quotaBackendBytes > 0 ? s.config.quotaBackendBytes : DEFAULT_QUOTA_BYTES,
      isLearner: self?.isLearner ?? false,
      version: ETCD_SERVER_VERSION,
      errors: statusErrors(s),
    };
  }

  private histories(): [ChartName, ChartHistory][] {
    const s = this.source.server;
    return [
      ['raft', s.raftHistory],
      ['memberLifecycle', this.source.lifecycle],
      ['serverParts', s.partsHistory],
    ];
  }

  private transition(chart: ChartName, c: ChartChange): Transition {
    return {
      chart,
      from: json(c.from),
      to: json(c.to),
      event: c.event,
      term: c.term ?? this.source.server.raftTerm,
      at: c.at,
    };
  }

  /** Every state change of the member's charts from now on. */
  transitions$(): Observable<Transition> {
    return merge(
      ...this.histories().map(([chart, history]) =>
        history.changes$.pipe(map((c) => this.transition(chart, c))),
      ),
    );
  }

  /** The changes the charts remember, oldest first. */
  recentTransitions(): Transition[] {
    return this.histories()
      .flatMap(([chart, history]) => history.recent().map((c) => this.transition(chart, c)))
      .sort((a, b) => a.at - b.at);
  }

  /** What moves the status: the leader (and with it the term). Roles move through transitions$. */
  leaderChanged$(): Observable<bigint> {
    return this.source.server.leaderChanged$;
  }

  async sample(): Promise<MetricsSample> {
    const total = (name: string): Promise<number> => this.total(name);
    const histogram = async (name: string): Promise<HistogramTotals> => ({
      sum: await this.total(name, `${name}_sum`),
      count: await this.total(name, `${name}_count`),
    });
    const status = this.source.server;
    return {
      at: this.now(),
      proposalsCommitted: await total('etcd_server_proposals_committed_total'),
      proposalsApplied: await total('etcd_server_proposals_applied_total'),
      proposalsPending: await total('etcd_server_proposals_pending'),
      proposalsFailed: await total('etcd_server_proposals_failed_total'),
      leaderChanges: await total('etcd_server_leader_changes_seen_total'),
      walFsync: await histogram('etcd_disk_wal_fsync_duration_seconds'),
      backendCommit: await histogram('etcd_disk_backend_commit_duration_seconds'),
      dbSize: await total('etcd_mvcc_db_total_size_in_bytes'),
      dbSizeInUse: await total('etcd_mvcc_db_total_size_in_use_in_bytes'),
      quotaBytes: status.config.quotaBackendBytes > 0 ? status.config.quotaBackendBytes : DEFAULT_QUOTA_BYTES,
      clientBytesReceived: await total('etcd_network_client_grpc_received_bytes_total'),
      clientBytesSent: await total('etcd_network_client_grpc_sent_bytes_total'),
      peerBytesReceived: await total('etcd_network_peer_received_bytes_total'),
      peerBytesSent: await total('etcd_network_peer_sent_bytes_total'),
      watchStreams: await total('etcd_debugging_mvcc_watch_stream_total'),
      watchers: await total('etcd_debugging_mvcc_watcher_total'),
    };
  }

  /** A family's values summed over its labels (0 when the family is absent). */
  private async total(family: string, series = family): Promise<number> {
    const metric = this.source.registry.getSingleMetric(family);
    if (metric === undefined) return 0;
    const { values } = await metric.get();
    let sum = 0;
    for (const v of values)
      if (((v as { metricName?: string }).metricName ?? family) === series) sum += v.value;
    return sum;
  }
}
