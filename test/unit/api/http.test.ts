// /health, /version, /metrics and the route table, over a real HTTP server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpRoutes, type HttpRoutes } from '../../../src/api/http.js';
import { checkHealth, type HealthSource } from '../../../src/api/httpHealth.js';
import { grpcLabels } from '../../../src/api/metrics.js';
import { createMetrics, type EtcdMetrics } from '../../../src/embed/metrics.js';

let servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
  servers = [];
});

async function serve(routes: HttpRoutes): Promise<string> {
  const s = http.createServer(routes.listener());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function source(over: Partial<HealthSource> = {}): HealthSource {
  return { hasLeader: () => true, activeAlarms: () => [], linearizableRead: async () => undefined, ...over };
}

function setup(
  health: HealthSource | undefined,
  metrics: EtcdMetrics = createMetrics(undefined, { processMetrics: false }),
) {
  return { routes: createHttpRoutes({ metrics, health: () => health }), metrics };
}

describe('/health (etcd 3.4.23 semantics)', () => {
  it('healthy: 200 {"health":"true"} and counts a success', async () => {
    const { routes, metrics } = setup(source());
    const base = await serve(routes);
    const r = await fetch(`${base}/health`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('{"health":"true"}');
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect((await metrics.healthSuccess.get()).values[0]?.value).toBe(1);
  });

  it.each<[string, Partial<HealthSource>, string]>([
    ['an active alarm', { activeAlarms: () => ['NOSPACE'] }, 'ALARM NOSPACE'],
    ['a CORRUPT alarm', { activeAlarms: () => ['CORRUPT'] }, 'ALARM CORRUPT'],
    ['no leader', { hasLeader: () => false }, 'RAFT NO LEADER'],
    [
      'a failing linearizable read',
      { linearizableRead: () => Promise.reject(new Error('etcdserver: leader changed')) },
      'LINEARIZABLE READ FAILED: etcdserver: leader changed',
    ],
  ])('unhealthy on %s: 503', async (_l, over, reason) => {
    const { routes, metrics } = setup(source(over));
    const base = await serve(routes);
    const r = await fetch(`${base}/health`);
    expect(r.status).toBe(503);
    expect(await r.text()).toBe(`${JSON.stringify({ health: 'false', reason })}\n`);
    expect((await metrics.healthFailures.get()).values[0]?.value).toBe(1);
  });

  it('a read that does not finish within 1 s is a timeout', async () => {
    const never = source({ linearizableRead: () => new Promise(() => undefined) });
    const started = Date.now();
    const h = await checkHealth(never, new Set());
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(h).toEqual({ health: 'false', reason: 'LINEARIZABLE READ FAILED: etcdserver: request timed out' });
  });

  it('?exclude=NOSPACE ignores that alarm only', async () => {
    const { routes } = setup(source({ activeAlarms: () => ['NOSPACE'] }));
    const base = await serve(routes);
    expect((await fetch(`${base}/health?exclude=NOSPACE`)).status).toBe(200);
    expect((await fetch(`${base}/health?exclude=CORRUPT`)).status).toBe(503);
  });

  it('no server registered yet: unhealthy, never a crash', async () => {
    const base = await serve(setup(undefined).routes);
    const r = await fetch(`${base}/health`);
    expect(r.status).toBe(503);
  });

  it('only GET (405 with Allow, as etcd)', async () => {
    const base = await serve(setup(source()).routes);
    const r = await fetch(`${base}/health`, { method: 'POST' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET');
  });
});

describe('/version and /metrics', () => {
  it('/version is what clients of etcd 3.4 parse', async () => {
    const base = await serve(setup(source()).routes);
    const r = await fetch(`${base}/version`);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(await r.text()).toBe('{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}');
    expect((await fetch(`${base}/version`, { method: 'PUT' })).status).toBe(405);
  });

  it("/metrics exposes etcd's metric names, identity gauges and process metrics", async () => {
    const metrics = createMetrics({
      memberIdHex: '8e9e05c52164694d',
      serverVersion: '3.4.23',
      clusterVersion: '3.4',
      quotaBackendBytes: 2147483648,
    });
    metrics.hasLeader.set(1);
    metrics.leaderChangesSeen.inc();
    metrics.walFsyncDuration.observe(0.003);
    metrics.grpcStarted.inc(grpcLabels('/etcdserverpb.KV/Range', 'unary'));
    const base = await serve(setup(source(), metrics).routes);
    const r = await fetch(`${base}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    for (const name of [
      'etcd_server_has_leader 1',
      'etcd_server_leader_changes_seen_total 1',
      'etcd_server_id{server_id="8e9e05c52164694d"} 1',
      'etcd_server_version{server_version="3.4.23"} 1',
      'etcd_cluster_version{cluster_version="3.4"} 1',
      'etcd_server_quota_backend_bytes 2147483648',
      'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} 1',
      'grpc_server_started_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Range"} 1',
      '# TYPE etcd_server_proposals_committed_total gauge',
      '# TYPE etcd_server_proposals_failed_total counter',
      '# TYPE etcd_disk_backend_commit_duration_seconds histogram',
      '# TYPE etcd_mvcc_db_total_size_in_bytes gauge',
      '# TYPE etcd_debugging_mvcc_keys_total gauge',
      '# TYPE etcd_network_client_grpc_received_bytes_total counter',
      '# TYPE grpc_server_handled_total counter',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(name);
    }
  });
});

describe('route table', () => {
  it('later layers mount prefixes (the /v3/ gateway); exact paths and the longest prefix win', async () => {
    const { routes } = setup(source());
    routes.prefix('/v3/', (_q, res) => void res.end('gateway'));
    routes.prefix('/v3/kv/', (_q, res) => void res.end('kv'));
    const base = await serve(routes);
    expect(await (await fetch(`${base}/v3/maintenance/status`, { method: 'POST' })).text()).toBe('gateway');
    expect(await (await fetch(`${base}/v3/kv/range`, { method: 'POST' })).text()).toBe('kv');
    expect(await (await fetch(`${base}/health`)).text()).toBe('{"health":"true"}');
    expect(() => routes.path('/health', () => undefined)).toThrow(/already mounted/);
  });

  it('a failing handler answers 500 and the server keeps serving', async () => {
    const { routes } = setup(source());
    routes.path('/boom', () => {
      throw new Error('bad');
    });
    const base = await serve(routes);
    expect((await fetch(`${base}/boom`)).status).toBe(500);
    expect((await fetch(`${base}/version`)).status).toBe(200);
  });
});
