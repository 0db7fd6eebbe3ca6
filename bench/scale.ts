// How a single member's cost grows with its key space, etcd 3.4 and xetcd
// side by side: for each size, the resident memory, the data dir on disk, the
// latency of a put, of a one-key range and of a count over every key, and the
// time from process start to the first served request after a restart. The
// fresh start is measured once per server. Usage: npm run bench:scale -- --help
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { startEtcd, type ServerInstance } from '../test/helpers/etcd.js';
import { EtcdRpcClient, rangeSucceeds } from '../test/helpers/etcdRpc.js';
import { freePorts } from '../test/helpers/ports.js';
import { makeTempDir } from '../test/helpers/tempdir.js';
import { startXetcd } from '../test/helpers/xetcd.js';

type Kind = 'etcd' | 'xetcd';

interface Options {
  readonly sizes: number[];
  readonly servers: Kind[];
  readonly valSize: number;
  readonly samples: number;
  readonly json: boolean;
}

interface Point {
  readonly server: Kind;
  readonly keys: number;
  readonly rssBytes: number;
  readonly dataDirBytes: number;
  readonly putP50Ms: number;
  readonly rangeP50Ms: number;
  readonly countAllMs: number;
  readonly restartMs: number;
}

/** Puts per txn while filling: etcd's default --max-txn-ops. */
const FILL_TXN_OPS = 128;
const FILL_WRITERS = 8;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

function treeBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    total += entry.isDirectory() ? treeBytes(p) : statSync(p).size;
  }
  return total;
}

const keyOf = (i: number): Buffer => Buffer.from(`key/${String(i).padStart(8, '0')}`);

function p50(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? 0;
}

/** Starts the server and times it from spawn to the first answered linearizable Range. */
async function timedStart(kind: Kind, dataDir: string): Promise<{ server: ServerInstance; ms: number }> {
  const [port] = await freePorts(1);
  const endpoint = `http://127.0.0.1:${port!}`;
  const t0 = performance.now();
  let servedAt: number | undefined;
  const starting =
    kind === 'etcd' ? startEtcd({ dataDir, port: port! }) : startXetcd({ dataDir, port: port! });
  const probe = (async () => {
    while (servedAt === undefined) {
      if (await rangeSucceeds(endpoint, 500)) servedAt = performance.now();
      else await sleep(5);
    }
  })();
  const server = await starting;
  await probe;
  return { server, ms: servedAt! - t0 };
}

/** Random values: LevelDB compresses its tables and bbolt does not, so a repeated byte would flatter xetcd's disk figures. */
async function fill(client: EtcdRpcClient, from: number, to: number, valSize: number): Promise<void> {
  let next = from;
  const writer = async (): Promise<void> => {
    while (next < to) {
      const first = next;
      next = Math.min(to, next + FILL_TXN_OPS);
      await client.txn(
        {
          success: Array.from({ length: next - first }, (_, j) => ({
            requestPut: {
              key: keyOf(first + j),
              value: randomBytes(valSize),
              lease: 0n,
              prevKv: false,
              ignoreValue: false,
              ignoreLease: false,
            },
          })),
        },
        60_000,
      );
    }
  };
  await Promise.all(Array.from({ length: FILL_WRITERS }, writer));
}

async function timed(n: number, op: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op();
    out.push(performance.now() - t0);
  }
  return out;
}

