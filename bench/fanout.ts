// Watch fan-out, side by side: `npm run bench:fanout -- [--subscribers 100,1000,10000]`.
// N subscribers on one key prefix while one writer puts at a steady rate; each
// event's latency is its receive time minus its put's send time (the value
// carries the put's index), and the rate is the events delivered per second,
// from the first put to the last event. Three roads:
//   nats   xetcd publishing to NATS (--nats-watch-subjects); each subscriber is a
//          plain NATS subscription on xetcd.<cid>.kv.fan.> (spread over --conns
//          connections), the way `nats sub` or any NATS client listens;
//   grpc   the same xetcd, gRPC Watch: N watchers over --conns streams;
//   etcd   etcd 3.4 (/usr/bin/etcd or $ETCD_BIN), gRPC Watch, the same way.
// Each road gets a fresh single-member server on a temp dir; the subscribers
// and the writer run in this process, so on a small machine the receiving
// side's own cost is part of every figure alike.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startEtcd, type ServerInstance } from '../test/helpers/etcd.js';
import { EtcdRpcClient, type WatchStream } from '../test/helpers/etcd-rpc.js';
import { startNats, type NatsInstance } from '../test/helpers/nats.js';
import { makeTempDir, type TempDir } from '../test/helpers/tempdir.js';
import { startXetcd } from '../test/helpers/xetcd.js';
import { Event } from '../src/proto/mvccpb.js';
import { prefixSubscription, progressSubject } from '../src/natswatch/subjects.js';

const ROADS = ['nats', 'grpc', 'etcd'] as const;
type Road = (typeof ROADS)[number];

interface Options {
  subscribers: number[];
  rate: number;
  seconds: number;
  conns: number;
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

/** Latencies by put index, and the moment of the last event. */
class Receiver {
  readonly latencies: number[] = [];
  last = 0;
  constructor(private readonly sentAt: Float64Array) {}
  receive(value: Uint8Array | undefined): void {
    const i = Number(Buffer.from(value ?? new Uint8Array()).toString('latin1', 0, 10));
    const now = performance.now();
    if (Number.isInteger(i) && i >= 0 && i < this.sentAt.length && this.sentAt[i]! > 0) {
      this.latencies.push(now - this.sentAt[i]!);
      this.last = now;
    }
  }
}

/** A listening side: started before the writes, closed after. */
interface Listeners {
  close(): Promise<void>;
}

async function natsSubscribers(
  natsUrl: string,
  clusterId: bigint,
  n: number,
  conns: number,
  rx: Receiver,
): Promise<Listeners> {
  const ncs: NatsConnection[] = [];
  for (let c = 0; c < Math.min(conns, n); c++)
    ncs.push(await connect({ servers: natsUrl, name: `fanout ${c}` }));
  const subject = prefixSubscription(clusterId, enc(PREFIX)).subject;
  for (let s = 0; s < n; s++) {
    ncs[s % ncs.length]!.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) rx.receive(Event.decode(msg.data).kv?.value);
      },
    });
  }
  await Promise.all(ncs.map((nc) => nc.flush()));
  return { close: async () => void (await Promise.all(ncs.map((nc) => nc.close()))) };
}

async function grpcWatchers(endpoint: string, n: number, conns: number, rx: Receiver): Promise<Listeners> {
  const clients = Array.from({ length: Math.min(conns, n) }, () => new EtcdRpcClient(endpoint));
  const streams: WatchStream[] = clients.map((c) => c.watch());
  let created = 0;
  const allCreated = new Promise<void>((resolve) => {
    for (const s of streams) {
      s.onResponse((res) => {
        if (res.created && ++created === n) resolve();
        for (const ev of res.events) rx.receive(ev.kv?.value);
      });
    }
  });
  const rangeEnd = enc(PREFIX);
  rangeEnd[rangeEnd.length - 1]!++;
  for (let w = 0; w < n; w++) streams[w % streams.length]!.create({ key: enc(PREFIX), rangeEnd });
  await allCreated;
  return {
    close: async () => {
      streams.forEach((s) => s.close());
      clients.forEach((c) => c.close());
    },
  };
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
  const sentAt = new Float64Array(puts);
  const rx = new Receiver(sentAt);
  const writer = new EtcdRpcClient(server.endpoint);
  let listeners: Listeners | undefined;
  try {
    listeners =
      road === 'nats'
        ? await natsSubscribers(nats!.url, clusterId, n, opts.conns, rx)
        : await grpcWatchers(server.endpoint, n, opts.conns, rx);
    const expected = puts * n;
    const started = performance.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < puts; i++) {
      const wait = started + (i * 1000) / opts.rate - performance.now();
      if (wait > 0) await sleep(wait);
      const value = Buffer.alloc(16, 0x78);
      value.write(String(i).padStart(10, '0'), 0, 'latin1');
      sentAt[i] = performance.now();
      pending.push(writer.put({ key: enc(`${PREFIX}k${i % 16}`), value }).catch(() => undefined));
    }
    await Promise.all(pending);
    const deadline = performance.now() + 15_000;
    while (rx.latencies.length < expected && performance.now() < deadline) await sleep(20);
    const sorted = [...rx.latencies].sort((a, b) => a - b);
    return {
      road,
      subscribers: n,
      puts,
      expected,
      delivered: sorted.length,
      eventsPerSec: sorted.length / ((rx.last - started) / 1000),
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1) ?? NaN,
    };
  } finally {
    await listeners?.close();
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
    'NATS connections / gRPC watch streams the subscribers share',
    positive('--conns'),
    10,
  )
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
    results.push(await run(road, n, opts));
  }
}
process.stdout.write(opts.json ? `${JSON.stringify(results, null, 2)}\n` : `${table(results)}\n`);
