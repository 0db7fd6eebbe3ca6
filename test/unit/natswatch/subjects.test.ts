// The key ↔ subject mapping of the NATS watch: every byte string round-trips,
// every subject is one NATS accepts for publishing, and a prefix subscription
// matches exactly the keys under its prefix (spelled-out or elided).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ELIDED,
  keyFromTokens,
  keyOfSubject,
  keyTokens,
  kvSubject,
  MAX_KEY_SUBJECT,
  prefixSubscription,
} from '../../../src/natswatch/subjects.js';

const CID = 0xcdf818194e3a8c32n;
const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** NATS subject matching: '*' one token, '>' one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  return (
    Buffer.from(key).subarray(0, prefix.length).equals(Buffer.from(prefix)) && key.length >= prefix.length
  );
}

/** Keys over a small alphabet of the troublesome bytes, so prefixes and boundaries collide often. */
const trickyKey = fc
  .array(fc.constantFrom(0x2f, 0x2e, 0x2a, 0x3e, 0x20, 0x25, 0x00, 0xff, 0xc3, 0x61, 0x62, 0x24, 0x09), {
    maxLength: 12,
  })
  .map((a) => Uint8Array.from(a));

describe('the key ↔ subject mapping', () => {
  it('spells keys as the docs say', () => {
    expect(kvSubject(CID, bytes('app/a'))).toBe('xetcd.cdf818194e3a8c32.kv.app.a');
    expect(kvSubject(CID, bytes('/app/'))).toBe('xetcd.cdf818194e3a8c32.kv.%.app.%');
    expect(kvSubject(CID, bytes('a.b*c>d e%'))).toBe('xetcd.cdf818194e3a8c32.kv.a%2Eb%2Ac%3Ed%20e%25');
    expect(kvSubject(CID, bytes('\xff'))).toBe('xetcd.cdf818194e3a8c32.kv.%FF');
    expect(prefixSubscription(CID, bytes('app/'))).toEqual({
      subject: 'xetcd.cdf818194e3a8c32.kv.app.>',
      exact: true,
    });
    expect(prefixSubscription(CID, bytes('/app/'))).toEqual({
      subject: 'xetcd.cdf818194e3a8c32.kv.%.app.>',
      exact: true,
    });
    expect(prefixSubscription(CID, bytes(''))).toEqual({
      subject: 'xetcd.cdf818194e3a8c32.kv.>',
      exact: true,
    });
    expect(prefixSubscription(CID, bytes('app/x'))).toEqual({
      subject: 'xetcd.cdf818194e3a8c32.kv.app.>',
      exact: false,
    });
  });

  it('round-trips every byte string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), trickyKey), (key) => {
        expect(keyFromTokens(keyTokens(key))).toEqual(key);
        expect(keyOfSubject(CID, kvSubject(CID, key))).toEqual(key);
      }),
      { numRuns: 2000 },
    );
  });

  it('makes only subjects NATS publishes to: printable ASCII tokens, none empty, no wildcard', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (key) => {
        for (const token of kvSubject(CID, key).split('.')) {
          expect(token.length).toBeGreaterThan(0);
          expect(token).toMatch(/^[\x21-\x7e]+$/);
          expect(token).not.toMatch(/[*>.]/);
        }
      }),
    );
  });

  it('keeps prefix order: a key is under a prefix exactly when its subject matches the prefix subscription', () => {
    fc.assert(
      fc.property(trickyKey, trickyKey, (prefix, rest) => {
        const key = Uint8Array.from([...prefix, ...rest]);
        const sub = prefixSubscription(CID, prefix);
        // A byte prefix of the key spells the key's first tokens: whole for the prefix's whole
        // segments, and a string prefix of the next one for its last, partial, segment.
        const p = keyTokens(prefix);
        const k = keyTokens(key);
        expect(k.slice(0, p.length - 1)).toEqual(p.slice(0, -1));
        if (p.at(-1) !== '%') expect(k[p.length - 1]!.startsWith(p.at(-1)!)).toBe(true);
        // The subscription takes every key under the prefix.
        expect(matches(sub.subject, kvSubject(CID, key))).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(trickyKey, trickyKey, (prefix, key) => {
        const sub = prefixSubscription(CID, prefix);
        if (sub.exact) expect(matches(sub.subject, kvSubject(CID, key))).toBe(startsWith(key, prefix));
        else if (startsWith(key, prefix)) expect(matches(sub.subject, kvSubject(CID, key))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('elides the tail of a key too long for a subject, still under its prefix subscription', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom('a', 'b', '.', ' ') }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: MAX_KEY_SUBJECT, max: 3 * MAX_KEY_SUBJECT }),
        (segments, length) => {
          const prefix = bytes(`${segments.join('/')}/`);
          const key = Uint8Array.from([...prefix, ...bytes('.'.repeat(length))]);
          const subject = kvSubject(CID, key);
          expect(subject.endsWith(`.${ELIDED}`)).toBe(true);
          expect(subject.length).toBeLessThan(MAX_KEY_SUBJECT + 64);
          expect(keyOfSubject(CID, subject)).toBeNull();
          expect(matches(prefixSubscription(CID, prefix).subject, subject)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects token strings no key maps to', () => {
    for (const tokens of [['a%2'], ['a%2e'], ['%61'], ['a b'], [''], ['é'], ['x', ELIDED]]) {
      expect(keyFromTokens(tokens)).toBeNull();
    }
  });
});
