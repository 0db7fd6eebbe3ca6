// etcd's Grafana dashboard and the alert rules of etcd's Prometheus mixin
// (etcd 3.4's Documentation/etcd-mixin), pointed at a three-member xetcd
// cluster: every metric selector of every expression finds a series.
//
// The expressions are transcribed here by hand. They are not evaluated by a
// PromQL engine: each one's metric selectors (name plus label matchers) are
// extracted and matched against the members' /metrics, which is what decides
// whether a panel or rule has data to work on (rate(), sum() and
// histogram_quantile() of a selector with series always have a value).
// `job` and `instance` are ignored: Prometheus adds them when it scrapes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import { parseExposition, select, selectorsOf, type Family } from '../helpers/promText.js';

const run = promisify(execFile);

const DASHBOARD: readonly string[] = [
  'sum(etcd_server_has_leader{job="$cluster"})',
  'sum(rate(grpc_server_started_total{job="$cluster",grpc_type="unary"}[5m]))',
  'sum(rate(grpc_server_handled_total{job="$cluster",grpc_type="unary",grpc_code!="OK"}[5m]))',
  'sum(grpc_server_started_total{job="$cluster",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{job="$cluster",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"})',
  'sum(grpc_server_started_total{job="$cluster",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{job="$cluster",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"})',
  'etcd_debugging_mvcc_db_total_size_in_bytes{job="$cluster"}',
  'etcd_mvcc_db_total_size_in_bytes{job="$cluster"}',
  'histogram_quantile(0.99, sum(rate(etcd_disk_wal_fsync_duration_seconds_bucket{job="$cluster"}[5m])) by (instance, le))',
  'histogram_quantile(0.99, sum(rate(etcd_disk_backend_commit_duration_seconds_bucket{job="$cluster"}[5m])) by (instance, le))',
  'process_resident_memory_bytes{job="$cluster"}',
  'rate(etcd_network_client_grpc_received_bytes_total{job="$cluster"}[5m])',
  'rate(etcd_network_client_grpc_sent_bytes_total{job="$cluster"}[5m])',
  'sum(rate(etcd_network_peer_received_bytes_total{job="$cluster"}[5m])) by (instance)',
  'sum(rate(etcd_network_peer_sent_bytes_total{job="$cluster"}[5m])) by (instance)',
  'sum(rate(etcd_server_proposals_failed_total{job="$cluster"}[5m]))',
  'sum(etcd_server_proposals_pending{job="$cluster"})',
  'sum(rate(etcd_server_proposals_committed_total{job="$cluster"}[5m]))',
  'sum(rate(etcd_server_proposals_applied_total{job="$cluster"}[5m]))',
  'changes(etcd_server_leader_changes_seen_total{job="$cluster"}[1d])',
];

const SELECTOR = 'job=~".*etcd.*"';

const ALERTS: Readonly<Record<string, string>> = {
  etcdMembersDown: `max by (job) (sum by (job) (up{${SELECTOR}} == bool 0) or count by (job,endpoint) (sum by (job,endpoint,To) (rate(etcd_network_peer_sent_failures_total{${SELECTOR}}[3m])) > 0.01)) > 0`,
  etcdInsufficientMembers: `sum(up{${SELECTOR}} == bool 1) by (job) < ((count(up{${SELECTOR}}) by (job) + 1) / 2)`,
  etcdNoLeader: `etcd_server_has_leader{${SELECTOR}} == 0`,
  etcdHighNumberOfLeaderChanges: `rate(etcd_server_leader_changes_seen_total{${SELECTOR}}[15m]) > 3`,
  etcdHighNumberOfFailedGRPCRequests: `100 * sum(rate(grpc_server_handled_total{${SELECTOR}, grpc_code!="OK"}[5m])) BY (job, instance, grpc_service, grpc_method) / sum(rate(grpc_server_handled_total{${SELECTOR}}[5m])) BY (job, instance, grpc_service, grpc_method) > 1`,
  etcdGRPCRequestsSlow: `histogram_quantile(0.99, sum(rate(grpc_server_handling_seconds_bucket{${SELECTOR}, grpc_type="unary"}[5m])) by (job, instance, grpc_service, grpc_method, le)) > 0.15`,
  etcdMemberCommunicationSlow: `histogram_quantile(0.99, rate(etcd_network_peer_round_trip_time_seconds_bucket{${SELECTOR}}[5m])) > 0.15`,
  etcdHighNumberOfFailedProposals: `rate(etcd_server_proposals_failed_total{${SELECTOR}}[15m]) > 5`,
  etcdHighFsyncDurations: `histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket{${SELECTOR}}[5m])) > 0.5`,
  etcdHighCommitDurations: `histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket{${SELECTOR}}[5m])) > 0.25`,
  etcdHighNumberOfFailedHTTPRequests: `sum(rate(etcd_http_failed_total{${SELECTOR}, code!="404"}[5m])) BY (method) / sum(rate(etcd_http_received_total{${SELECTOR}}[5m])) BY (method) > 0.01`,
  etcdHTTPRequestsSlow:
    'histogram_quantile(0.99, rate(etcd_http_successful_duration_seconds_bucket[5m])) > 0.15',
};

