/**
 * `npm run sim -- --seeds N [--first-seed S] [--nodes K] [--steps M]`
 *   runs N generated schedules; on the first violation prints the seed, the
 *   property, and a shrunk schedule (also written to a file) and exits 1.
 * `npm run sim -- --seed S` runs one seed (with --trace, event by event).
 * `npm run sim -- --replay FILE` replays a schedule file.
 * `--inject-bug commit-previous-term` runs against a deliberately broken core.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { replay, runSeed, shrink, type RunOptions } from './runner.js';
import { formatEvent, formatSchedule, parseSchedule, type Schedule } from './schedule.js';
import { BUGS } from './bugs.js';
import type { SimViolation } from './violation.js';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a non-negative integer');
  return n;
};

interface CliOptions {
  seeds: number;
  firstSeed: number;
  seed?: number;
  nodes?: number;
  steps: number;
  replay?: string;
  injectBug?: string;
  shrink: boolean;
  shrinkSeconds: number;
  out?: string;
  trace: boolean;
  keepGoing: boolean;
}

const program = new Command()
  .name('sim')
  .description('Deterministic simulation of the xetcd Raft core')
  .option('--seeds <n>', 'number of schedules to run', int, 100)
  .option('--first-seed <s>', 'first seed', int, 1)
  .option('--seed <s>', 'run exactly this seed', int)
  .option('--nodes <k>', 'voters per cluster (default: 3 or 5, by seed)', int)
  .option('--steps <m>', 'events per schedule before the final settle', int, 1500)
  .option('--replay <file>', 'replay a schedule file')
  .option('--inject-bug <name>', `break the core on purpose (${Object.keys(BUGS).join(', ')})`)
  .option('--no-shrink', 'print the failing schedule unshrunk')
  .option('--shrink-seconds <s>', 'time limit for shrinking', int, 60)
  .option('--out <file>', 'where to write a failing schedule (default: sim-failure-<seed>.txt)')
  .option('--trace', 'print every event as it runs (with --seed or --replay)', false)
  .option(
    '--keep-going',
    'do not stop at the first violation: list every failing seed at the end (no shrinking)',
    false,
  );

program.parse();
const opts = program.opts<CliOptions>();

if (opts.injectBug !== undefined && !(opts.injectBug in BUGS)) {
  console.error(`unknown bug "${opts.injectBug}"; known: ${Object.keys(BUGS).join(', ')}`);
  process.exit(2);
}

function report(seed: number | undefined, schedule: Schedule, v: SimViolation): never {
  console.error(
    `\nVIOLATION ${seed === undefined ? '' : `seed=${seed} `}property=${v.property} at event ${v.eventIndex + 1}`,
  );
  console.error(`  ${v.detail}`);
  let final = schedule;
  let finalViolation = v;
  if (opts.shrink) {
    const started = Date.now();
    const s = shrink(schedule, v, opts.shrinkSeconds * 1000);
    final = s.schedule;
    finalViolation = s.violation;
    console.error(
      `shrunk ${v.eventIndex + 1} events to ${final.events.length} (${s.replays} replays, ${((Date.now() - started) / 1000).toFixed(1)} s); still: ${finalViolation.detail}`,
    );
  }
  const file = opts.out ?? `sim-failure-${seed ?? 'replay'}.txt`;
  const text = formatSchedule(final, [
    `xetcd raft simulation: ${finalViolation.property} violated at event ${finalViolation.eventIndex + 1}`,
    finalViolation.detail.split('\n')[0] as string,
    `replay: npm run sim -- --replay ${file} --trace`,
    ...(seed === undefined
      ? []
      : [
          `regenerate: npm run sim -- --seed ${seed} --steps ${opts.steps}${opts.nodes === undefined ? '' : ` --nodes ${opts.nodes}`}${opts.injectBug === undefined ? '' : ` --inject-bug ${opts.injectBug}`}`,
        ]),
  ]);
  writeFileSync(file, text);
  console.error(`\n--- schedule (${file}) ---\n${text}--- end ---`);
  process.exit(1);
}

const runOpts: RunOptions = { steps: opts.steps };
if (opts.nodes !== undefined) runOpts.nodes = opts.nodes;
if (opts.injectBug !== undefined) runOpts.injectBug = opts.injectBug;

if (opts.replay !== undefined) {
  const schedule = parseSchedule(readFileSync(opts.replay, 'utf8'));
  if (opts.injectBug !== undefined) schedule.config.injectBug = opts.injectBug;
  const r = replay(schedule, opts.trace ? (line) => console.log(line) : undefined);
  if (opts.trace) console.log(`state: ${r.sim.describe()}`);
  if (r.violation !== undefined) {
    const v = r.violation;
    console.error(
      `VIOLATION property=${v.property} at event ${v.eventIndex + 1} (${formatEvent(schedule.events[v.eventIndex]!)})`,
    );
    console.error(`  ${v.detail}`);
    process.exit(1);
  }
  console.log(`ok: ${schedule.events.length} events, no violation`);
  process.exit(0);
}

const seeds =
  opts.seed !== undefined ? [opts.seed] : Array.from({ length: opts.seeds }, (_, i) => opts.firstSeed + i);
const started = Date.now();
let events = 0;
let lastPrint = 0;
const failures: string[] = [];
const totals = {
  ticks: 0,
  delivered: 0,
  lost: 0,
  crashes: 0,
  snapshotsSent: 0,
  confApplied: 0,
  leaderTerms: 0,
  readsReleased: 0,
  truncations: 0,
};
for (let i = 0; i < seeds.length; i++) {
  const seed = seeds[i] as number;
  const r = runSeed(seed, runOpts);
  events += r.stats.events;
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
  if (r.violation !== undefined) {
    if (opts.keepGoing) {
      failures.push(
        `seed ${seed}: ${r.violation.property} at event ${r.violation.eventIndex + 1}: ${r.violation.detail.split('\n')[0]}`,
      );
      console.error(`\nVIOLATION ${failures[failures.length - 1]}`);
    } else {
      if (opts.trace) replay(r.schedule, (line) => console.log(line));
      report(seed, r.schedule, r.violation);
    }
  }
  const now = Date.now();
  if (process.stderr.isTTY ? now - lastPrint > 250 : now - lastPrint > 10_000 || i === seeds.length - 1) {
    lastPrint = now;
    const secs = (now - started) / 1000;
    const line = `seeds ${i + 1}/${seeds.length} · events ${events} · ${Math.round(events / Math.max(secs, 0.001))} events/s · ${secs.toFixed(1)} s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}   `);
    else console.error(line);
  }
}
const secs = (Date.now() - started) / 1000;
console.log(
  `\nin all: ${totals.ticks} ticks, ${totals.delivered} messages delivered, ${totals.lost} lost, ${totals.crashes} crashes, ` +
    `${totals.leaderTerms} leaders elected, ${totals.snapshotsSent} snapshots sent, ${totals.confApplied} configuration changes applied, ${totals.readsReleased} reads released, ${totals.truncations} log truncations`,
);
if (failures.length > 0) {
  console.error(`\n${failures.length} of ${seeds.length} schedules failed:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log(
  `ok: ${seeds.length} schedules, ${events} events, no violation (${secs.toFixed(1)} s, ${Math.round(events / Math.max(secs, 0.001))} events/s)`,
);
