// Watch fan-out, side by side: `npm run bench:fanout -- [--subscribers 100,1000,10000]`.
// N subscribers on one key prefix while one writer puts at a steady rate; each
// event's latency is its receive time minus its put's send time (the value
// starts with the send time), and the rate is the events delivered per second,
// from the first put to the last event. Three roads:
//   nats   xetcd publishing to NATS (--nats-watch-subjects); each subscriber is a
//          plain NATS subscription on xetcd.<cid>.kv.fan.> (spread over --conns
//          connections), the way `nats sub` or any NATS client listens;
//   grpc   the same xetcd, gRPC Watch: N watchers over --conns streams;
//   etcd   etcd 3.4 (/usr/bin/etcd or $ETCD_BIN), gRPC Watch, the same way.
// Each road gets a fresh single-member server on a temp dir. The subscribers
// run in --procs child processes (bench/fanoutSubscribers.ts), the writer in
// this one; on a small machine the receiving side's own cost is part of every
// figure alike.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { connect } from '@nats-io/transport-node';
import { startEtcd, type ServerInstance } from '../test/helpers/etcd.js';
import { EtcdRpcClient } from '../test/helpers/etcdRpc.js';
import { startNats, type NatsInstance } from '../test/helpers/nats.js';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  sendTimeValue,
  type FromSubscriber,
  type SubscriberSetup,
  type ToSubscriber,
} from './fanoutSubscribers.js';
import { makeTempDir, type TempDir } from '../test/helpers/tempdir.js';
import { startXetcd } from '../test/helpers/xetcd.js';
import { progressSubject } from '../src/natswatch/subjects.js';

const ROADS = ['nats', 'grpc', 'etcd'] as const;
type Road = (typeof ROADS)[number];

interface Options {
  subscribers: number[];
  rate: number;
  seconds: number;
  conns: number;
  procs: number;
  roads: Road[];
  json: boolean;
}

interface FanoutResult {
  road: Road;
  subscribers: number;
  puts: number;
  expected: number;
  delivered: number;
  eventsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const PREFIX = 'fan/';
const SUBSCRIBER_FILE = fileURLToPath(new URL('./fanoutSubscribers.ts', import.meta.url));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function list(what: string) {
  return (v: string): number[] =>
    v.split(',').map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n <= 0)
        throw new InvalidArgumentError(`${what}: '${s}' is not a positive integer`);
      return n;
    });
}

function positive(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${what} must be positive`);
    return n;
  };
}

/** The subscriber processes of one run, each with its share of the subscribers. */
async function startSubscribers(
  setup: Omit<SubscriberSetup, 'subscribers'>,
  n: number,
  procs: number,
): Promise<ChildProcess[]> {
  const count = Math.min(procs, n);
  const children = Array.from({ length: count }, (_, i) => {
    const share = Math.floor(n / count) + (i < n % count ? 1 : 0);
    return fork(SUBSCRIBER_FILE, [JSON.stringify({ ...setup, subscribers: share })], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
    });
  });
  const timeout = new AbortController();
  try {
    await Promise.race([
      Promise.all(children.map((c) => nextMessage(c))),
      sleep(120_000, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`the ${n} subscribers were not all subscribed within 120 s`);
      }),
    ]);
  } catch (err) {
    for (const c of children) c.kill();
    throw err;
  } finally {
    timeout.abort();
  }
  return children;
}

function nextMessage(child: ChildProcess): Promise<FromSubscriber> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`a subscriber process exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (m: FromSubscriber) => {
      child.off('exit', onExit);
      resolve(m);
    });
  });
}

