import { describe, expect, it } from 'vitest';
import type { RoleChange } from '../../../src/raft/roleChange.js';
import { Cluster } from './cluster.js';

const record = (c: Cluster, id: bigint): RoleChange[] => {
  const changes: RoleChange[] = [];
  c.raft(id).roleChanged$.subscribe((change) => changes.push(change));
  return changes;
};

describe('RaftNode.roleChanged$', () => {
  it('tells each change of role once, with the input that caused it', () => {
    const c = new Cluster([1n, 2n, 3n], { preVote: true });
    const one = record(c, 1n);
    const two = record(c, 2n);
    c.elect(1n);
    expect(one.map((x) => [x.from, x.to, x.cause, x.term])).toEqual([
      ['follower', 'preCandidate', 'campaign', 0],
      ['preCandidate', 'candidate', expect.stringMatching(/^MsgPreVoteResp from [23]$/), 1],
      ['candidate', 'leader', expect.stringMatching(/^MsgVoteResp from [23]$/), 1],
    ]);
    // A follower that stays a follower reports nothing.
    expect(two).toEqual([]);
    c.elect(2n);
    expect(one.at(-1)).toMatchObject({ from: 'leader', to: 'follower', term: 2 });
    expect(one.at(-1)!.cause).toMatch(/^Msg\w+ of a higher term from 2$/);
    expect(two.at(-1)).toMatchObject({ from: 'candidate', to: 'leader', term: 2 });
  });

  it('names an election timeout and a leadership transfer', () => {
    const c = new Cluster([1n, 2n, 3n], { preVote: false });
    const one = record(c, 1n);
    for (let i = 0; i < 100 && one.length === 0; i++) c.raft(1n).tick();
    expect(one[0]).toMatchObject({ from: 'follower', to: 'candidate', cause: 'election timeout' });
    c.stabilize();
    const two = record(c, 2n);
    c.raft(1n).transferLeadership(2n);
    c.stabilize();
    expect(two[0]).toMatchObject({ from: 'follower', to: 'candidate', cause: 'MsgTimeoutNow from 1' });
  });
});
