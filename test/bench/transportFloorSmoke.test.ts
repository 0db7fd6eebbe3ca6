// `npm run bench:floor`, CI-sized: both stub servers (grpc-js and bare
// node:http2) must answer every request of every load shape, and the bench
// must report each run's CPU per request. Nothing is asserted about the
// figures themselves (docs/perf has the real runs).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/xetcd.js';

interface Measurement {
  readonly server: string;
  readonly workload: string;
  readonly shape: { clients: number; conns: number };
  readonly opsPerSec: number;
  readonly cpuUsPerOp: number;
}

it('measures both servers under every load shape without a failed request', async () => {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'bench', 'transportFloor.ts'),
      ...['--rounds', '1', '--total', '300', '--warmup', '30', '--json'],
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code, stderr).toBe(0);
  const all = JSON.parse(stdout) as Measurement[];
  expect(all.map((m) => `${m.server} ${m.workload} ${m.shape.clients}/${m.shape.conns}`).sort()).toEqual(
    ['grpc-js', 'http2']
      .flatMap((server) =>
        ['range-serializable', 'put'].flatMap((w) =>
          ['1/1', '16/8', '64/8'].map((s) => `${server} ${w} ${s}`),
        ),
      )
      .sort(),
  );
  for (const m of all) {
    expect(m.opsPerSec).toBeGreaterThan(0);
    // /proc counts CPU in 10 ms ticks: a run this short may read as 0.
    expect(Number.isFinite(m.cpuUsPerOp) && m.cpuUsPerOp >= 0).toBe(true);
  }
}, 180_000);
