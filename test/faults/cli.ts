// The long fault runs: `npm run faults -- [--case NAME]... [--runs N] [--seconds S]`.
// Repeats the cases on real processes and prints one line per run, then a table per
// case: runs, result, acknowledged writes, unknown outcomes, recovery time. Exits 1
// when any run failed, with what failed spelled out above the table.
import { Command, InvalidArgumentError } from 'commander';
import { findCases } from './cases.js';
import { SHORT_SETTINGS, type CaseResult, type FaultSettings } from './harness.js';
import { runCases } from './suite.js';

function positive(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`${what} must be a positive number`);
    return n;
  };
}

interface Options {
  case: string[];
  runs: number;
  seconds: number | undefined;
  seed: number;
  list: boolean;
}

const program = new Command('faults')
  .description('Fault cases against a real xetcd cluster over NATS, repeated, with a fault table at the end.')
  .option(
    '--case <name>',
    'a case to run (repeatable); all cases when omitted',
    (v, acc: string[]) => [...acc, v],
    [],
  )
  .option('--runs <n>', 'runs of each case', positive('--runs'), 1)
  .option(
    '--seconds <s>',
    `how long each fault is held (default ${SHORT_SETTINGS.holdMs / 1000})`,
    positive('--seconds'),
  )
  .option(
    '--seed <n>',
    'seed of the first run (each run adds one)',
    positive('--seed'),
    Date.now() % 1_000_000,
  )
  .option('--list', 'list the cases and exit', false);

const opts = program.parse().opts<Options>();
const cases = findCases(opts.case);
if (opts.list) {
  for (const c of cases) console.log(`${c.name}${c.profile === 'default' ? '' : ` (${c.profile})`}`);
  process.exit(0);
}
const settings: FaultSettings = {
  ...SHORT_SETTINGS,
  ...(opts.seconds === undefined ? {} : { holdMs: opts.seconds * 1000 }),
};

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

function ms(x: number | undefined): string {
  return x === undefined ? '-' : `${(x / 1000).toFixed(2)} s`;
}

function table(results: readonly CaseResult[]): string {
  const rows = [
    ['case', 'runs', 'result', 'acked writes', 'unknown', 'recovery (median / max)'],
    ...[...new Set(results.map((r) => r.name))].map((name) => {
      const rs = results.filter((r) => r.name === name);
      const failed = rs.filter((r) => !r.ok).length;
      const rec = rs.map((r) => r.recoveryMs).filter((x): x is number => x !== undefined);
      return [
        name,
        String(rs.length),
        failed === 0 ? 'pass' : `FAIL ${failed}/${rs.length}`,
        String(rs.reduce((a, r) => a + r.stats.acknowledgedWrites, 0)),
        String(rs.reduce((a, r) => a + r.stats.unknownWrites, 0)),
        `${ms(median(rec))} / ${ms(rec.length > 0 ? Math.max(...rec) : undefined)}`,
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(rows[0]!),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

const results = await runCases(cases, settings, {
  runs: opts.runs,
  seed: opts.seed,
  onResult: (r, run) => {
    const s = r.stats;
    console.log(
      `${r.ok ? 'pass' : 'FAIL'} ${r.name} run ${run} seed ${r.seed}: ${s.acknowledgedWrites} acked, ${s.unknownWrites} unknown, recovery ${ms(r.recoveryMs)}, took ${ms(r.durationMs)}`,
    );
    for (const n of r.notes) console.log(`       ${n}`);
    for (const p of r.problems) console.log(`  !!   ${p.replace(/\n/g, '\n       ')}`);
  },
});
console.log(`\n${table(results)}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
