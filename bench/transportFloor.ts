// What the client port's transport alone costs per request: `npm run bench`'s
// serializable-range and put loads against bench/transportStub.ts, a server
// that answers without doing anything, once served by grpc-js (as xetcd does)
// and once by node:http2 with the gRPC framing written by hand. The server
// process's CPU time per request is the floor under any request xetcd serves
// that way, and the difference between the two is what replacing grpc-js on
// the unary path could save at most. Usage: npm run bench:floor -- --help
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Command, InvalidArgumentError } from 'commander';
import { freePorts } from '../test/helpers/ports.js';
import { cpuMicros } from './procCpu.js';

const SERVERS = ['grpc-js', 'http2'] as const;
type Server = (typeof SERVERS)[number];

interface Shape {
  readonly clients: number;
  readonly conns: number;
}

interface Measurement {
  readonly server: Server;
  readonly workload: string;
  readonly shape: Shape;
  readonly opsPerSec: number;
  readonly cpuUsPerOp: number;
}

interface Options {
  readonly rounds: number;
  readonly total: number;
  readonly warmup: number;
  readonly workloads: string[];
  readonly json: boolean;
}

const SHAPES: readonly Shape[] = [
  { clients: 1, conns: 1 },
  { clients: 16, conns: 8 },
  { clients: 64, conns: 8 },
];

async function startStub(server: Server, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/transportStub.ts', server, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let seen = '';
  child.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      seen += chunk;
      if (seen.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`transport stub (${server}) exited with ${code}`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Runs one load (npm run bench, direct mode) and returns its ops/s. */
async function load(port: number, workload: string, shape: Shape, opts: Options): Promise<number> {
  const args = [
    '--import',
    'tsx',
    'bench/clientLoad.ts',
    '--endpoints',
    `127.0.0.1:${port}`,
    '--workload',
    workload,
    '--clients',
    String(shape.clients),
    '--conns',
    String(shape.conns),
    '--total',
    String(opts.total),
    '--warmup',
    String(opts.warmup),
    '--val-size',
    '256',
    '--json',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => (out += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`bench load (${workload}) exited with ${code}`);
  const { results } = JSON.parse(out) as { results: Array<{ opsPerSec: number; errors: number }> };
  const r = results[0]!;
  if (r.errors > 0) throw new Error(`bench load (${workload}): ${r.errors} requests failed`);
  return r.opsPerSec;
}

async function measure(server: Server, workload: string, shape: Shape, opts: Options): Promise<Measurement> {
  const [port] = await freePorts(1);
  const stub = await startStub(server, port!);
  try {
    const before = cpuMicros(stub.pid)!;
    const opsPerSec = await load(port!, workload, shape, opts);
    const used = cpuMicros(stub.pid)! - before;
    // Every request of the run is charged, warm-up included (the probe and seed requests are a handful).
    return { server, workload, shape, opsPerSec, cpuUsPerOp: used / (opts.total + opts.warmup) };
  } finally {
    await stop(stub);
  }
}

const medianBy = (ms: Measurement[], f: (m: Measurement) => number): number => {
  const v = ms.map(f).sort((a, b) => a - b);
  return v[Math.floor((v.length - 1) / 2)]!;
};

function table(all: Measurement[]): string {
  const lines = [
    '| workload | clients / conns | grpc-js µs CPU per request | node:http2 µs | saved | grpc-js ops/s | node:http2 ops/s |',
    '|---|---|---|---|---|---|---|',
  ];
  const keys = [...new Set(all.map((m) => `${m.workload}|${m.shape.clients}|${m.shape.conns}`))];
  for (const key of keys) {
    const [workload, clients, conns] = key.split('|');
    const of = (server: Server): Measurement[] =>
      all.filter((m) => m.server === server && `${m.workload}|${m.shape.clients}|${m.shape.conns}` === key);
    const cpu = (s: Server): number => medianBy(of(s), (m) => m.cpuUsPerOp);
    const ops = (s: Server): number => medianBy(of(s), (m) => m.opsPerSec);
    const saved = 1 - cpu('http2') / cpu('grpc-js');
    lines.push(
      `| ${workload} | ${clients} / ${conns} | ${cpu('grpc-js').toFixed(0)} | ${cpu('http2').toFixed(0)} | ${(saved * 100).toFixed(0)} % | ${ops('grpc-js').toFixed(0)} | ${ops('http2').toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command()
    .name('npm run bench:floor --')
    .description(
      'CPU per request of a server that does nothing but answer, served by grpc-js and by node:http2 (medians over rounds)',
    )
    .option('--rounds <n>', 'alternating rounds per server and load', positiveInt('--rounds'), 3)
    .option('--total <n>', 'measured requests per run', positiveInt('--total'), 20_000)
    .option('--warmup <n>', 'requests before measuring', positiveInt('--warmup'), 2_000)
    .option('--workloads <list>', 'comma-separated bench workloads', (v: string) => v.split(','), [
      'range-serializable',
      'put',
    ])
    .option('--json', 'print every measurement as JSON', false)
    .parse(argv)
    .opts<Options>();
  const all: Measurement[] = [];
  for (const workload of opts.workloads) {
    for (const shape of SHAPES) {
      for (let round = 0; round < opts.rounds; round++) {
        for (const server of SERVERS) {
          const m = await measure(server, workload, shape, opts);
          all.push(m);
          process.stderr.write(
            `${server} ${workload} ${shape.clients}/${shape.conns}: ${m.cpuUsPerOp.toFixed(0)} µs/request, ${m.opsPerSec.toFixed(0)} ops/s\n`,
          );
        }
      }
    }
  }
  process.stdout.write(opts.json ? `${JSON.stringify(all, null, 2)}\n` : `${table(all)}\n`);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`transportFloor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
