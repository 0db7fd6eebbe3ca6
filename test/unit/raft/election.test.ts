import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

describe('A1 basic election, 3 voters', () => {
  it('node 1 wins term 1, followers voted for it, the empty entry commits after one ack', () => {
    const c = new Cluster([1n, 2n, 3n]);
    // tick node 1 until it campaigns
    let ticks = 0;
    while (c.raft(1n).status().role === 'follower') {
      c.raft(1n).tick();
      ticks++;
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThan(20);
    c.stabilize();
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', term: 1, commit: 1 });
    expect(c.raft(1n).chartState()).toBe('leader');
    for (const id of [2n, 3n]) {
      expect(c.raft(id).status()).toMatchObject({ role: 'follower', term: 1, vote: 1n, lead: 1n, commit: 1 });
    }
    expect(c.logOf(2n)).toEqual([[1, 1]]);
  });
});
