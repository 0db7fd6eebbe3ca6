import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng } from '../../sim/rng.js';
import { checkLinearizable } from './checker.js';
import type { DeleteOperation, GetOperation, KvOperation, PutIfOperation, PutOperation } from './history.js';

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
      expect(r.explanation).toContain('#2 c2 get("k") → "a" (mod 2) @ rev 3');
      expect(r.explanation).toContain('cannot: the key is "b" (mod 3) at revision 3');
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
    expect(verdict([get('c1', [0, 1], 'k', 'a', 2, 2), put('c2', [5, undefined], 'k', 'a')])).toBe(
      'violation',
    );
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

// --- generated histories ---------------------------------------------------------------

/** etcd's KV, forward only: the oracle that gives generated operations their outputs. */
class ReferenceKv {
  revision = 1;
  private readonly keys = new Map<string, { value: string; modRevision: number }>();

  run(op: KvOperation): KvOperation['output'] {
    const cur = this.keys.get(op.input.key);
    switch (op.type) {
      case 'put':
        this.keys.set(op.input.key, { value: op.input.value, modRevision: ++this.revision });
        return { revision: this.revision };
      case 'get':
        return { value: cur?.value, modRevision: cur?.modRevision ?? 0, revision: this.revision };
      case 'delete':
        if (cur !== undefined) {
          this.keys.delete(op.input.key);
          this.revision++;
        }
        return { deleted: cur === undefined ? 0 : 1, revision: this.revision };
      case 'putIf': {
        const succeeded = (cur?.modRevision ?? 0) === op.input.modRevision;
        if (succeeded) this.keys.set(op.input.key, { value: op.input.value, modRevision: ++this.revision });
        return { succeeded, revision: this.revision };
      }
    }
  }
}

/** An operation without its output, with a point in [call, return] where it takes effect. */
interface Planned {
  readonly op: KvOperation;
  readonly at: number;
  /** Unknown outcome: whether it took effect at `at` anyway. */
  readonly unknown?: { readonly applied: boolean };
}

function randomInput(
  rng: Rng,
  keys: number,
  n: number,
  client: string,
  call: number,
  ret: number,
): KvOperation {
  const key = `k${rng.int(keys)}`;
  const value = `${client}-${n}`;
  const base = { client, call, return: ret, output: undefined };
  const kind = rng.weighted({ put: 4, get: 4, delete: 1, putIf: 1 });
  if (kind === 'put') return { ...base, type: 'put', input: { key, value } };
  if (kind === 'get') return { ...base, type: 'get', input: { key } };
  if (kind === 'delete') return { ...base, type: 'delete', input: { key } };
  return {
    ...base,
    type: 'putIf',
    input: { key, value, modRevision: rng.int(4) === 0 ? 0 : rng.int(n + 2) },
  };
}

/**
 * `clients` sequential clients, each op taking effect at a random point of its span; a
 * write of unknown outcome (with probability `pUnknown`) takes effect or not, possibly
 * after its client has moved on. The outputs come from replaying the effects in order.
 */
function generate(
  seed: number,
  clients: number,
  perClient: number,
  keys: number,
  pUnknown: number,
): KvOperation[] {
  const rng = new Rng(seed);
  const planned: Planned[] = [];
  for (let c = 0; c < clients; c++) {
    let t = rng.next() * 5;
    for (let j = 0; j < perClient; j++) {
      const call = t;
      const ret = call + 0.1 + rng.next() * 10;
      const op = randomInput(rng, keys, j, `c${c}`, call, ret);
      const unknown = op.type !== 'get' && rng.chance(pUnknown);
      const at = unknown ? call + rng.next() * 30 : call + rng.next() * (ret - call);
      planned.push(unknown ? { op, at, unknown: { applied: rng.chance(0.5) } } : { op, at });
      t = ret + rng.next() * 3;
    }
  }
  const kv = new ReferenceKv();
  const outputs = new Map<KvOperation, KvOperation['output']>();
  for (const p of [...planned].sort((a, b) => a.at - b.at))
    if (p.unknown?.applied !== false) outputs.set(p.op, kv.run(p.op));
  return planned.map(({ op, unknown }) =>
    unknown
      ? { ...op, return: undefined, output: undefined }
      : ({ ...op, output: outputs.get(op) } as KvOperation),
  );
}

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

describe('checkLinearizable: generated histories', () => {
  it('accepts every sequential history of the model, and rejects it with any one output changed', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.nat(), (seed, n, pick, how) => {
        const h = generate(seed, 1, n, 3, 0);
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
        const h = generate(seed, 5, 30, 3, 0.1);
        const r = checkLinearizable(h);
        expect(r.verdict).toBe('linearizable');
        if (r.verdict !== 'linearizable') return;
        const kv = new ReferenceKv();
        for (const i of r.order) {
          const out = kv.run(h[i]!);
          if (h[i]!.output !== undefined) expect(out).toEqual(h[i]!.output);
        }
        expect(new Set(r.order).size).toBe(r.order.length);
      }),
      { numRuns: 200 },
    );
  });

  it('checks 5 clients × 1,000 operations in seconds', () => {
    const h = generate(42, 5, 1_000, 10, 0.02);
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('linearizable');
    expect(r.stats.ms).toBeLessThan(10_000);
  });
});
