// /metrics of real etcd 3.4 and of xetcd, scraped side by side after the same
// requests: every family etcd exposes is in xetcd with etcd's type, and, where
// both have series, etcd's label names and histogram buckets, unless it is on
// the short list below of families that cannot exist in xetcd.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type ServerInstance } from '../helpers/etcd.js';
import { parseExposition, type Family } from '../helpers/promText.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';

const run = promisify(execFile);

/**
 * Families of etcd 3.4.23 that xetcd does not have, and why. Each has no
 * meaning here; a family that has one belongs in xetcd instead.
 */
const CANNOT_EXIST: Readonly<Record<string, string>> = {
  // The Go runtime: a Node process has V8's equivalents, exposed under their own
  // names (nodejs_*, process_*: heap, GC, event loop lag).
  ...Object.fromEntries(
    [
      'go_gc_duration_seconds',
      'go_goroutines',
      'go_info',
      'go_threads',
      'go_memstats_alloc_bytes',
      'go_memstats_alloc_bytes_total',
      'go_memstats_buck_hash_sys_bytes',
      'go_memstats_frees_total',
      'go_memstats_gc_sys_bytes',
      'go_memstats_heap_alloc_bytes',
      'go_memstats_heap_idle_bytes',
      'go_memstats_heap_inuse_bytes',
      'go_memstats_heap_objects',
      'go_memstats_heap_released_bytes',
      'go_memstats_heap_sys_bytes',
      'go_memstats_last_gc_time_seconds',
      'go_memstats_lookups_total',
      'go_memstats_mallocs_total',
      'go_memstats_mcache_inuse_bytes',
      'go_memstats_mcache_sys_bytes',
      'go_memstats_mspan_inuse_bytes',
      'go_memstats_mspan_sys_bytes',
      'go_memstats_next_gc_bytes',
      'go_memstats_other_sys_bytes',
      'go_memstats_stack_inuse_bytes',
      'go_memstats_stack_sys_bytes',
      'go_memstats_sys_bytes',
    ].map((n) => [n, 'Go runtime; Node runtime metrics are exposed as nodejs_* and process_*']),
  ),
  etcd_server_go_version: 'the Go version etcd was built with; xetcd runs on Node (nodejs_version_info)',
  // bbolt's commit phases: LevelDB writes a batch in one step, timed by etcd_disk_backend_commit_duration_seconds.
  etcd_debugging_disk_backend_commit_rebalance_duration_seconds: "bbolt's B+tree rebalance; LevelDB has none",
  etcd_debugging_disk_backend_commit_spill_duration_seconds: "bbolt's B+tree spill; LevelDB has none",
  etcd_debugging_disk_backend_commit_write_duration_seconds:
    "bbolt's page write phase; LevelDB's batch write is the whole commit (etcd_disk_backend_commit_duration_seconds)",
  // The v2 store, which etcd registers even with v2 off and xetcd does not have at all.
  etcd_debugging_store_expires_total: 'v2 store; xetcd serves only v3',
  etcd_debugging_store_reads_total: 'v2 store; xetcd serves only v3',
  etcd_debugging_store_watch_requests_total: 'v2 store; xetcd serves only v3',
  etcd_debugging_store_watchers: 'v2 store; xetcd serves only v3',
  etcd_debugging_store_writes_total: 'v2 store; xetcd serves only v3',
  // etcd's gRPC proxy (etcd grpc-proxy), whose metrics the server binary registers too.
  etcd_grpc_proxy_cache_hits_total: 'etcd grpc-proxy; xetcd has no proxy mode',
  etcd_grpc_proxy_cache_keys_total: 'etcd grpc-proxy; xetcd has no proxy mode',
  etcd_grpc_proxy_cache_misses_total: 'etcd grpc-proxy; xetcd has no proxy mode',
  etcd_grpc_proxy_events_coalescing_total: 'etcd grpc-proxy; xetcd has no proxy mode',
  etcd_grpc_proxy_watchers_coalescing_total: 'etcd grpc-proxy; xetcd has no proxy mode',
};

async function scrape(endpoint: string): Promise<Map<string, Family>> {
  return parseExposition(await (await fetch(`${endpoint}/metrics`)).text());
}

