import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkLinearizable } from './checker.js';
import type { DeleteOperation, GetOperation, KvOperation, PutIfOperation, PutOperation } from './history.js';
import { ReferenceKv, simulateHistory } from './simulatedHistory.js';

// Histories written by hand: times in ms, `undefined` return = unknown outcome.
type Span = readonly [call: number, ret: number | undefined];

function put(client: string, [call, ret]: Span, key: string, value: string, revision?: number): PutOperation {
  return {
    type: 'put',
    client,
    call,
    return: ret,
    input: { key, value },
    output: ret === undefined ? undefined : { revision: revision! },
  };
}

function get(
  client: string,
  [call, ret]: Span,
  key: string,
  value: string | undefined,
  modRevision: number,
  revision: number,
): GetOperation {
  return { type: 'get', client, call, return: ret, input: { key }, output: { value, modRevision, revision } };
}

function del(
  client: string,
  [call, ret]: Span,
  key: string,
  deleted: number,
  revision: number,
): DeleteOperation {
  return { type: 'delete', client, call, return: ret, input: { key }, output: { deleted, revision } };
}

function putIf(
  client: string,
  [call, ret]: Span,
  key: string,
  value: string,
  modRevision: number,
  out?: { succeeded: boolean; revision: number },
): PutIfOperation {
  return { type: 'putIf', client, call, return: ret, input: { key, value, modRevision }, output: out };
}

function verdict(h: KvOperation[]): string {
  return checkLinearizable(h).verdict;
}

describe('checkLinearizable: histories known to be linearizable', () => {
  it('accepts a sequential history using every operation', () => {
    const h = [
      put('c1', [0, 1], 'k', 'a', 2),
      get('c1', [2, 3], 'k', 'a', 2, 2),
      put('c1', [4, 5], 'k', 'b', 3),
      del('c1', [6, 7], 'k', 1, 4),
      get('c1', [8, 9], 'k', undefined, 0, 4),
      del('c1', [10, 11], 'k', 0, 4),
      putIf('c1', [12, 13], 'k', 'c', 0, { succeeded: true, revision: 5 }),
      putIf('c1', [14, 15], 'k', 'd', 0, { succeeded: false, revision: 5 }),
      putIf('c1', [16, 17], 'k', 'e', 5, { succeeded: true, revision: 6 }),
      get('c1', [18, 19], 'k', 'e', 6, 6),
    ];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('linearizable');
    if (r.verdict === 'linearizable') expect(r.order).toEqual(h.map((_, i) => i));
  });

  it('orders overlapping operations by what they returned, not by when they were called', () => {
    // The read overlaps both writes and saw the second; the first write made the later revision.
    expect(
      verdict([
        put('c1', [0, 10], 'k', 'a', 3),
        put('c2', [1, 5], 'k', 'b', 2),
        get('c3', [2, 8], 'k', 'b', 2, 2),
      ]),
    ).toBe('linearizable');
    // A read overlapping a write may see the store before it...
    expect(verdict([put('c1', [0, 10], 'k', 'a', 2), get('c2', [1, 9], 'k', undefined, 0, 1)])).toBe(
      'linearizable',
    );
    // ...or after it.
    expect(verdict([put('c1', [0, 10], 'k', 'a', 2), get('c2', [1, 9], 'k', 'a', 2, 2)])).toBe(
      'linearizable',
    );
  });

  it('accepts a write of unknown outcome that took effect, even long after its call', () => {
    const h = [
      put('c1', [0, undefined], 'k', 'a'),
      get('c2', [10, 11], 'k', undefined, 0, 1),
      put('c2', [12, 13], 'x', 'x1', 2),
      get('c2', [20, 21], 'k', 'a', 3, 3),
    ];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('linearizable');
    if (r.verdict === 'linearizable') expect(r.order).toEqual([1, 2, 0, 3]);
  });

  it('accepts a write of unknown outcome that never took effect', () => {
    const h = [put('c1', [0, undefined], 'k', 'a'), get('c2', [10, 11], 'k', undefined, 0, 1)];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('linearizable');
    if (r.verdict === 'linearizable') expect(r.order).toEqual([1]);
  });

  it('fills a revision no known write made with a write of unknown outcome nobody read', () => {
    expect(
      verdict([
        put('c1', [0, undefined], 'other', 'lost-ack'),
        put('c2', [10, 11], 'k', 'a', 3),
        get('c2', [12, 13], 'other', 'lost-ack', 2, 3),
      ]),
    ).toBe('linearizable');
    expect(verdict([put('c1', [0, undefined], 'other', 'lost-ack'), put('c2', [10, 11], 'k', 'a', 3)])).toBe(
      'linearizable',
    );
    expect(
      verdict([
        put('c1', [0, undefined], 'other', 'x'),
        delete_unknown('c3', 1, 'other'),
        put('c2', [10, 11], 'k', 'a', 4),
      ]),
    ).toBe('linearizable');
  });

  it('starts from a given store', () => {
    const h = [get('c1', [0, 1], 'k', 'old', 40, 57), put('c1', [2, 3], 'k', 'new', 58)];
    expect(
      checkLinearizable(h, { initial: { revision: 57, keys: { k: { value: 'old', modRevision: 40 } } } })
        .verdict,
    ).toBe('linearizable');
    expect(verdict(h)).toBe('violation');
  });
});

