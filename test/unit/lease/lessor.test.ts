import { describe, expect, it } from 'vitest';
import { Lessor, minLeaseTtl } from '../../../src/lease/lessor.js';

function clocked() {
  let t = 1_000_000;
  const lessor = new Lessor({ minTtl: 2, now: () => t });
  return { lessor, advance: (ms: number) => (t += ms) };
}

describe('lessor', () => {
  it('derives the minimum TTL from the election timeout as etcd does', () => {
    expect(minLeaseTtl(1000)).toBe(2);
    expect(minLeaseTtl(3000)).toBe(5);
    expect(minLeaseTtl(100)).toBe(1);
  });

  it('raises short TTLs to the minimum', () => {
    const { lessor } = clocked();
    expect(lessor.effectiveTtl(1)).toBe(2);
    expect(lessor.effectiveTtl(60)).toBe(60);
  });

  it('expires leases only on the primary', () => {
    const { lessor, advance } = clocked();
    lessor.grant(1n, 5);
    advance(10_000);
    expect(lessor.expired(10)).toEqual([]);
    lessor.promote(0);
    advance(4_999);
    expect(lessor.expired(10)).toEqual([]);
    expect(lessor.hasExpired(1n)).toBe(false);
    advance(1);
    expect(lessor.expired(10)).toEqual([1n]);
    expect(lessor.hasExpired(1n)).toBe(true);
  });

  it('stops expiring at once when demoted', () => {
    const { lessor, advance } = clocked();
    lessor.promote(0);
    lessor.grant(7n, 3);
    advance(3_000);
    expect(lessor.expired(10)).toEqual([7n]);
    lessor.demote();
    expect(lessor.expired(10)).toEqual([]);
  });

  it('extends every lease by the election timeout on promotion', () => {
    const { lessor, advance } = clocked();
    lessor.grant(1n, 10);
    lessor.promote(1_000);
    advance(10_500);
    expect(lessor.expired(10)).toEqual([]);
    advance(500);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('renews to the full TTL and reports remaining time rounded down, as etcd', () => {
    const { lessor, advance } = clocked();
    lessor.promote(0);
    lessor.grant(1n, 10);
    advance(7_500);
    expect(lessor.timeToLive(1n)).toEqual({ grantedTtl: 10, remainingTtl: 2 });
    expect(lessor.renew(1n)).toBe(10);
    expect(lessor.timeToLive(1n)).toEqual({ grantedTtl: 10, remainingTtl: 10 });
    advance(1);
    expect(lessor.timeToLive(1n)).toEqual({ grantedTtl: 10, remainingTtl: 9 });
    expect(lessor.renew(99n)).toBeUndefined();
    expect(lessor.timeToLive(99n)).toBeUndefined();
  });

  it('uses a checkpointed remaining TTL when a new primary takes over', () => {
    const { lessor, advance } = clocked();
    lessor.grant(1n, 100);
    lessor.checkpoint(1n, 20);
    lessor.promote(0);
    advance(20_000);
    expect(lessor.expired(10)).toEqual([1n]);
  });

  it('returns the oldest expiries first, up to the limit', () => {
    const { lessor, advance } = clocked();
    lessor.promote(0);
    lessor.grant(1n, 9);
    lessor.grant(2n, 3);
    lessor.grant(3n, 6);
    advance(10_000);
    expect(lessor.expired(2)).toEqual([2n, 3n]);
    lessor.revoke(2n);
    expect(lessor.expired(10)).toEqual([3n, 1n]);
  });
});
