// The benchmark, CI-sized: `npm run bench -- --compare` must run every
// workload to the end against a single xetcd and a three-member cluster
// without a crash or a failed request. It asserts nothing about speed: the
// figures of a loaded CI machine mean nothing (docs/perf has the real runs).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rowLabel, TABLE, WORKLOADS } from '../../bench/rows.js';
import { makeTempDir } from '../helpers/tempdir.js';
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

function expectClean(results: readonly BenchResult[], stderr: string): void {
  for (const r of results) {
    expect(r.target).toMatch(/^xetcd/);
    expect(r.errors, `${r.workload}: ${stderr}`).toBe(0);
    expect(r.samples).toBeGreaterThan(0);
    expect(r.opsPerSec).toBeGreaterThan(0);
  }
}

describe('npm run bench -- --compare, CI-sized', () => {
  it('runs every workload against one member', async () => {
    const run = await runBench(['--compare', '--servers', 'xetcd', '--workload', 'all', ...SMALL, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const results = (JSON.parse(run.stdout) as { results: BenchResult[] }).results;
    expect(results.map((r) => r.workload).sort()).toEqual([...WORKLOADS].sort());
    expectClean(results, run.stderr);
  }, 180_000);

  it('runs the comparison table against one member and a three-member cluster, and writes it as Markdown and JSON', async () => {
    const dir = await makeTempDir();
    try {
      const out = join(dir.path, 'table');
      const run = await runBench([
        '--compare',
        '--servers',
        'xetcd',
        '--table',
        '--cluster',
        '1,3',
        ...SMALL,
        '--out',
        out,
      ]);
      expect(run.code, run.stderr).toBe(0);
      const written = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as {
        tables: { cluster: number; comparison: { row: string; xetcdError: string | null }[] }[];
        results: BenchResult[];
      };
      expect(written.tables.map((t) => t.cluster)).toEqual([1, 3]);
      const labels = TABLE.map(rowLabel);
      for (const t of written.tables) {
        expect(t.comparison.map((c) => c.row)).toEqual(labels);
        expect(t.comparison.filter((c) => c.xetcdError !== null)).toEqual([]);
      }
      expect(written.results).toHaveLength(2 * TABLE.length);
      expectClean(written.results, run.stderr);
      const md = readFileSync(`${out}.md`, 'utf8');
      expect(md).toMatch(/^Measured .+ UTC, \d+ × /);
      expect(md).toContain('One member');
      expect(md).toContain('3 members (xetcd over NATS');
      for (const label of labels) expect(md.split(`| ${label} `).length).toBe(3);
    } finally {
      await dir.remove();
    }
  }, 300_000);
});