async function measureServer(
  kind: Kind,
  opts: Options,
  log: (line: string) => void,
): Promise<{ fresh: number; points: Point[] }> {
  const dir = await makeTempDir(`xetcd-scale-${kind}-`);
  const dataDir = join(dir.path, 'data');
  const value = Buffer.alloc(opts.valSize, 0x76);
  const points: Point[] = [];
  const started = await timedStart(kind, dataDir);
  const fresh = started.ms;
  let server = started.server;
  log(`${kind}: fresh start to first served request ${fresh.toFixed(0)} ms`);
  try {
    let have = 0;
    for (const keys of opts.sizes) {
      let client = new EtcdRpcClient(server.endpoint);
      const t0 = performance.now();
      await fill(client, have, keys, opts.valSize);
      have = keys;
      log(`${kind}: ${keys} keys written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const puts = await timed(opts.samples, () => client.put({ key: Buffer.from('probe'), value }));
      const ranges = await timed(opts.samples, () => client.range({ key: keyOf(0) }));
      const counts = await timed(3, () =>
        client.range({ key: Buffer.from('key/'), rangeEnd: Buffer.from('key0'), countOnly: true }, 60_000),
      );
      // Memory once the load is over and the process had a moment to settle.
      await sleep(1_000);
      const rss = rssBytes(server.process.pid);
      client.close();
      await server.stop(30_000);
      const disk = treeBytes(dataDir);
      const restarted = await timedStart(kind, dataDir);
      server = restarted.server;
      client = new EtcdRpcClient(server.endpoint);
      const seen = await client.range(
        { key: Buffer.from('key/'), rangeEnd: Buffer.from('key0'), countOnly: true },
        60_000,
      );
      client.close();
      if (Number(seen.count) !== keys)
        throw new Error(`${kind} lost keys: ${seen.count} of ${keys} after a restart`);
      const point: Point = {
        server: kind,
        keys,
        rssBytes: rss,
        dataDirBytes: disk,
        putP50Ms: p50(puts),
        rangeP50Ms: p50(ranges),
        countAllMs: p50(counts),
        restartMs: restarted.ms,
      };
      points.push(point);
      log(
        `${kind} ${keys} keys: RSS ${(rss / 2 ** 20).toFixed(0)} MiB, data dir ${(disk / 2 ** 20).toFixed(0)} MiB, put p50 ${point.putP50Ms.toFixed(2)} ms, range p50 ${point.rangeP50Ms.toFixed(2)} ms, count ${point.countAllMs.toFixed(0)} ms, restart ${restarted.ms.toFixed(0)} ms`,
      );
    }
  } finally {
    await server.stop(30_000);
    await dir.remove();
  }
  return { fresh, points };
}

function table(results: Map<Kind, { fresh: number; points: Point[] }>, opts: Options): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  const header = ['keys', 'measure', ...opts.servers, ...(opts.servers.length === 2 ? ['xetcd/etcd'] : [])];
  const rows: string[][] = [];
  const add = (
    keys: string,
    measure: string,
    values: (number | undefined)[],
    fmt: (n: number) => string,
  ): void => {
    const ratio =
      opts.servers.length === 2 && values[0] !== undefined && values[1] !== undefined && values[0] !== 0
        ? [(values[opts.servers.indexOf('xetcd')]! / values[opts.servers.indexOf('etcd')]!).toFixed(2)]
        : opts.servers.length === 2
          ? ['-']
          : [];
    rows.push([keys, measure, ...values.map((v) => (v === undefined ? '-' : fmt(v))), ...ratio]);
  };
  add(
    '0',
    'fresh start to first request (ms)',
    opts.servers.map((k) => results.get(k)?.fresh),
    (n) => n.toFixed(0),
  );
  for (const keys of opts.sizes) {
    const at = (k: Kind): Point | undefined => results.get(k)?.points.find((p) => p.keys === keys);
    const each = (f: (p: Point) => number): (number | undefined)[] =>
      opts.servers.map((k) => {
        const p = at(k);
        return p === undefined ? undefined : f(p);
      });
    add(
      String(keys),
      'RSS (MiB)',
      each((p) => p.rssBytes),
      (n) => mib(n),
    );
    add(
      String(keys),
      'data dir (MiB)',
      each((p) => p.dataDirBytes),
      (n) => mib(n),
    );
    add(
      String(keys),
      'restart to first request (ms)',
      each((p) => p.restartMs),
      (n) => n.toFixed(0),
    );
    add(
      String(keys),
      'put p50 (ms)',
      each((p) => p.putP50Ms),
      (n) => n.toFixed(2),
    );
    add(
      String(keys),
      'range one key p50 (ms)',
      each((p) => p.rangeP50Ms),
      (n) => n.toFixed(2),
    );
    add(
      String(keys),
      'count every key (ms)',
      each((p) => p.countAllMs),
      (n) => n.toFixed(0),
    );
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function sizes(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1) || list.some((n, i) => i > 0 && n <= list[i - 1]!))
    throw new InvalidArgumentError(`--keys must be growing positive integers, got "${v}"`);
  return list;
}

function servers(v: string): Kind[] {
  const list = v.split(',').map((s) => s.trim());
  for (const s of list)
    if (s !== 'etcd' && s !== 'xetcd')
      throw new InvalidArgumentError(`unknown server "${s}" (valid: etcd, xetcd)`);
  return list as Kind[];
}

async function main(argv: string[]): Promise<void> {
  const o = new Command()
    .name('scale')
    .description(
      'how memory, disk, latency and restart time grow with the key space, etcd 3.4 and xetcd side by side',
    )
    .option('--keys <list>', 'key space sizes, growing', sizes, [10_000, 100_000, 1_000_000])
    .option('--servers <list>', 'which servers, in this order', servers, ['etcd', 'xetcd'] as Kind[])
    .option('--val-size <n>', 'value size in bytes', (v) => Number(v), 256)
    .option('--samples <n>', 'puts and ranges timed at each size', (v) => Number(v), 200)
    .option('--json', 'print the points as JSON on stdout', false)
    .parse(argv)
    .opts<{ keys: number[]; servers: Kind[]; valSize: number; samples: number; json: boolean }>();
  const opts: Options = {
    sizes: o.keys,
    servers: o.servers,
    valSize: o.valSize,
    samples: o.samples,
    json: o.json,
  };
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const results = new Map<Kind, { fresh: number; points: Point[] }>();
  for (const kind of opts.servers) results.set(kind, await measureServer(kind, opts, log));
  if (opts.json) process.stdout.write(`${JSON.stringify(Object.fromEntries(results), null, 2)}\n`);
  else
    process.stdout.write(
      `\n${table(results, opts)}\n(etcd 3.4 alone acknowledges a put before its WAL fsync, etcd #14370; xetcd syncs first)\n`,
    );
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`scale: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
