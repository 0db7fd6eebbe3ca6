// Client load generator for any etcd v3 endpoints (etcd 3.4 or xetcd), over raw gRPC.
// Modelled on etcd's own `benchmark` tool: --conns gRPC connections shared by --clients
// concurrent callers, --total requests, the same workload names, and a summary with
// throughput and latency percentiles. --compare starts a real etcd and an xetcd (each alone,
// one after the other, on fresh temp dirs), runs the same workloads on both, and prints the
// ratio xetcd/etcd; --auth adds configurations with auth on (simple or JWT tokens) and a table
// of their cost. Usage: npm run bench -- --help
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  EtcdRpcClient,
  rangeSucceeds,
} from '../test/helpers/etcdRpc.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { EtcdCluster } from '../test/helpers/etcdCluster.js';
import { TestCluster } from '../test/helpers/cluster.js';
import { startXetcd } from '../test/helpers/xetcd.js';
import { makeTempDir } from '../test/helpers/tempdir.js';
import {
  AUTH_MODES,
  BENCH_USER,
  authServerArgs,
  enableAuth,
  tokensFor,
  type AuthMode,
  type Credentials,
} from './auth.js';
import { INSPECT_MODES, startInspection, type InspectMode } from './inspect.js';
import { cpuMicros } from './procCpu.js';
import { rowLabel, rowsOf, SCANS, TABLE, WORKLOADS, type RowSpec, type Workload } from './rows.js';

interface Options {
  endpoints: string[];
  conns: number;
  clients: number;
  total: number;
  warmup: number;
  keySize: number;
  valSize: number;
  keySpaceSize: number;
  sequentialKeys: boolean;
  txnOps: number;
  rate: number;
  watchers: number;
  putRate: number;
  putTotal: number;
  scanKeys: number;
  scanTotal: number;
  workloads: Workload[];
  json: boolean;
  compare: boolean;
  xetcdArgs: string[];
  etcdArgs: string[];
  servers: ('etcd' | 'xetcd')[];
  rounds: number;
  /** --compare: members per cluster (1: a single server; more: xetcd over NATS, etcd over its peer HTTP). */
  cluster: number;
  /** --compare: the cluster sizes to compare, one table each. */
  clusters: number[];
  /** --compare: the rows are TABLE instead of --workload × --clients. */
  table: boolean;
  /** --compare: also write the tables to <out>.md and the results to <out>.json. */
  out: string | undefined;
  /** --compare: the auth configurations each server runs in, the first being the comparison's. */
  auth: AuthMode[];
  /** --compare: write CPU profiles of the xetcd members here. */
  profile: string | undefined;
  /** Direct runs against a server with auth on: who the load authenticates as. */
  user: Credentials | undefined;
  /** The token each endpoint takes (what Authenticate answered there); none when auth is off. */
  tokens?: ReadonlyMap<string, string>;
  /** --compare: xetcd with --inspect and someone reading all of it (bench/inspect.ts). */
  inspect: InspectMode;
  /** --compare, one server: its process, whose CPU time the measured requests are charged. */
  serverPid?: number;
}

interface LatencySummary {
  readonly min: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

interface Result {
  readonly workload: Workload;
  readonly target: string;
  readonly endpoints: string[];
  readonly conns: number;
  readonly clients: number;
  readonly total: number;
  /** Unmeasured requests of the same workload before the measured ones. */
  readonly warmup: number;
  readonly keySize: number;
  readonly valSize: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  /** Watch latency: events delivered (puts × watchers); other workloads: requests done. */
  readonly samples: number;
  readonly errors: number;
  readonly errorKinds: Record<string, number>;
  /** Milliseconds. */
  readonly latencyMs: LatencySummary;
  /**
   * The server's CPU time per measured request (user + system, microseconds), when
   * --compare started one server: unlike throughput, it hardly moves with the load of
   * other processes on the machine.
   */
  readonly serverCpuUsPerOp?: number;
}

// ---------------------------------------------------------------- measurement

class Recorder {
  private readonly samples: Float64Array;
  private n = 0;
  errors = 0;
  readonly errorKinds: Record<string, number> = {};

  constructor(capacity: number) {
    this.samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    if (this.n < this.samples.length) this.samples[this.n++] = ms;
  }

  fail(err: unknown): void {
    this.errors++;
    const msg = err instanceof Error ? err.message : String(err);
    const kind = msg.length > 120 ? `${msg.slice(0, 117)}...` : msg;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }

  get count(): number {
    return this.n;
  }

