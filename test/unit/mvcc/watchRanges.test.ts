import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WatcherRanges } from '../../../src/mvcc/watcherRanges.js';

/** Short keys over a tiny alphabet make overlaps and equal intervals common. */
const key = fc.string({ unit: fc.constantFrom('\x00', 'a', 'b', 'c', '\xff'), maxLength: 3 });

describe('WatcherRanges (interval index of range watchers)', () => {
  it('finds exactly the intervals containing a key, through adds and removes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            start: key,
            end: fc.option(key, { nil: null }),
            remove: fc.boolean(),
          }),
          { maxLength: 60 },
        ),
        fc.array(key, { minLength: 1, maxLength: 20 }),
        (ops, probes) => {
          const index = new WatcherRanges<number>();
          const live = new Map<number, { start: string; end: string | null }>();
          ops.forEach((op, id) => {
            if (op.end !== null && op.end <= op.start) return;
            index.add(op.start, op.end, id);
            live.set(id, { start: op.start, end: op.end });
            if (op.remove && id % 2 === 0) {
              expect(index.remove(op.start, op.end, id)).toBe(true);
              live.delete(id);
            }
          });
          for (const k of probes) {
            const got: number[] = [];
            index.stab(k, (id) => got.push(id));
            const want = [...live]
              .filter(([, iv]) => k >= iv.start && (iv.end === null || k < iv.end))
              .map(([id]) => id);
            expect(got.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('shares one node among equal intervals and drops it with its last item', () => {
    const index = new WatcherRanges<string>();
    index.add('a', 'b', 'w1');
    index.add('a', 'b', 'w2');
    index.add('a', null, 'w3');
    expect(index.intervalCount).toBe(2);
    expect(index.remove('a', 'b', 'w1')).toBe(true);
    expect(index.intervalCount).toBe(2);
    expect(index.remove('a', 'b', 'w2')).toBe(true);
    expect(index.intervalCount).toBe(1);
    expect(index.remove('a', 'b', 'w2')).toBe(false);
    const got: string[] = [];
    index.stab('zzz', (w) => got.push(w));
    expect(got).toEqual(['w3']);
  });
});