function delete_unknown(client: string, call: number, key: string): DeleteOperation {
  return { type: 'delete', client, call, return: undefined, input: { key }, output: undefined };
}

describe('checkLinearizable: histories known NOT to be linearizable', () => {
  it('a stale read: the old value after the overwrite returned', () => {
    const h = [
      put('c1', [0, 1], 'k', 'a', 2),
      put('c1', [2, 3], 'k', 'b', 3),
      get('c2', [4, 5], 'k', 'a', 2, 3),
    ];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('violation');
    if (r.verdict !== 'linearizable') {
      expect(r.explanation).toMatch(/stale read/);
      expect(r.explanation).toContain('#2 c2 get("k") → "a" (mod 2) @ rev 3');
      expect(r.explanation).toContain('#1 c1 put("k", "b") → rev 3');
    }
    // The same stale read, served from an old revision.
    expect(verdict([...h.slice(0, 2), get('c2', [4, 5], 'k', 'a', 2, 2)])).toBe('violation');
  });

  it('a lost acknowledged write', () => {
    expect(
      verdict([
        put('c1', [0, 1], 'k', 'a', 2),
        put('c2', [2, 3], 'x', 'x1', 3),
        get('c3', [4, 5], 'k', undefined, 0, 3),
      ]),
    ).toBe('violation');
  });

  it('a revision that goes backwards', () => {
    const r = checkLinearizable([put('c1', [0, 1], 'k', 'a', 3), put('c2', [2, 3], 'k', 'b', 2)]);
    expect(r.verdict).toBe('violation');
    expect(
      verdict([
        put('c1', [0, 1], 'k', 'a', 2),
        put('c1', [2, 3], 'x', 'b', 3),
        get('c2', [4, 5], 'y', undefined, 0, 2),
      ]),
    ).toBe('violation');
  });

  it('a read of a value never written', () => {
    expect(verdict([put('c1', [0, 1], 'k', 'a', 2), get('c2', [2, 3], 'k', 'ghost', 2, 2)])).toBe(
      'violation',
    );
  });

  it('a read of a value whose write of unknown outcome was called after the read returned', () => {
    const r = checkLinearizable([get('c1', [0, 1], 'k', 'a', 2, 2), put('c2', [5, undefined], 'k', 'a')]);
    expect(r.verdict).toBe('violation');
    if (r.verdict !== 'linearizable') expect(r.explanation).toMatch(/revisions go backwards in real time/);
  });

  it('a revision no operation made (a write applied twice, say)', () => {
    const h = [put('c1', [0, 1], 'k', 'a', 2), put('c1', [2, 3], 'x', 'b', 4)];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('violation');
    if (r.verdict !== 'linearizable') expect(r.explanation).toMatch(/no operation made revision 3/);
    // A write of unknown outcome could have made it, unless it was called too late.
    expect(verdict([...h, put('c2', [2.5, undefined], 'y', 'u')])).toBe('linearizable');
    expect(verdict([...h, put('c2', [3.5, undefined], 'y', 'u')])).toBe('violation');
  });

  it('a write of unknown outcome that cannot explain what a later get saw', () => {
    // Revision 3 must be the unknown put of "y", so "k" is still present when the get runs.
    const r = checkLinearizable([
      put('c1', [0, 1], 'k', 'a', 2),
      put('c2', [2, undefined], 'y', 'u'),
      get('c1', [10, 11], 'k', undefined, 0, 3),
    ]);
    expect(r.verdict).toBe('violation');
    if (r.verdict !== 'linearizable') {
      expect(r.stats.steps).toBeGreaterThan(0);
      expect(r.explanation).toContain('Must come next');
      expect(r.explanation).toContain('#2 c1 get("k") → absent @ rev 3');
      expect(r.explanation).toContain('cannot: the key is "a" (mod 2) at revision 3');
    }
  });

  it('a revision no write made, and two writes claiming one revision', () => {
    expect(verdict([put('c1', [0, 1], 'k', 'a', 2), put('c1', [2, 3], 'k', 'b', 4)])).toBe('violation');
    expect(verdict([put('c1', [0, 3], 'k', 'a', 2), put('c2', [1, 2], 'x', 'b', 2)])).toBe('violation');
  });

  it('a compare-and-set that succeeded against a changed key, or a delete of a deleted key', () => {
    expect(
      verdict([
        put('c1', [0, 1], 'k', 'a', 2),
        put('c2', [2, 3], 'k', 'b', 3),
        putIf('c1', [4, 5], 'k', 'c', 2, { succeeded: true, revision: 4 }),
      ]),
    ).toBe('violation');
    expect(
      verdict([put('c1', [0, 1], 'k', 'a', 2), del('c1', [2, 3], 'k', 1, 3), del('c2', [4, 5], 'k', 1, 4)]),
    ).toBe('violation');
  });

  it('rejects a malformed history instead of guessing', () => {
    expect(() => checkLinearizable([{ ...put('c1', [5, 1], 'k', 'a', 2) }])).toThrow(
      /returns before it is called/,
    );
    expect(() => checkLinearizable([{ ...put('c1', [0, 1], 'k', 'a', 2), output: undefined }])).toThrow(
      /or neither/,
    );
  });
});