  summary(): LatencySummary {
    const s = this.samples.slice(0, this.n).sort();
    if (s.length === 0) return { min: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    let sum = 0;
    for (const v of s) sum += v;
    const mean = sum / s.length;
    let sq = 0;
    for (const v of s) sq += (v - mean) ** 2;
    // Nearest-rank percentiles, as etcd's benchmark reports them.
    const pct = (p: number): number =>
      s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
    return {
      min: s[0]!,
      mean,
      stddev: Math.sqrt(sq / s.length),
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      p999: pct(99.9),
      max: s[s.length - 1]!,
    };
  }
}

/** A progress line on stderr: rewritten in place on a terminal, one line every 5 s otherwise. */
function startProgress(label: string, total: number, done: () => number): () => void {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let lastPrint = 0;
  const timer = setInterval(
    () => {
      const now = performance.now();
      const d = done();
      const secs = (now - started) / 1000;
      const line = `${label}: ${d}/${total} (${((100 * d) / total).toFixed(1)}%) ${(d / secs).toFixed(0)} ops/s ${secs.toFixed(1)}s`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (now - lastPrint >= 5_000) {
        process.stderr.write(`${line}\n`);
        lastPrint = now;
      }
    },
    tty ? 250 : 1_000,
  );
  return () => {
    clearInterval(timer);
    if (tty) process.stderr.write('\r\x1b[K');
  };
}

// ---------------------------------------------------------------- workloads

function fixedBytes(size: number, fill: number): Buffer {
  return Buffer.alloc(size, fill);
}

function makeKey(opts: Options, i: number): Buffer {
  const n = opts.sequentialKeys ? i % opts.keySpaceSize : Math.floor(Math.random() * opts.keySpaceSize);
  // Fixed-size keys, as etcd's benchmark: the key's number in decimal, right-aligned, padded with 'a'.
  const digits = String(n);
  const key = Buffer.alloc(opts.keySize, 0x61);
  key.write(digits.slice(-opts.keySize), Math.max(0, opts.keySize - digits.length));
  return key;
}

type Op = (client: EtcdRpcClient, i: number) => Promise<unknown>;

async function runClosedLoop(
  opts: Options,
  conns: EtcdRpcClient[],
  label: string,
  op: Op,
): Promise<{ rec: Recorder; seconds: number }> {
  const rec = new Recorder(opts.total);
  let issued = 0;
  let completed = 0;
  const interval = opts.rate > 0 ? 1000 / opts.rate : 0;
  const started = performance.now();
  const stop = startProgress(label, opts.total, () => completed);
  const worker = async (w: number): Promise<void> => {
    const conn = conns[w % conns.length]!;
    for (;;) {
      const i = issued++;
      if (i >= opts.total) return;
      if (interval > 0) {
        const due = started + i * interval;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const t0 = performance.now();
      try {
        await op(conn, i);
        rec.record(performance.now() - t0);
      } catch (err) {
        rec.fail(err);
      }
      completed++;
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, (_, w) => worker(w)));
  stop();
  return { rec, seconds: (performance.now() - started) / 1000 };
}

async function runWatchLatency(
  opts: Options,
  conns: EtcdRpcClient[],
  label: string,
): Promise<{ rec: Recorder; seconds: number }> {
  const puts = opts.putTotal;
  const key = Buffer.from('bench-watch-latency');
  const streams = conns.map((c) => c.watch());
  const rec = new Recorder(puts * opts.watchers);
  const sentAt = new Float64Array(puts);
  let events = 0;
  let created = 0;
  const allCreated = new Promise<void>((resolve) => {
    streams.forEach((s) =>
      s.onResponse((res) => {
        if (res.created) {
          created++;
          if (created === opts.watchers) resolve();
        }
        const now = performance.now();
        for (const ev of res.events) {
          const idx = Number(Buffer.from(ev.kv?.value ?? new Uint8Array()).toString('latin1', 0, 10));
          if (Number.isInteger(idx) && idx >= 0 && idx < puts) rec.record(now - sentAt[idx]!);
          events++;
        }
      }),
    );
  });
  for (let w = 0; w < opts.watchers; w++) streams[w % streams.length]!.create({ key });
  await allCreated;

  // Each value starts with its put's index, so every watcher's event finds its send time.
  const valueFor = (i: number): Buffer => {
    const v = Buffer.alloc(Math.max(10, opts.valSize), 0x78);
    v.write(String(i).padStart(10, '0'), 0, 'latin1');
    return v;
  };
  const expected = puts * opts.watchers;
  const started = performance.now();
  const stop = startProgress(label, expected, () => events);
  const interval = 1000 / opts.putRate;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < puts; i++) {
    const wait = started + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt[i] = performance.now();
    pending.push(
      conns[i % conns.length]!.put({ key, value: valueFor(i) }).catch((err: unknown) => rec.fail(err)),
    );
  }
  await Promise.all(pending);
  const deadline = performance.now() + 10_000;
  while (events < expected && performance.now() < deadline) await sleep(20);
  stop();
  if (events < expected) rec.fail(new Error(`watch events missing: got ${events} of ${expected}`));
  const seconds = (performance.now() - started) / 1000;
  streams.forEach((s) => s.close());
  return { rec, seconds };
}

/** Etcd's default --max-txn-ops: the most puts one txn may carry. */
const MAX_TXN_OPS = 128;

/**
 * Writes --scan-keys keys under one prefix, once per server (the scan
 * workloads share them), with many puts per txn; returns the prefix.
 */
async function fillScanPrefix(opts: Options, conns: EtcdRpcClient[], value: Buffer): Promise<Buffer> {
  const prefix = Buffer.from('scan/');
  const have = await conns[0]!.range(
    { key: prefix, rangeEnd: Buffer.from('scan0'), countOnly: true },
    60_000,
  );
  if (Number(have.count) >= opts.scanKeys) return prefix;
  const txns = Math.ceil(opts.scanKeys / MAX_TXN_OPS);
  let next = 0;
  let done = 0;
  const stop = startProgress(
    `writing ${opts.scanKeys} keys under ${prefix.toString()}`,
    opts.scanKeys,
    () => done,
  );
  const writer = async (w: number): Promise<void> => {
    for (let t = next++; t < txns; t = next++) {
      const first = t * MAX_TXN_OPS;
      const count = Math.min(MAX_TXN_OPS, opts.scanKeys - first);
      await conns[w % conns.length]!.txn(
        {
          success: Array.from({ length: count }, (_, j) => ({
            requestPut: {
              key: Buffer.concat([prefix, Buffer.from(String(first + j).padStart(8, '0'))]),
              value,
              lease: 0n,
              prevKv: false,
              ignoreValue: false,
              ignoreLease: false,
            },
          })),
        },
        60_000,
      );
      done += count;
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
  stop();
  return prefix;
}

async function runWorkload(opts: Options, workload: Workload, target: string): Promise<Result> {
  const conns = Array.from({ length: opts.conns }, (_, i) => {
    const endpoint = opts.endpoints[i % opts.endpoints.length]!;
    const token = opts.tokens?.get(endpoint);
    return new EtcdRpcClient(endpoint, token !== undefined ? { token } : {});
  });
  const value = fixedBytes(opts.valSize, 0x76);
  const label = `${target} ${workload}`;
  // A server that compiles its hot paths at run time (V8's JIT) is measured
  // after the same number of warm-up requests as one that does not.
  const measured = async (op: Op): Promise<{ rec: Recorder; seconds: number; cpuUs?: number }> => {
    if (opts.warmup > 0) await runClosedLoop({ ...opts, total: opts.warmup }, conns, `${label} warm-up`, op);
    const cpuBefore = cpuMicros(opts.serverPid);
    const run = await runClosedLoop(opts, conns, label, op);
    const cpuAfter = cpuMicros(opts.serverPid);
    return cpuBefore !== undefined && cpuAfter !== undefined ? { ...run, cpuUs: cpuAfter - cpuBefore } : run;
  };
  try {
    let run: { rec: Recorder; seconds: number; cpuUs?: number };
    switch (workload) {
      case 'put':
        run = await measured((c, i) => c.put({ key: makeKey(opts, i), value }));
        break;
      case 'range-linearizable':
      case 'range-serializable': {
        // As `benchmark range <key>`: every request reads the same existing key.
        const key = makeKey({ ...opts, sequentialKeys: true }, 0);
        await conns[0]!.put({ key, value });
        const serializable = workload === 'range-serializable';
        run = await measured((c) => c.range({ key, serializable }));
        break;
      }
      case 'txn':
        // As `benchmark txn-put`: no compares, --txn-ops puts on distinct keys.
        run = await measured((c, i) =>
          c.txn({
            success: Array.from({ length: opts.txnOps }, (_, j) => ({
              requestPut: {
                key: makeKey({ ...opts, sequentialKeys: true }, i * opts.txnOps + j),
                value,
                lease: 0n,
                prevKv: false,
                ignoreValue: false,
                ignoreLease: false,
              },
            })),
          }),
        );
        break;
      case 'txn-compare': {
        // One compare on the key it then writes (always true: its mod revision is below 2^62) and one put.
        run = await measured((c, i) => {
          const key = makeKey(opts, i);
          return c.txn({
            compare: [
              {
                result: Compare_CompareResult.LESS,
                target: Compare_CompareTarget.MOD,
                key,
                modRevision: 2 ** 62,
                rangeEnd: new Uint8Array(),
              },
            ],
            success: [
              {
                requestPut: { key, value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false },
              },
            ],
          });
        });
        break;
      }
      case 'lease-keepalive': {
        // As `benchmark lease-keepalive`: one lease, each request a keep-alive on a stream of its own.
        const { id } = await conns[0]!.leaseGrant(100);
        run = await measured((c) => c.leaseKeepAliveOnce(id));
        break;
      }
      case 'watch-latency':
        run = await runWatchLatency(opts, conns, label);
        break;
      case 'range-prefix':
      case 'range-keys-only':
      case 'range-count-only': {
        const prefix = await fillScanPrefix(opts, conns, value);
        const rangeEnd = Buffer.from(prefix);
        rangeEnd[rangeEnd.length - 1]! += 1;
        const scan = {
          key: prefix,
          rangeEnd,
          keysOnly: workload === 'range-keys-only',
          countOnly: workload === 'range-count-only',
        };
        run = await runClosedLoop({ ...opts, total: opts.scanTotal }, conns, label, (c) =>
          c.range(scan, 60_000).then((r) => {
            const seen = Number(r.count);
            if (seen !== opts.scanKeys) throw new Error(`range saw ${seen} keys, not ${opts.scanKeys}`);
          }),
        );
        break;
      }
    }
    const samples = run.rec.count;
    return {
      workload,
      target,
      endpoints: opts.endpoints,
      conns: opts.conns,
      clients: opts.clients,
      total: workload === 'watch-latency' ? opts.putTotal : SCANS.has(workload) ? opts.scanTotal : opts.total,
      warmup: workload === 'watch-latency' || SCANS.has(workload) ? 0 : opts.warmup,
      keySize: opts.keySize,
      valSize: opts.valSize,
      seconds: run.seconds,
      opsPerSec: samples / run.seconds,
      samples,
      errors: run.rec.errors,
      errorKinds: run.rec.errorKinds,
      latencyMs: run.rec.summary(),
      ...(run.cpuUs !== undefined && samples > 0 ? { serverCpuUsPerOp: run.cpuUs / samples } : {}),
    };
  } finally {
    conns.forEach((c) => c.close());
  }
}

// ---------------------------------------------------------------- output

const secs = (ms: number): string => (ms / 1000).toFixed(4);

function printResult(r: Result): void {
  const l = r.latencyMs;
  const unit = r.workload === 'watch-latency' ? 'Events/sec' : 'Requests/sec';
  const lines = [
    `\n${r.workload} against ${r.target} (${r.endpoints.join(',')}), ${r.conns} conns, ${r.clients} clients, ${r.total} ${r.workload === 'watch-latency' ? 'puts' : 'requests'}, key ${r.keySize} B, value ${r.valSize} B`,
    'Summary:',
    `  Total:\t${r.seconds.toFixed(4)} secs.`,
    `  Slowest:\t${secs(l.max)} secs.`,
    `  Fastest:\t${secs(l.min)} secs.`,
    `  Average:\t${secs(l.mean)} secs.`,
    `  Stddev:\t${secs(l.stddev)} secs.`,
    `  ${unit}:\t${r.opsPerSec.toFixed(1)}`,
    'Latency distribution:',
    `  50% in ${secs(l.p50)} secs.`,
    `  90% in ${secs(l.p90)} secs.`,
    `  99% in ${secs(l.p99)} secs.`,
    `  99.9% in ${secs(l.p999)} secs.`,
    `  max ${secs(l.max)} secs.`,
  ];
  if (r.serverCpuUsPerOp !== undefined)
    lines.push(`Server CPU:\t${r.serverCpuUsPerOp.toFixed(1)} µs per request`);
  if (r.errors > 0) {
    lines.push(`Errors: ${r.errors}`);
    for (const [k, n] of Object.entries(r.errorKinds)) lines.push(`  [${n}] ${k}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** A Markdown table with padded columns. */
function markdownTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

interface Row {
  readonly spec: RowSpec;
  etcd?: Result;
  xetcd?: Result;
  xetcdError?: string;
}

function comparisonTable(rows: readonly Row[]): string {
  const fmt = (n: number | undefined, d = 0): string => (n === undefined ? '-' : n.toFixed(d));
  // A whole-prefix read does a few per second: its throughput needs a decimal.
  const ops = (n: number | undefined): string => fmt(n, n !== undefined && n < 100 ? 1 : 0);
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2);
  const header = [
    'workload',
    'etcd ops/s',
    'xetcd ops/s',
    'ratio',
    'etcd p50 ms',
    'xetcd p50 ms',
    'etcd p99 ms',
    'xetcd p99 ms',
    'p99 ratio',
  ];
  const body = rows.map((r) => [
    rowLabel(r.spec),
    ops(r.etcd?.opsPerSec),
    r.xetcd ? ops(r.xetcd.opsPerSec) : 'failed',
    ratio(r.xetcd?.opsPerSec, r.etcd?.opsPerSec),
    fmt(r.etcd?.latencyMs.p50, 2),
    fmt(r.xetcd?.latencyMs.p50, 2),
    fmt(r.etcd?.latencyMs.p99, 2),
    fmt(r.xetcd?.latencyMs.p99, 2),
    ratio(r.xetcd?.latencyMs.p99, r.etcd?.latencyMs.p99),
  ]);
  const failures = rows
    .filter((r) => r.xetcdError)
    .map((r) => `xetcd ${rowLabel(r.spec)}: ${r.xetcdError}\n`);
  return `${markdownTable(header, body)}\n(ratio = xetcd/etcd: above 1 for ops/s and below 1 for latency means xetcd is ahead)\n${failures.join('')}`;
}

// ---------------------------------------------------------------- modes

/** What --compare runs a workload against: one server, or a cluster's members, and how to stop it. */
interface Deployment {
  readonly endpoints: string[];
  /** The server's process, when it is one server. */
  readonly pid?: number;
  /** Per endpoint, the bench user's token when auth is on. */
  readonly tokens?: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

/** A server (or cluster) of `kind` as --compare runs it, with auth enabled as `auth` says. */
async function deploy(kind: 'etcd' | 'xetcd', opts: Options, auth: AuthMode): Promise<Deployment> {
  const dir = await makeTempDir(`xetcd-bench-${kind}-`);
  let started: Deployment | undefined;
  const inspection =
    kind === 'xetcd' && opts.inspect !== 'off' ? await startInspection(opts.inspect) : undefined;
  try {
    const extra = await authServerArgs(auth, dir.path);
    const args = [
      ...(kind === 'etcd' ? opts.etcdArgs : opts.xetcdArgs),
      ...extra,
      ...(inspection?.args ?? []),
    ];
    // Node writes the profile when the member exits, one file per process.
    const nodeArgs = opts.profile !== undefined ? ['--cpu-prof', '--cpu-prof-dir', opts.profile] : [];
    if (opts.cluster > 1) {
      // xetcd members reach NATS directly: the fault proxies of the tests would be measured too.
      const c =
        kind === 'etcd'
          ? await EtcdCluster.start({ size: opts.cluster, args })
          : await TestCluster.start({ size: opts.cluster, args, direct: true, nodeArgs });
      started = { endpoints: c.endpoints(), stop: () => c.stop() };
    } else {
      const server =
        kind === 'etcd'
          ? await startEtcd({ dataDir: join(dir.path, 'data'), args })
          : await startXetcd({ dataDir: join(dir.path, 'data'), args, nodeArgs });
      started = { endpoints: [server.endpoint], pid: server.process.pid, stop: () => server.stop(10_000) };
    }
    const { endpoints, pid, stop } = started;
    await inspection?.attach(endpoints);
    const cleanUp = async (): Promise<void> => {
      const read = await inspection?.stop();
      if (read !== undefined)
        process.stderr.write(
          `inspection (${opts.inspect}): ${read.messages} messages, ${read.bytes} bytes read\n`,
        );
      await stop();
      await dir.remove();
    };
    const where = { endpoints, ...(pid !== undefined ? { pid } : {}) };
    if (auth === 'off') return { ...where, stop: cleanUp };
    await enableAuth(endpoints[0]!);
    return { ...where, tokens: await tokensFor(endpoints, BENCH_USER), stop: cleanUp };
  } catch (err) {
    await inspection?.stop();
    await started?.stop();
    await dir.remove();
    throw err;
  }
}

async function withServer<T>(
  kind: 'etcd' | 'xetcd',
  opts: Options,
  auth: AuthMode,
  fn: (deployment: Deployment) => Promise<T>,
): Promise<T> {
  let deployment: Deployment | undefined;
  const onSignal = (): void => {
    void (deployment?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    deployment = await deploy(kind, opts, auth);
    return await fn(deployment);
  } finally {
    process.off('SIGINT', onSignal);
    await deployment?.stop();
  }
}

/**
 * The median run: one noisy round on a shared machine does not decide the table. By
 * throughput, except for watch latency, whose throughput is the fixed put rate: by p50.
 */
function median(results: Result[]): Result | undefined {
  if (results.length === 0) return undefined;
  const key = (r: Result): number => (r.workload === 'watch-latency' ? -r.latencyMs.p50 : r.opsPerSec);
  const sorted = [...results].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** --auth with more than one mode: per server and row, each mode's ops/s and its ratio to the first. */
function authCostTable(
  runs: ReadonlyMap<string, Map<string, Result[]>>,
  rows: readonly Row[],
  opts: Options,
): string {
  const [base, ...others] = opts.auth;
  if (base === undefined || others.length === 0) return '';
  const header = [
    'server',
    'row',
    ...opts.auth.map((m) => `${m} ops/s`),
    ...others.map((m) => `${m}/${base}`),
  ];
  const body: string[][] = [];
  for (const kind of opts.servers)
    for (const { spec } of rows) {
      const ops = opts.auth.map(
        (m) => median(runs.get(configLabel(kind, m, opts))?.get(rowLabel(spec)) ?? [])?.opsPerSec,
      );
      const ratios = ops
        .slice(1)
        .map((o) => (o === undefined || ops[0] === undefined ? '-' : (o / ops[0]).toFixed(2)));
      body.push([
        kind,
        rowLabel(spec),
        ...ops.map((o) => (o === undefined ? 'failed' : o.toFixed(0))),
        ...ratios,
      ]);
    }
  return `\nThe cost of auth (medians; ratio to auth ${base}):\n${markdownTable(header, body)}\n`;
}

/** A configuration's name: the server, and its auth mode when --auth names more than one. */
function configLabel(kind: 'etcd' | 'xetcd', auth: AuthMode, opts: Options): string {
  return opts.auth.length > 1 ? `${kind}/auth-${auth}` : kind;
}

/** One cluster size: the rounds alternating the servers, and per row the median of each. */
async function compareCluster(
  opts: Options,
  specs: readonly RowSpec[],
): Promise<{ rows: Row[]; results: Result[]; text: string }> {
  const rows: Row[] = specs.map((spec) => ({ spec }));
  const runs = new Map<string, Map<string, Result[]>>();
  const results: Result[] = [];
  // Rounds alternate the configurations (etcd, xetcd, etcd, xetcd, ...; each auth mode of each
  // server in turn) so that a change in the machine's background load hits all of them; each
  // server runs alone on a fresh data dir.
  for (let round = 1; round <= opts.rounds; round++) {
    for (const auth of opts.auth) {
      for (const kind of opts.servers) {
        const config = configLabel(kind, auth, opts);
        const label = opts.rounds > 1 ? `${config}#${round}` : config;
        const byRow = runs.get(config) ?? new Map<string, Result[]>();
        runs.set(config, byRow);
        try {
          await withServer(kind, opts, auth, async ({ endpoints, tokens, pid }) => {
            for (const row of rows) {
              const { workload, clients, conns, watchers } = row.spec;
              try {
                const r = await runWorkload(
                  {
                    ...opts,
                    clients,
                    conns,
                    watchers,
                    endpoints,
                    ...(tokens ? { tokens } : {}),
                    ...(pid !== undefined ? { serverPid: pid } : {}),
                  },
                  workload,
                  label,
                );
                results.push(r);
                byRow.set(rowLabel(row.spec), [...(byRow.get(rowLabel(row.spec)) ?? []), r]);
                if (!opts.json) printResult(r);
              } catch (err) {
                if (kind === 'xetcd') row.xetcdError = err instanceof Error ? err.message : String(err);
                else throw err;
              }
            }
          });
        } catch (err) {
          if (kind === 'etcd') throw err;
          const msg = err instanceof Error ? err.message : String(err);
          process.stderr.write(`${config} did not start or stop cleanly:\n${msg}\n`);
          for (const row of rows) row.xetcdError ??= `${config} did not start: ${msg.split('\n')[0]!}`;
        }
      }
    }
  }
  const base = opts.auth[0]!;
  for (const row of rows) {
    const e = median(runs.get(configLabel('etcd', base, opts))?.get(rowLabel(row.spec)) ?? []);
    const x = median(runs.get(configLabel('xetcd', base, opts))?.get(rowLabel(row.spec)) ?? []);
    if (e) row.etcd = e;
    if (x) row.xetcd = x;
  }
  const heading =
    `${opts.cluster === 1 ? 'One member' : `${opts.cluster} members (xetcd over NATS, etcd over its peer HTTP)`}` +
    `${opts.rounds > 1 ? `, median of ${opts.rounds} alternating rounds per server (by ops/s; watch latency by p50)` : ''}` +
    `${opts.auth.length > 1 ? `, auth ${base}` : ''}:`;
  return { rows, results, text: `${heading}\n\n${comparisonTable(rows)}${authCostTable(runs, rows, opts)}` };
}

/** Where and when a comparison ran, for the written tables. */
function machineLine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at the end`;
}

async function compare(opts: Options): Promise<void> {
  const specs = opts.table
    ? TABLE
    : rowsOf(opts.workloads, { clients: opts.clients, conns: opts.conns, watchers: opts.watchers });
  const tables: { cluster: number; rows: Row[]; text: string }[] = [];
  const results: Result[] = [];
  for (const cluster of opts.clusters) {
    const t = await compareCluster({ ...opts, cluster }, specs);
    tables.push({ cluster, ...t });
    results.push(...t.results);
    if (!opts.json) process.stdout.write(`\n${t.text}`);
  }
  const json = {
    rounds: opts.rounds,
    tables: tables.map((t) => ({
      cluster: t.cluster,
      comparison: t.rows.map((r) => ({
        row: rowLabel(r.spec),
        ...r.spec,
        etcdOpsPerSec: r.etcd?.opsPerSec ?? null,
        xetcdOpsPerSec: r.xetcd?.opsPerSec ?? null,
        ratioOpsPerSec: r.etcd && r.xetcd ? r.xetcd.opsPerSec / r.etcd.opsPerSec : null,
        etcdLatencyMs: r.etcd?.latencyMs ?? null,
        xetcdLatencyMs: r.xetcd?.latencyMs ?? null,
        ratioP50: r.etcd && r.xetcd ? r.xetcd.latencyMs.p50 / r.etcd.latencyMs.p50 : null,
        ratioP99: r.etcd && r.xetcd ? r.xetcd.latencyMs.p99 / r.etcd.latencyMs.p99 : null,
        xetcdError: r.xetcdError ?? null,
      })),
    })),
    results,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  if (opts.out !== undefined) {
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
    const md = `Measured ${machineLine()}, with \`${command}\` (key ${opts.keySize} B, value ${opts.valSize} B).\n\n${tables.map((t) => t.text).join('\n')}`;
    writeFileSync(`${opts.out}.md`, md);
    writeFileSync(
      `${opts.out}.json`,
      `${JSON.stringify({ machine: machineLine(), command, ...json }, null, 2)}\n`,
    );
    process.stderr.write(`wrote ${opts.out}.md and ${opts.out}.json\n`);
  }
}

async function direct(opts: Options): Promise<void> {
  // A load run against an endpoint that is not there would only count connection errors.
  for (const ep of opts.endpoints) {
    if (!(await rangeSucceeds(ep, 3_000)))
      throw new Error(`no etcd answers a Range at ${ep} (is it running? --compare starts servers itself)`);
  }
  const results: Result[] = [];
  const tokens = opts.user !== undefined ? await tokensFor(opts.endpoints, opts.user) : undefined;
  for (const w of opts.workloads) {
    const r = await runWorkload({ ...opts, ...(tokens ? { tokens } : {}) }, w, opts.endpoints.join(','));
    results.push(r);
    if (!opts.json) printResult(r);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
}

// ---------------------------------------------------------------- command line

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}

function positiveInts(name: string): (v: string) => number[] {
  const one = positiveInt(name);
  return (v) => v.split(',').map((p) => one(p.trim()));
}

function nonNegative(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a number >= 0, got "${v}"`);
    return n;
  };
}

function parseWorkloads(v: string): Workload[] {
  if (v === 'all') return [...WORKLOADS];
  const list = v.split(',').map((s) => s.trim());
  for (const w of list) {
    if (!(WORKLOADS as readonly string[]).includes(w))
      throw new InvalidArgumentError(`unknown workload "${w}" (valid: ${WORKLOADS.join(', ')}, all)`);
  }
  return list as Workload[];
}

function parseServers(v: string): ('etcd' | 'xetcd')[] {
  const list = v.split(',').map((s) => s.trim());
  for (const s of list)
    if (s !== 'etcd' && s !== 'xetcd')
      throw new InvalidArgumentError(`unknown server "${s}" (valid: etcd, xetcd)`);
  return list as ('etcd' | 'xetcd')[];
}

const splitArgs = (v: string): string[] => v.split(/\s+/).filter(Boolean);

function parseAuthModes(v: string): AuthMode[] {
  const list = v.split(',').map((s) => s.trim());
  for (const m of list)
    if (!(AUTH_MODES as readonly string[]).includes(m))
      throw new InvalidArgumentError(`unknown auth mode "${m}" (valid: ${AUTH_MODES.join(', ')})`);
  return list as AuthMode[];
}

function parseUser(v: string): Credentials {
  const at = v.indexOf(':');
  if (at <= 0) throw new InvalidArgumentError(`--user must be name:password, got "${v}"`);
  return { name: v.slice(0, at), password: v.slice(at + 1) };
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('clientLoad')
    .description(
      "gRPC load against etcd v3 endpoints: throughput and latency percentiles, like etcd's benchmark tool",
    )
    .option(
      '--endpoints <list>',
      'comma-separated endpoints',
      (v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ['127.0.0.1:2379'],
    )
    .option('--conns <n>', 'gRPC connections (HTTP/2 channels)', positiveInt('--conns'), 1)
    .option('--clients <n>', 'concurrent callers, spread over the connections', positiveInt('--clients'), 1)
    .option('--total <n>', 'requests (not watch-latency: see --put-total)', positiveInt('--total'), 10_000)
    .option(
      '--warmup <n>',
      'unmeasured requests before each workload (not watch-latency)',
      nonNegative('--warmup'),
      2_000,
    )
    .option('--key-size <n>', 'key size in bytes', positiveInt('--key-size'), 8)
    .option('--val-size <n>', 'value size in bytes', positiveInt('--val-size'), 8)
    .option('--key-space-size <n>', 'distinct keys written by put', positiveInt('--key-space-size'), 100_000)
    .option('--sequential-keys', 'put keys in order instead of at random', false)
    .option('--txn-ops <n>', 'puts per txn (txn workload)', positiveInt('--txn-ops'), 1)
    .option('--rate <n>', 'maximum requests per second (0 = as fast as possible)', nonNegative('--rate'), 0)
    .option('--watchers <n>', 'watchers on the watched key (watch-latency)', positiveInt('--watchers'), 100)
    .option('--put-rate <n>', 'puts per second (watch-latency)', positiveInt('--put-rate'), 100)
    .option('--put-total <n>', 'puts (watch-latency)', positiveInt('--put-total'), 1_000)
    .option(
      '--scan-keys <n>',
      'keys written under one prefix before the range-prefix/keys-only/count-only workloads',
      positiveInt('--scan-keys'),
      100_000,
    )
    .option(
      '--scan-total <n>',
      'whole-prefix reads of the range-prefix/keys-only/count-only workloads (their --total)',
      positiveInt('--scan-total'),
      50,
    )
    .addOption(
      new Option('--workload <list>', `comma-separated: ${WORKLOADS.join(', ')}, or all`)
        .argParser(parseWorkloads)
        .default(['put'] as Workload[], 'put'),
    )
    .option('--json', 'print results as JSON on stdout', false)
    .option(
      '--compare',
      'start a real etcd 3.4 and an xetcd on temp dirs, one after the other, and compare',
      false,
    )
    .option('--etcd-args <args>', 'extra flags for the etcd started by --compare', splitArgs, [] as string[])
    .option(
      '--xetcd-args <args>',
      'extra flags for the xetcd started by --compare',
      splitArgs,
      [] as string[],
    )
    .option(
      '--rounds <n>',
      '--compare: alternate the servers this many times, table shows the median',
      positiveInt('--rounds'),
      1,
    )
    .option(
      '--cluster <list>',
      '--compare: members per cluster, one table per size, e.g. 1,3 (xetcd over a local nats-server, etcd over its peer HTTP)',
      positiveInts('--cluster'),
      [1],
    )
    .option(
      '--table',
      `--compare: the rows of the comparison table (${TABLE.map(rowLabel).join('; ')}) instead of --workload × --clients`,
      false,
    )
    .option('--out <path>', '--compare: also write the tables to <path>.md and every result to <path>.json')
    .option('--servers <list>', 'which servers --compare starts, in this order (etcd, xetcd)', parseServers, [
      'etcd',
      'xetcd',
    ] as ('etcd' | 'xetcd')[])
    .option(
      '--auth <list>',
      `--compare: auth configurations (${AUTH_MODES.join(', ')}), each server in each; the first is compared, the others are shown as its cost`,
      parseAuthModes,
      ['off'] as AuthMode[],
    )
    .addOption(
      new Option(
        '--inspect <mode>',
        '--compare: xetcd with --inspect, read by a WebSocket client (serve: bare --inspect, a client on /inspect; url: --inspect ws://... to a server here)',
      )
        .choices(INSPECT_MODES)
        .default('off'),
    )
    .option(
      '--profile <dir>',
      '--compare: write a CPU profile (.cpuprofile: Chrome DevTools, speedscope) of each xetcd member under the load into <dir>',
    )
    .option(
      '--user <name:password>',
      'authenticate as this user (a server with auth on, without --compare)',
      parseUser,
    )
    .parse(argv);
  const o = program.opts<{
    endpoints: string[];
    conns: number;
    clients: number;
    total: number;
    warmup: number;
    keySize: number;
    valSize: number;
    keySpaceSize: number;
    sequentialKeys: boolean;
    txnOps: number;
    rate: number;
    watchers: number;
    putRate: number;
    putTotal: number;
    scanKeys: number;
    scanTotal: number;
    workload: Workload[];
    json: boolean;
    compare: boolean;
    etcdArgs: string[];
    xetcdArgs: string[];
    servers: ('etcd' | 'xetcd')[];
    rounds: number;
    cluster: number[];
    table: boolean;
    out?: string;
    auth: AuthMode[];
    user?: Credentials;
    inspect: InspectMode;
    profile?: string;
  }>();
  const opts: Options = {
    ...o,
    cluster: o.cluster[0]!,
    clusters: o.cluster,
    out: o.out !== undefined ? resolve(o.out) : undefined,
    workloads: o.workload,
    user: o.user,
    profile: o.profile !== undefined ? resolve(o.profile) : undefined,
  };
  if (opts.profile !== undefined) mkdirSync(opts.profile, { recursive: true });
  if (opts.out !== undefined) mkdirSync(dirname(opts.out), { recursive: true });
  if (opts.compare) {
    if (program.getOptionValueSource('workload') === 'default') opts.workloads = [...WORKLOADS];
    await compare(opts);
  } else {
    await direct(opts);
  }
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`clientLoad: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
