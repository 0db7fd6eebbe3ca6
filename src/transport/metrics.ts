/**
 * The peer transport's metrics: etcd's etcd_network_* names and labels where
 * the concept exists (dashboards built for etcd read them as they are),
 * xetcd_peer_dropped_messages_total for what a member refused to hear, and
 * xetcd_peer_rejected_messages_total for what failed the peer seal's checks.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type DropReason =
  | 'undecodable'
  | 'other-cluster'
  | 'not-addressed-here'
  | 'removed-member'
  | 'fragment-gap'
  | 'fragment-undecodable'
  | 'malformed'
  | 'rejected-by-raft';

export interface TransportMetrics {
  readonly sentBytes: Counter<'To'>;
  readonly receivedBytes: Counter<'From'>;
  readonly sentFailures: Counter<'To'>;
  readonly droppedMessages: Counter<'reason'>;
  /** Messages that failed the --peer-key-file checks, by reason (peerSeal.ts RejectReason). */
  readonly rejectedMessages: Counter<'reason'>;
  readonly activePeers: Gauge<'Local' | 'Remote'>;
  readonly disconnectedPeers: Counter<'Local' | 'Remote'>;
  readonly snapshotSendSuccess: Counter<'To'>;
  readonly snapshotSendFailures: Counter<'To'>;
  readonly snapshotSendSeconds: Histogram<'To'>;
  readonly snapshotSendInflights: Gauge<'To'>;
  readonly snapshotReceiveSuccess: Counter<'From'>;
  readonly snapshotReceiveFailures: Counter<'From'>;
  readonly snapshotReceiveSeconds: Histogram<'From'>;
  readonly natsConnected: Gauge;
  readonly roundTripSeconds: Histogram<'To'>;
  /** A snapshot's state from the leader written to its .snap.db file: its fsync, and the whole save. */
  readonly snapDbFsync: Histogram;
  readonly snapDbSaveTotal: Histogram;
}

/** etcd's snapshot duration buckets: prometheus.ExponentialBuckets(0.1, 2, 11). */
const SNAPSHOT_BUCKETS = Array.from({ length: 11 }, (_, i) => 0.1 * 2 ** i);

export function createTransportMetrics(registry: Registry): TransportMetrics {
  const registers = [registry];
  return {
    sentBytes: new Counter({
      name: 'etcd_network_peer_sent_bytes_total',
      help: 'The total number of bytes sent to peers.',
      labelNames: ['To'],
      registers,
    }),
    receivedBytes: new Counter({
      name: 'etcd_network_peer_received_bytes_total',
      help: 'The total number of bytes received from peers.',
      labelNames: ['From'],
      registers,
    }),
    sentFailures: new Counter({
      name: 'etcd_network_peer_sent_failures_total',
      help: 'The total number of send failures from peers.',
      labelNames: ['To'],
      registers,
    }),
    droppedMessages: new Counter({
      name: 'xetcd_peer_dropped_messages_total',
      help: 'Peer messages dropped before reaching Raft, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    rejectedMessages: new Counter({
      name: 'xetcd_peer_rejected_messages_total',
      help: 'Peer messages refused by the peer-key checks (MAC, replay, sender), by reason.',
      labelNames: ['reason'],
      registers,
    }),
    activePeers: new Gauge({
      name: 'etcd_network_active_peers',
      help: 'The current number of active peer connections.',
      labelNames: ['Local', 'Remote'],
      registers,
    }),
    disconnectedPeers: new Counter({
      name: 'etcd_network_disconnected_peers_total',
      help: 'The total number of disconnected peers.',
      labelNames: ['Local', 'Remote'],
      registers,
    }),
    snapshotSendSuccess: new Counter({
      name: 'etcd_network_snapshot_send_success',
      help: 'Total number of successful snapshot sends',
      labelNames: ['To'],
      registers,
    }),
    snapshotSendFailures: new Counter({
      name: 'etcd_network_snapshot_send_failures',
      help: 'Total number of snapshot send failures',
      labelNames: ['To'],
      registers,
    }),
    snapshotSendSeconds: new Histogram({
      name: 'etcd_network_snapshot_send_total_duration_seconds',
      help: 'Total latency distributions of v3 snapshot sends',
      labelNames: ['To'],
      buckets: SNAPSHOT_BUCKETS,
      registers,
    }),
    snapshotSendInflights: new Gauge({
      name: 'etcd_network_snapshot_send_inflights_total',
      help: 'Total number of inflight snapshot sends',
      labelNames: ['To'],
      registers,
    }),
    snapshotReceiveSuccess: new Counter({
      name: 'etcd_network_snapshot_receive_success',
      help: 'Total number of successful snapshot receives',
      labelNames: ['From'],
      registers,
    }),
    snapshotReceiveFailures: new Counter({
      name: 'etcd_network_snapshot_receive_failures',
      help: 'Total number of snapshot receive failures',
      labelNames: ['From'],
      registers,
    }),
    snapshotReceiveSeconds: new Histogram({
      name: 'etcd_network_snapshot_receive_total_duration_seconds',
      help: 'Total latency distributions of v3 snapshot receives',
      labelNames: ['From'],
      buckets: SNAPSHOT_BUCKETS,
      registers,
    }),
    natsConnected: new Gauge({
      name: 'xetcd_nats_connected',
      help: 'Whether the member is connected to a NATS server (1) or not (0).',
      registers,
    }),
    snapDbFsync: new Histogram({
      name: 'etcd_snap_db_fsync_duration_seconds',
      help: 'The latency distributions of fsyncing .snap.db file',
      buckets: Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i),
      registers,
    }),
    snapDbSaveTotal: new Histogram({
      name: 'etcd_snap_db_save_total_duration_seconds',
      help: 'The total latency distributions of v3 snapshot save',
      buckets: Array.from({ length: 10 }, (_, i) => 0.1 * 2 ** i),
      registers,
    }),
    roundTripSeconds: new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds',
      help: 'Round-Trip-Time histogram between peers',
      labelNames: ['To'],
      // prometheus.ExponentialBuckets(0.0001, 2, 14), as etcd's.
      buckets: Array.from({ length: 14 }, (_, i) => 0.0001 * 2 ** i),
      registers,
    }),
  };
}