/** The same requests on both: a put, a get, a txn, a lease, a watch's creation, a compaction, a defrag, a hash. */
async function exercise(endpoint: string): Promise<void> {
  const ctl = (args: string[]) =>
    run('etcdctl', ['--endpoints', endpoint, '--command-timeout=10s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
  await ctl(['put', 'k', 'v']);
  await ctl(['put', 'k', 'v2']);
  await ctl(['get', 'k']);
  await ctl(['del', 'k']);
  await ctl(['lease', 'grant', '60']);
  await ctl(['compact', '2', '--physical']);
  await ctl(['defrag']);
  await ctl(['endpoint', 'hashkv']);
  await ctl(['check', 'datascale', '--load=s']).catch(() => undefined);
}

describe('metric families: etcd 3.4 and xetcd side by side', () => {
  let dir: TempDir;
  let etcd: ServerInstance;
  let xetcd: ServerInstance;
  let etcdFamilies: Map<string, Family>;
  let xetcdFamilies: Map<string, Family>;

  beforeAll(async () => {
    dir = await makeTempDir('xetcd-metrics-');
    // --metrics extensive on both: etcd then has grpc_server_handling_seconds, which etcd's alerts use.
    [etcd, xetcd] = await Promise.all([
      startEtcd({ dataDir: `${dir.path}/etcd`, args: ['--metrics', 'extensive'] }),
      startXetcd({ dataDir: `${dir.path}/xetcd`, args: ['--metrics', 'extensive'] }),
    ]);
    await exercise(etcd.endpoint);
    await exercise(xetcd.endpoint);
    [etcdFamilies, xetcdFamilies] = await Promise.all([scrape(etcd.endpoint), scrape(xetcd.endpoint)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([etcd?.stop(), xetcd?.stop()]);
    await dir?.remove();
  });

  it('every family of etcd is in xetcd with its type, or on the list of families that cannot exist', () => {
    expect(etcdFamilies.size).toBeGreaterThan(100);
    const missing = [...etcdFamilies.values()]
      .filter((f) => CANNOT_EXIST[f.name] === undefined)
      .filter((f) => xetcdFamilies.get(f.name)?.type !== f.type)
      .map((f) => `${f.name} (${f.type}; xetcd: ${xetcdFamilies.get(f.name)?.type ?? 'missing'})`);
    expect(missing).toEqual([]);
  });

  it('the exclusion list names only families etcd really has', () => {
    expect(Object.keys(CANNOT_EXIST).filter((n) => !etcdFamilies.has(n))).toEqual([]);
  });

  it("label names and histogram buckets are etcd's where both have series", () => {
    const differences: string[] = [];
    for (const e of etcdFamilies.values()) {
      const x = xetcdFamilies.get(e.name);
      if (x === undefined || e.samples.length === 0 || x.samples.length === 0) continue;
      const labelsOf = (f: Family) =>
        [...new Set(f.samples.flatMap((s) => Object.keys(s.labels)))].sort().join(',');
      if (labelsOf(e) !== labelsOf(x)) differences.push(`${e.name}: labels ${labelsOf(e)} vs ${labelsOf(x)}`);
      if (e.type === 'histogram') {
        const bucketsOf = (f: Family) =>
          [...new Set(f.samples.filter((s) => s.name.endsWith('_bucket')).map((s) => Number(s.labels['le'])))]
            .sort((a, b) => a - b)
            .join(' ');
        if (bucketsOf(e) !== bucketsOf(x))
          differences.push(`${e.name}: buckets ${bucketsOf(e)} vs ${bucketsOf(x)}`);
      }
    }
    expect(differences).toEqual([]);
  });

  it('grpc_server_* are pre-populated for every method etcd pre-populates, every code of handled', () => {
    const series = (f: Map<string, Family>, name: string) =>
      new Set(f.get(name)?.samples.map((s) => JSON.stringify(Object.entries(s.labels).sort())) ?? []);
    for (const name of [
      'grpc_server_started_total',
      'grpc_server_handled_total',
      'grpc_server_msg_received_total',
      'grpc_server_msg_sent_total',
    ]) {
      const ours = series(xetcdFamilies, name);
      const absent = [...series(etcdFamilies, name)].filter((s) => !ours.has(s));
      expect(absent, name).toEqual([]);
    }
  });

  it('the key space families count what was done (not constants)', () => {
    const value = (name: string) => xetcdFamilies.get(name)?.samples[0]?.value ?? NaN;
    expect(value('etcd_mvcc_put_total')).toBeGreaterThanOrEqual(2);
    expect(value('etcd_debugging_mvcc_put_total')).toBe(value('etcd_mvcc_put_total'));
    expect(value('etcd_mvcc_range_total')).toBeGreaterThanOrEqual(1);
    expect(value('etcd_mvcc_delete_total')).toBeGreaterThanOrEqual(1);
    expect(value('etcd_debugging_mvcc_current_revision')).toBeGreaterThanOrEqual(4);
    expect(value('etcd_debugging_mvcc_compact_revision')).toBe(2);
    expect(value('etcd_debugging_lease_granted_total')).toBeGreaterThanOrEqual(1);
    expect(value('etcd_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    expect(value('etcd_disk_wal_write_bytes_total')).toBeGreaterThan(0);
    expect(value('os_fd_used')).toBeGreaterThan(0);
    const count = (name: string) =>
      xetcdFamilies.get(name)?.samples.find((s) => s.name === `${name}_count`)?.value ?? NaN;
    expect(count('etcd_disk_backend_commit_duration_seconds')).toBeGreaterThan(0);
    expect(count('etcd_disk_backend_defrag_duration_seconds')).toBe(1);
    expect(count('etcd_mvcc_hash_rev_duration_seconds')).toBeGreaterThanOrEqual(1);
    expect(count('etcd_debugging_mvcc_db_compaction_total_duration_milliseconds')).toBe(1);
    expect(count('etcd_debugging_lease_ttl_total')).toBeGreaterThanOrEqual(1);
  });
});
