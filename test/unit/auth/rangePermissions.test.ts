// The merged coverage of a user's permissions against a second, naive reading of etcd's
// interval-tree check (every interval that overlaps the request, in order, must leave no
// gap, and together reach from its key to its end), on random permissions and requests.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Permission, Permission_Type } from '../../../src/proto/authpb.js';
import { userPermissions } from '../../../src/auth/rangePermissions.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const perm = (permType: Permission_Type, key: string, rangeEnd = ''): Permission =>
  Permission.create({ permType, key: b(key), rangeEnd: b(rangeEnd) });
const FROM_KEY = '\0';

describe('merged key permissions', () => {
  it('covers single keys, ranges, prefixes and from-key as etcd does', () => {
    const p = userPermissions([
      perm(Permission_Type.READ, 'k1'),
      perm(Permission_Type.READ, 'a', 'c'),
      perm(Permission_Type.READ, 'c', 'd'),
      perm(Permission_Type.READWRITE, 'p/', 'p0'),
      perm(Permission_Type.WRITE, 'z', FROM_KEY),
    ]);
    expect(p.read.covers(b('k1'), undefined)).toBe(true);
    expect(p.read.covers(b('k2'), undefined)).toBe(false);
    expect(p.read.covers(b('a'), b('d'))).toBe(true); // two touching ranges are one
    expect(p.read.covers(b('a'), b('e'))).toBe(false);
    expect(p.read.covers(b('b'), b('a'))).toBe(true); // an inverted range asks for [a, b]
    expect(p.read.covers(b('p/x'), undefined)).toBe(true);
    expect(p.write.covers(b('p/'), b('p0'))).toBe(true);
    expect(p.write.covers(b('p/'), b('p1'))).toBe(false);
    expect(p.write.covers(b('zz'), b(FROM_KEY))).toBe(true);
    expect(p.write.covers(b('y'), b(FROM_KEY))).toBe(false);
    expect(p.read.covers(b('z'), undefined)).toBe(false); // write-only
    expect(p.read.covers(b('\0'), b(FROM_KEY))).toBe(false);
    expect(
      userPermissions([perm(Permission_Type.READ, '\0', FROM_KEY)]).read.covers(b('\0'), b(FROM_KEY)),
    ).toBe(true);
  });

  it('agrees with the interval-by-interval check on random permissions and requests', () => {
    const key = fc.stringMatching(/^[abc]{1,3}$/);
    const end = fc.oneof(fc.constant(''), fc.constant(FROM_KEY), fc.stringMatching(/^[abcd]{1,3}$/));
    const granted = fc
      .record({ key, end })
      .filter((g) => g.end === '' || g.end === FROM_KEY || g.end > g.key);
    fc.assert(
      fc.property(fc.array(granted, { maxLength: 6 }), key, end, (grants, k, e) => {
        const p = userPermissions(grants.map((g) => perm(Permission_Type.READ, g.key, g.end)));
        expect(p.read.covers(b(k), b(e))).toBe(naiveCovers(grants, k, e));
      }),
      { numRuns: 2000 },
    );
  });
});

/** Keys as strings; `undefined` is past every key. [begin, end). */
type Ivl = [string, string | undefined];

function asInterval(key: string, end: string): Ivl {
  if (end === '') return [key, `${key}\0`];
  if (end === FROM_KEY) return [key, undefined];
  if (end > key) return [key, end];
  return [end, `${key}\0`];
}

const before = (a: string | undefined, c: string | undefined): boolean =>
  a !== undefined && (c === undefined || a < c);

function naiveCovers(grants: Array<{ key: string; end: string }>, k: string, e: string): boolean {
  const [qb, qe] = asInterval(k, e);
  const overlapping = grants
    .map((g) => asInterval(g.key, g.end))
    .filter(([gb, ge]) => before(gb, qe) && before(qb, ge))
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  if (overlapping.length === 0 || overlapping[0]![0] > qb) return false;
  let reach: string | undefined = overlapping[0]![1];
  for (const [gb, ge] of overlapping.slice(1)) {
    if (before(reach, gb)) return false;
    if (reach !== undefined && (ge === undefined || ge > reach)) reach = ge;
  }
  return !before(reach, qe) || reach === qe;
}