/** Selectors that no etcd 3.4 member has a series for either, and why. */
const NOT_FROM_ETCD: Readonly<Record<string, string>> = {
  up: "Prometheus's own series for each scrape target",
  etcd_http_failed_total:
    "etcd's v2 HTTP API; etcd 3.4 without --enable-v2 does not expose it, xetcd serves no v2",
  etcd_http_received_total:
    "etcd's v2 HTTP API; etcd 3.4 without --enable-v2 does not expose it, xetcd serves no v2",
  etcd_http_successful_duration_seconds_bucket:
    "etcd's v2 HTTP API; etcd 3.4 without --enable-v2 does not expose it, xetcd serves no v2",
};

const PROMETHEUS_TARGET_LABELS = new Set(['job', 'instance', 'endpoint']);

describe("etcd's dashboard and alerts on a three-member xetcd cluster", () => {
  let cluster: TestCluster;
  let scrapes: Map<string, Family>[];

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3, args: ['--metrics', 'extensive'] });
    await cluster.waitForLeader();
    const endpoints = cluster.endpoints().join(',');
    const env = { ...process.env, ETCDCTL_API: '3' };
    await run('etcdctl', ['--endpoints', endpoints, 'put', 'k', 'v'], { env });
    await run('etcdctl', ['--endpoints', endpoints, 'get', 'k'], { env });
    // The leader has measured heartbeat round trips by now; scrape every member, as Prometheus would.
    scrapes = await Promise.all(
      cluster.endpoints().map(async (e) => parseExposition(await (await fetch(`${e}/metrics`)).text())),
    );
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  function unmatched(expr: string): string[] {
    const selectors = selectorsOf(expr);
    expect(selectors.length, expr).toBeGreaterThan(0);
    return selectors
      .filter((s) => NOT_FROM_ETCD[s.metric] === undefined)
      .filter((s) => scrapes.every((f) => select(f, s, PROMETHEUS_TARGET_LABELS).length === 0))
      .map((s) => `${s.metric}{${s.matchers.map((m) => `${m.label}${m.op}"${m.value}"`).join(',')}}`);
  }

  it.each(DASHBOARD.map((e) => [e]))('dashboard: %s', (expr) => {
    expect(unmatched(expr)).toEqual([]);
  });

  it.each(Object.entries(ALERTS))('alert %s', (_name, expr) => {
    expect(unmatched(expr)).toEqual([]);
  });

  it('the selector extraction sees through functions, aggregations and ranges', () => {
    expect(selectorsOf(ALERTS['etcdGRPCRequestsSlow'] ?? '')).toEqual([
      {
        metric: 'grpc_server_handling_seconds_bucket',
        matchers: [
          { label: 'job', op: '=~', value: '.*etcd.*' },
          { label: 'grpc_type', op: '=', value: 'unary' },
        ],
      },
    ]);
    expect(selectorsOf(ALERTS['etcdMembersDown'] ?? '').map((s) => s.metric)).toEqual([
      'up',
      'etcd_network_peer_sent_failures_total',
    ]);
    // A selector nothing matches is reported.
    expect(unmatched('rate(grpc_server_handled_total{grpc_code="NoSuchCode"}[5m])')).toHaveLength(1);
  });
});
