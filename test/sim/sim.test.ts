import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkScriptFile } from '../unit/raft/datadriven.js';
import { replay, runSeed, shrink } from './runner.js';
import { formatSchedule, parseSchedule } from './schedule.js';
import { clusterScript } from './script.js';

const here = dirname(fileURLToPath(import.meta.url));
const regressions = join(here, 'regressions');
const bugs = join(here, 'known-bad');
const findings = join(here, 'findings');

/** Runs seeds [first, first+count) and fails with the seed and the (unshrunk) schedule's property. */
function runSeeds(first: number, count: number, nodes: 3 | 5, steps: number): number {
  let events = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = runSeed(seed, { nodes, steps });
    events += r.stats.events;
    if (r.violation !== undefined) {
      const v = r.violation;
      expect.fail(
        `seed ${seed} (${nodes} voters, ${r.profile}): ${v.property} at event ${v.eventIndex + 1}: ${v.detail}\n` +
          `reproduce: npm run sim -- --seed ${seed} --nodes ${nodes} --steps ${steps}`,
      );
    }
  }
  return events;
}

// Generated runs are CPU-bound: give them room when the whole suite shares the machine.
const SLOW = { timeout: 180_000 };

describe('deterministic Raft simulation', () => {
  it('keeps every safety property and settles, over 200 schedules of 3 voters', SLOW, () => {
    const events = runSeeds(1, 200, 3, 1000);
    expect(events).toBe(200 * 1001);
  });

  it('keeps every safety property and settles, over 200 schedules of 5 voters', SLOW, () => {
    const events = runSeeds(10_001, 200, 5, 1000);
    expect(events).toBe(200 * 1001);
  });

  it('is deterministic: the same seed gives the same schedule and the same outcome', SLOW, () => {
    const a = runSeed(42, { steps: 600 });
    const b = runSeed(42, { steps: 600 });
    expect(formatSchedule(b.schedule)).toBe(formatSchedule(a.schedule));
    expect(b.stats).toEqual(a.stats);
    // and a printed schedule replays to the same end state
    const again = replay(parseSchedule(formatSchedule(a.schedule)));
    expect(again.violation).toBeUndefined();
    expect(again.stats.maxCommit).toBe(a.stats.maxCommit);
  });
});

describe('regression schedules', () => {
  const files = readdirSync(regressions).filter((f) => f.endsWith('.txt'));
  it('has scripts to run', () => expect(files.length).toBeGreaterThanOrEqual(8));
  for (const file of files) {
    it(file.replace(/\.txt$/, ''), () => checkScriptFile(join(regressions, file), clusterScript()));
  }
});

/** The first run of seeds 1..last that the injected bug makes fail, if any. */
function firstCaught(bug: string, last: number): ReturnType<typeof runSeed> | undefined {
  for (let seed = 1; seed <= last; seed++) {
    const r = runSeed(seed, { steps: 1500, injectBug: bug });
    if (r.violation !== undefined) return r;
  }
  return undefined;
}

describe('a known-bad core is caught', () => {
  it(
    'commit-previous-term: generated schedules fail on the commit rule, and the failure shrinks and replays',
    SLOW,
    () => {
      const found = firstCaught('commit-previous-term', 200);
      expect(found, 'no seed in 1..200 caught the broken commit rule').toBeDefined();
      const v = found!.violation!;
      expect(['commit-rule', 'state-machine-safety', 'leader-completeness']).toContain(v.property);
      const small = shrink(found!.schedule, v, 8_000);
      expect(small.schedule.events.length).toBeLessThanOrEqual(v.eventIndex + 1);
      const again = replay(parseSchedule(formatSchedule(small.schedule)));
      expect(again.violation?.property).toBe(v.property);
      // the same schedule against the correct core is fine up to that point
      const healthy = replay({
        config: { ...small.schedule.config, injectBug: undefined },
        events: small.schedule.events,
      });
      expect(healthy.violation?.message).toBeUndefined();
    },
  );

  it(
    'vote-ignores-log: a voter that ignores log up-to-dateness lets a leader without committed entries win',
    SLOW,
    () => {
      const found = firstCaught('vote-ignores-log', 50);
      expect(found, 'no seed in 1..50 caught the broken vote rule').toBeDefined();
      expect(['leader-completeness', 'state-machine-safety', 'commit-rule']).toContain(
        found!.violation!.property,
      );
    },
  );

  it(
    'leader-counts-unpersisted: a leader that counts its own unwritten copy, while its appends go out before its write, commits on a minority of disks',
    SLOW,
    () => {
      const found = firstCaught('leader-counts-unpersisted', 50);
      expect(found, 'no seed in 1..50 caught the leader counting its unpersisted entry').toBeDefined();
      expect(found!.violation!.property).toBe('commit-rule');
    },
  );

  for (const file of readdirSync(bugs).filter((f) => f.endsWith('.txt'))) {
    it(`${file}: fails as its header says, and passes with the core and reads left correct`, () => {
      const text = readFileSync(join(bugs, file), 'utf8');
      const expected = /^# expect-violation: (\S+)$/m.exec(text)?.[1];
      expect(expected, 'a known-bad script names the violation it expects').toBeDefined();
      const s = parseSchedule(text);
      expect(s.config.injectBug !== undefined || s.config.leaseReads === true).toBe(true);
      const broken = replay(s);
      expect(broken.violation?.property).toBe(expected);
      const healthy = replay({
        config: { ...s.config, injectBug: undefined, leaseReads: false },
        events: s.events,
      });
      expect(healthy.violation?.message).toBeUndefined();
    });
  }

  it('figure8: with the commit rule unchecked, the damage itself is caught (a committed entry missing from a later leader)', () => {
    const s = parseSchedule(readFileSync(join(bugs, 'figure8.txt'), 'utf8'));
    const r = replay({ config: { ...s.config, unchecked: 'commit-rule' }, events: s.events });
    expect(r.violation?.property).toBe('leader-completeness');
    expect(r.violation?.detail).toMatch(/leader 5 of term 5 lacks committed entry 3/);
  });
});

// A suite with no tests fails, so the block exists only while something is open.
const openFindings = readdirSync(findings).filter((f) => f.endsWith('.txt'));
if (openFindings.length > 0)
  describe('open findings (problems the simulation found in the core that are not fixed yet)', () => {
    for (const file of openFindings) {
      it(`${file} still fails as described; when it passes, move it to regressions/`, () => {
        const text = readFileSync(join(findings, file), 'utf8');
        const expected = /^# expect-violation: (\S+)$/m.exec(text)?.[1];
        expect(expected).toBeDefined();
        expect(replay(parseSchedule(text)).violation?.property).toBe(expected);
      });
    }
  });
