import { describe, expect, it } from 'vitest';
import { clusterId, idHex, memberId } from '../../../src/server/ids.js';

describe('member and cluster IDs (etcd membership.NewMember / genID)', () => {
  it('a default member has the IDs a default etcd 3.4 reports', () => {
    const m = memberId(['http://localhost:2380'], 'etcd-cluster');
    expect(idHex(m)).toBe('8e9e05c52164694d');
    expect(m).toBe(10276657743932975437n);
    expect(idHex(clusterId([m]))).toBe('cdf818194e3a8c32');
    expect(clusterId([m])).toBe(14841639068965178418n);
  });

  it('matches a three-member cluster bootstrapped by etcd 3.4.23 (IDs read from its log)', () => {
    const token = 'tok-x';
    const a = memberId(['http://127.0.0.1:23801'], token);
    const b = memberId(['http://127.0.0.1:23802'], token);
    const c = memberId(['http://127.0.0.1:23803'], token);
    expect([idHex(a), idHex(b), idHex(c)]).toEqual([
      '3f87d1e9930d82d9',
      '2ce5679b4e0d6116',
      'ad16c60c0e4f80f4',
    ]);
    expect(idHex(clusterId([a, b, c]))).toBe('834f70e5e236bc3d');
    // Order of members does not matter: etcd sorts the IDs first.
    expect(clusterId([c, a, b])).toBe(clusterId([a, b, c]));
  });

  it('sorts peer URLs, so their order does not change the ID', () => {
    const x = memberId(['http://b:2380', 'http://a:2380'], 't');
    expect(memberId(['http://a:2380', 'http://b:2380'], 't')).toBe(x);
  });

  it('a member added at runtime differs by the time it was added', () => {
    const base = memberId(['http://a:2380'], '');
    expect(memberId(['http://a:2380'], '', 1_700_000_000)).not.toBe(base);
    expect(memberId(['http://a:2380'], '', 1_700_000_000)).toBe(
      memberId(['http://a:2380'], '', 1_700_000_000.9),
    );
  });
});
