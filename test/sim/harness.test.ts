import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EntryType, type Entry } from '../../src/proto/raftpb.js';
import { LogView } from './logView.js';
import { Rng } from '../../src/raft/rng.js';
import { formatSchedule, parseSchedule, ScheduleSyntaxError } from './schedule.js';

const here = dirname(fileURLToPath(import.meta.url));
const entry = (index: number, term: number, data = ''): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: new TextEncoder().encode(data),
});

describe('simulation harness: PRNG', () => {
  it('is a pure function of its seed, and seeds differ', () => {
    const draw = (seed: number): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.u32());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(Rng.derive(7, 1, 2).u32()).toBe(Rng.derive(7, 1, 2).u32());
    expect(Rng.derive(7, 1, 2).u32()).not.toBe(Rng.derive(7, 2, 1).u32());
  });

  it('draws uniformly enough for scheduling (each of 10 buckets within 10% of its share)', () => {
    const r = new Rng(1);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(1_000);
  });
});

describe('simulation harness: transcripts', () => {
  it('every script in the repository parses and prints back to the same schedule', () => {
    for (const dir of ['regressions', 'known-bad', 'findings', '../unit/raft/transcripts/cluster']) {
      for (const f of readdirSync(join(here, dir)).filter((x) => x.endsWith('.txt'))) {
        const s = parseSchedule(readFileSync(join(here, dir, f), 'utf8'));
        const again = parseSchedule(formatSchedule(s));
        expect(again.config, `${dir}/${f}`).toEqual(s.config);
        // runs of `tick` print as `ticks K`, which replays the same: compare after printing
        expect(formatSchedule(again)).toBe(formatSchedule(s));
      }
    }
  });

  it('reads the nth-message suffix and comments apart', () => {
    const s = parseSchedule(
      'config seed=3 voters=5\ndeliver 1->3 MsgApp #2 # the third one\ndrop 2->1 MsgVoteResp\n',
    );
    expect(s.events).toEqual([
      { kind: 'deliver', from: 1, to: 3, type: 'MsgApp', nth: 2 },
      { kind: 'drop', from: 2, to: 1, type: 'MsgVoteResp', nth: 0 },
    ]);
    expect(s.config.voters).toBe(5);
  });

  it('refuses what it does not understand, with the line', () => {
    expect(() => parseSchedule('config seed=1\nfrobnicate 2\n')).toThrow(ScheduleSyntaxError);
    expect(() => parseSchedule('config seed=1\nconf 1 add\n')).toThrow(/line 2/);
    expect(() => parseSchedule('tick\n')).toThrow(/config line/);
  });
});

describe('simulation harness: log views', () => {
  it('report only real rewrites: same entries again remove nothing, a different term does', () => {
    const v = new LogView(1, 1, 42);
    expect(v.append([entry(2, 2, 'a'), entry(3, 2, 'b')])).toBeUndefined();
    expect(v.append([entry(2, 2, 'a'), entry(3, 2, 'b')])).toBeUndefined();
    const before = v.chain(3);
    expect(v.append([entry(3, 3, 'c')])).toBe(3);
    expect(v.chain(3)).not.toBe(before);
    expect(v.lastIndex).toBe(3);
    expect(v.term(3)).toBe(3);
  });

  it('give equal chains to equal logs and different chains to different ones', () => {
    const a = new LogView(1, 1, 42);
    const b = new LogView(1, 1, 42);
    a.append([entry(2, 2, 'x'), entry(3, 2, 'y')]);
    b.append([entry(2, 2, 'x'), entry(3, 2, 'y')]);
    expect(a.chain(3)).toBe(b.chain(3));
    b.append([entry(2, 2, 'z')]);
    expect(b.chain(2)).not.toBe(a.chain(2));
  });

  it('refuse gaps and appends under the snapshot', () => {
    const v = new LogView(5, 2, 9);
    expect(() => v.append([entry(7, 2)])).toThrow(/gap/);
    expect(() => v.append([entry(5, 2)])).toThrow(/snapshot/);
  });
});
