// The benchmark, CI-sized: `npm run bench -- --compare` must run every
// workload to the end against a single xetcd and a three-member cluster
// without a crash or a failed request. It asserts nothing about speed: the
// figures of a loaded CI machine mean nothing (docs/perf has the real runs).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/xetcd.js';

interface BenchResult {
  readonly workload: string;
  readonly target: string;
  readonly samples: number;
  readonly errors: number;
  readonly opsPerSec: number;
}

function runBench(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'bench', 'clientLoad.ts'), ...args],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const WORKLOADS = [
  'put',
  'range-linearizable',
  'range-serializable',
  'txn',
  'txn-compare',
  'lease-keepalive',
  'watch-latency',
  'range-prefix',
  'range-keys-only',
  'range-count-only',
];
const SMALL = [
  '--total',
  '200',
  '--warmup',
  '20',
  '--clients',
  '4',
  '--put-total',
  '30',
  '--put-rate',
  '100',
  '--watchers',
  '5',
  '--scan-keys',
  '300',
  '--scan-total',
  '3',
];

describe('npm run bench -- --compare, CI-sized', () => {
  for (const cluster of [1, 3]) {
    it(`runs every workload against ${cluster === 1 ? 'one member' : 'a three-member cluster'}`, async () => {
      const run = await runBench([
        '--compare',
        '--servers',
        'xetcd',
        '--cluster',
        String(cluster),
        '--workload',
        'all',
        ...SMALL,
        '--json',
      ]);
      expect(run.code, run.stderr).toBe(0);
      const results = (JSON.parse(run.stdout) as { results: BenchResult[] }).results;
      expect(results.map((r) => r.workload).sort()).toEqual([...WORKLOADS].sort());
      for (const r of results) {
        expect(r.target).toBe('xetcd');
        expect(r.errors, `${r.workload}: ${run.stderr}`).toBe(0);
        expect(r.samples).toBeGreaterThan(0);
        expect(r.opsPerSec).toBeGreaterThan(0);
      }
    }, 180_000);
  }
});
