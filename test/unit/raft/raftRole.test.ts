import type { AnyStateNode } from 'xstate';
import { describe, expect, it } from 'vitest';
import { raftRoleMachine } from '../../../machines/raftRole.js';

/** Every state node of the chart below the root, by key. */
function stateNodes(node: AnyStateNode = raftRoleMachine.root): AnyStateNode[] {
  return Object.values(node.states).flatMap((s) => [s, ...stateNodes(s)]);
}

const roles = (): AnyStateNode[] => stateNodes().filter((s) => Object.keys(s.states).length === 0);
const nodeOf = (key: string): AnyStateNode => stateNodes().find((s) => s.key === key)!;

/** The events a role handles: its own transitions and those of the states it is part of (the root aside). */
function handled(role: string): string[] {
  const out: string[] = [];
  for (let s: AnyStateNode | undefined = nodeOf(role); s && s !== raftRoleMachine.root; s = s.parent)
    out.push(...Object.keys(s.config.on ?? {}));
  return out;
}

describe('the role statechart', () => {
  it('has exactly the five roles, starting as follower', () => {
    expect(
      roles()
        .map((s) => s.key)
        .sort(),
    ).toEqual(['candidate', 'follower', 'leader', 'learner', 'preCandidate']);
    let initial: AnyStateNode = raftRoleMachine.root;
    while (initial.initial !== undefined && initial.initial.target.length > 0)
      initial = initial.initial.target[0]!;
    expect(initial.key).toBe('follower');
  });

  it('each role handles the messages of its role (the transitions read like the paper)', () => {
    expect(handled('leader')).toEqual(
      expect.arrayContaining([
        'MsgAppResp',
        'MsgHeartbeatResp',
        'MsgProp',
        'MsgReadIndex',
        'CHECK_QUORUM',
        'BEAT',
        'MsgTransferLeader',
        'MsgSnapStatus',
        'MsgUnreachable',
      ]),
    );
    expect(handled('follower')).toEqual(
      expect.arrayContaining(['MsgApp', 'MsgHeartbeat', 'MsgSnap', 'MsgTimeoutNow', 'MsgReadIndexResp']),
    );
    expect(handled('learner')).not.toContain('MsgTimeoutNow');
    expect(handled('candidate')).toContain('MsgVoteResp');
    expect(handled('preCandidate')).toContain('MsgPreVoteResp');
    // Term rules and voting are shared by every role, at the root.
    expect(Object.keys(raftRoleMachine.root.config.on ?? {}).sort()).toEqual([
      'CAMPAIGN',
      'MsgPreVote',
      'MsgVote',
      'STEP',
    ]);
  });

  it('a follower and a learner share what they do as followers, and differ only in their own transitions', () => {
    const own = (role: string): string[] => Object.keys(nodeOf(role).config.on ?? {}).sort();
    expect(own('follower')).toEqual(['CONFIG_CHANGED', 'MsgTimeoutNow']);
    expect(own('learner')).toEqual(['CONFIG_CHANGED']);
    expect(nodeOf('follower').parent).toBe(nodeOf('learner').parent);
  });

  it('a local request and its message are one event (as etcd steps a proposal: Step(MsgProp)): no role handles a twin', () => {
    for (const s of stateNodes())
      for (const twin of ['PROPOSE', 'READ_INDEX', 'TRANSFER_LEADER'])
        expect(Object.keys(s.config.on ?? {})).not.toContain(twin);
  });
});