/** A fresh server for one road; for nats, with its nats-server and the cluster ID. */
async function serve(
  road: Road,
): Promise<{ server: ServerInstance; nats?: NatsInstance; dir: TempDir; clusterId: bigint }> {
  const dir = await makeTempDir(`xetcd-fanout-${road}-`);
  if (road === 'etcd') {
    const server = await startEtcd({ dataDir: dir.path });
    return { server, dir, clusterId: 0n };
  }
  const nats = road === 'nats' ? await startNats() : undefined;
  const server = await startXetcd({
    dataDir: dir.path,
    args: nats !== undefined ? ['--nats-servers', nats.url, '--nats-watch-subjects'] : [],
  });
  const client = new EtcdRpcClient(server.endpoint);
  const clusterId = (await client.status()).header!.clusterId;
  client.close();
  if (nats !== undefined) {
    // The publisher has started once its first bookmark is out.
    const nc = await connect({ servers: nats.url });
    for await (const _ of nc.subscribe(progressSubject(clusterId), { max: 1 })) break;
    await nc.close();
  }
  return { server, ...(nats !== undefined ? { nats } : {}), dir, clusterId };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(road: Road, n: number, opts: Options): Promise<FanoutResult> {
  const { server, nats, dir, clusterId } = await serve(road);
  const puts = Math.max(1, Math.round(opts.rate * opts.seconds));
  const writer = new EtcdRpcClient(server.endpoint);
  let children: ChildProcess[] = [];
  try {
    children = await startSubscribers(
      {
        road: road === 'nats' ? 'nats' : 'grpc',
        address: road === 'nats' ? nats!.url : server.endpoint,
        clusterId: clusterId.toString(16),
        prefix: PREFIX,
        conns: Math.max(1, Math.round(opts.conns / Math.min(opts.procs, n))),
      },
      n,
      opts.procs,
    );
    const started = performance.now();
    const firstPutAt = performance.timeOrigin + started;
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < puts; i++) {
      const wait = started + (i * 1000) / opts.rate - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(
        writer.put({ key: enc(`${PREFIX}k${i % 16}`), value: sendTimeValue() }).catch(() => undefined),
      );
    }
    await Promise.all(pending);
    const results = await Promise.all(
      children.map((c, i) => {
        const share = Math.floor(n / children.length) + (i < n % children.length ? 1 : 0);
        const answer = nextMessage(c);
        c.send({ type: 'expect', events: share * puts, deadlineMs: 15_000 } satisfies ToSubscriber);
        return answer;
      }),
    );
    const sorted: number[] = [];
    let lastAt = 0;
    for (const r of results) {
      if (r.type !== 'result') continue;
      for (const l of r.latencies) sorted.push(l);
      lastAt = Math.max(lastAt, r.lastAt);
    }
    sorted.sort((a, b) => a - b);
    return {
      road,
      subscribers: n,
      puts,
      expected: puts * n,
      delivered: sorted.length,
      eventsPerSec: sorted.length / ((lastAt - firstPutAt) / 1000),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1) ?? NaN,
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    writer.close();
    await server.stop(10_000);
    await nats?.stop();
    await dir.remove();
  }
}

const ROAD_NAMES: Record<Road, string> = {
  nats: 'xetcd NATS subjects',
  grpc: 'xetcd gRPC Watch',
  etcd: 'etcd 3.4 gRPC Watch',
};

function table(results: FanoutResult[]): string {
  const rows = [
    '| road | subscribers | puts | events delivered / expected | events/s | p50 ms | p99 ms | max ms |',
    '| ---- | ----------: | ---: | --------------------------: | -------: | -----: | -----: | -----: |',
  ];
  for (const r of results) {
    rows.push(
      `| ${ROAD_NAMES[r.road]} | ${r.subscribers} | ${r.puts} | ${r.delivered} / ${r.expected} | ${Math.round(r.eventsPerSec)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(2)} |`,
    );
  }
  return rows.join('\n');
}

const opts = new Command('bench:fanout')
  .description(
    'Put-to-event latency and events/s with N subscribers on one prefix: xetcd over NATS, xetcd gRPC Watch, etcd 3.4 gRPC Watch.',
  )
  .option(
    '--subscribers <list>',
    'subscriber counts, comma-separated',
    list('--subscribers'),
    [100, 1_000, 10_000],
  )
  .option('--rate <n>', 'puts per second', positive('--rate'), 10)
  .option('--seconds <n>', 'seconds of writes per run', positive('--seconds'), 5)
  .option(
    '--conns <n>',
    'NATS connections / gRPC watch streams the subscribers share, in all',
    positive('--conns'),
    10,
  )
  .option('--procs <n>', 'subscriber processes the subscribers are spread over', positive('--procs'), 2)
  .option(
    '--roads <list>',
    `which roads, comma-separated (${ROADS.join(', ')})`,
    (v) =>
      v.split(',').map((s) => {
        if (!(ROADS as readonly string[]).includes(s)) throw new InvalidArgumentError(`unknown road '${s}'`);
        return s as Road;
      }),
    [...ROADS],
  )
  .option('--json', 'print the results as JSON on stdout', false)
  .parse()
  .opts<Options>();

const results: FanoutResult[] = [];
for (const n of opts.subscribers) {
  for (const road of opts.roads) {
    process.stderr.write(`${ROAD_NAMES[road]}, ${n} subscribers ...\n`);
    try {
      results.push(await run(road, n, opts));
    } catch (err) {
      process.stderr.write(`  failed: ${(err as Error).message}\n`);
    }
  }
}
process.stdout.write(opts.json ? `${JSON.stringify(results, null, 2)}\n` : `${table(results)}\n`);
