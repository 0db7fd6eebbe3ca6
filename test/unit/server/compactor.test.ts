import { describe, expect, it } from 'vitest';
import { createCompactor } from '../../../src/server/compactor.js';

describe('auto-compaction off', () => {
  it('is off with a zero retention', () => {
    expect(createCompactor({ mode: 'periodic', retentionMs: 0 }, 0)).toBeUndefined();
    expect(createCompactor({ mode: 'revision', retention: 0 }, 0)).toBeUndefined();
  });
});

describe('periodic compactor', () => {
  it('compacts to the revision seen one retention ago, once per interval', () => {
    const c = createCompactor({ mode: 'periodic', retentionMs: 10_000 }, 0)!;
    expect(c.pollMs).toBe(1_000);
    const results: Array<[number, number]> = [];
    for (let t = 0; t <= 30_000; t += 1_000) {
      const rev = 100 + t / 100; // 10 revisions a second
      const target = c.observe(t, rev);
      if (target !== undefined) results.push([t, target]);
    }
    expect(results).toEqual([
      [10_000, 100],
      [20_000, 200],
      [30_000, 300],
    ]);
  });

  it('does not compact again when nothing was written', () => {
    const c = createCompactor({ mode: 'periodic', retentionMs: 1_000 }, 0)!;
    const targets = [];
    for (let t = 0; t <= 5_000; t += 100) targets.push(c.observe(t, 42));
    expect(targets.filter((x) => x !== undefined)).toEqual([42]);
  });
});

describe('revision compactor', () => {
  it('keeps the last N revisions, checked every five minutes', () => {
    const c = createCompactor({ mode: 'revision', retention: 1000 }, 0)!;
    expect(c.observe(60_000, 5000)).toBeUndefined();
    expect(c.observe(300_000, 5000)).toBe(4000);
    expect(c.observe(600_000, 5000)).toBeUndefined();
    expect(c.observe(900_000, 5500)).toBe(4500);
    expect(c.observe(1_200_000, 800)).toBeUndefined();
  });
});