/** A different output the operation could not have had in a sequential history. */
function mutate(op: KvOperation, how: number): KvOperation {
  const shift = (r: number): number => r + (how % 2 === 0 ? 1 : -1) * (1 + (how % 3));
  switch (op.type) {
    case 'put':
      return { ...op, output: { revision: shift(op.output!.revision) } };
    case 'delete': {
      const o = op.output!;
      return {
        ...op,
        output: how % 2 === 0 ? { ...o, deleted: 1 - o.deleted } : { ...o, revision: shift(o.revision) },
      };
    }
    case 'putIf': {
      const o = op.output!;
      return {
        ...op,
        output: how % 2 === 0 ? { ...o, succeeded: !o.succeeded } : { ...o, revision: shift(o.revision) },
      };
    }
    case 'get': {
      const o = op.output!;
      const choices = [
        { ...o, value: o.value === undefined ? 'never-written' : undefined },
        { ...o, value: `${o.value ?? ''}-never-written`, modRevision: o.modRevision || 2 },
        { ...o, modRevision: shift(o.modRevision) },
        { ...o, revision: shift(o.revision) },
      ];
      return { ...op, output: choices[how % choices.length]! };
    }
  }
}

/** Whether `order` linearizes `h`: every known outcome once, real time kept, outputs replayed. */
function isWitness(h: readonly KvOperation[], order: readonly number[]): boolean {
  const known = h.flatMap((op, i) => (op.output === undefined ? [] : [i]));
  if (new Set(order).size !== order.length || !known.every((i) => order.includes(i))) return false;
  for (let p = 0; p < order.length; p++)
    for (let q = p + 1; q < order.length; q++)
      if ((h[order[q]!]!.return ?? Infinity) < h[order[p]!]!.call) return false;
  const kv = new ReferenceKv();
  return order.every((i) => {
    const out = kv.run(h[i]!);
    return h[i]!.output === undefined || JSON.stringify(out) === JSON.stringify(h[i]!.output);
  });
}

/** Tries every order (small histories only): the verdict the checker must agree with. */
function bruteForce(h: readonly KvOperation[]): boolean {
  const placed = new Array<boolean>(h.length).fill(false);
  const search = (kv: ReferenceKv, left: number): boolean => {
    if (left === 0) return true;
    for (let i = 0; i < h.length; i++) {
      if (placed[i]) continue;
      // Next only if no unplaced operation returned before it was called.
      if (h.some((o, j) => !placed[j] && o.return !== undefined && o.return < h[i]!.call)) continue;
      const next = kv.clone();
      const out = next.run(h[i]!);
      const op = h[i]!;
      if (op.output !== undefined && JSON.stringify(out) !== JSON.stringify(op.output)) continue;
      placed[i] = true;
      const found = search(next, left - (op.output === undefined ? 0 : 1));
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new ReferenceKv(), h.filter((op) => op.output !== undefined).length);
}

describe('checkLinearizable: generated histories', () => {
  it('accepts every sequential history of the model, and rejects it with any one output changed', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), (seed, n, pick, how) => {
        const h = simulateHistory({ seed, clients: 1, perClient: n, keys: 3, unknownRate: 0 });
        expect(checkLinearizable(h).verdict).toBe('linearizable');
        const i = pick % h.length;
        const bad = h.map((op, j) => (j === i ? mutate(op, how) : op));
        expect(checkLinearizable(bad).verdict).toBe('violation');
      }),
      { numRuns: 300 },
    );
  });

  it('accepts concurrent histories with unknown outcomes, and its order is a witness', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const h = simulateHistory({ seed, clients: 5, perClient: 30, keys: 3, unknownRate: 0.1 });
        const r = checkLinearizable(h);
        expect(r.verdict).toBe('linearizable');
        if (r.verdict === 'linearizable') expect(isWitness(h, r.order)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with trying every order, on small concurrent histories with or without a changed output', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(), fc.nat(), fc.boolean(), (seed, pick, how, change) => {
        const good = simulateHistory({ seed, clients: 3, perClient: 3, keys: 2, unknownRate: 0.3 });
        const i = pick % good.length;
        const h =
          change && good[i]!.output !== undefined
            ? good.map((op, j) => (j === i ? mutate(op, how) : op))
            : good;
        const r = checkLinearizable(h);
        expect(r.verdict).toBe(bruteForce(h) ? 'linearizable' : 'violation');
        if (r.verdict === 'linearizable') expect(isWitness(h, r.order)).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });

  it('checks 5 clients × 1,000 operations in seconds', () => {
    const h = simulateHistory({ seed: 42, clients: 5, perClient: 1_000, keys: 10, unknownRate: 0.02 });
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('linearizable');
    expect(r.stats.ms).toBeLessThan(10_000);
  });
});
