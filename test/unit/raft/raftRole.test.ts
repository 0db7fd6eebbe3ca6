import { describe, expect, it } from 'vitest';
import { raftRoleMachine } from '../../../machines/raft-role.js';

describe('the role statechart', () => {
  it('has exactly the five roles, starting as follower', () => {
    expect(Object.keys(raftRoleMachine.root.states).sort()).toEqual([
      'candidate',
      'follower',
      'leader',
      'learner',
      'preCandidate',
    ]);
    expect(raftRoleMachine.root.initial?.target[0]?.key).toBe('follower');
  });

  it('each role handles the messages of its role (the transitions read like the paper)', () => {
    const events = (state: string) => Object.keys(raftRoleMachine.root.states[state]!.config.on ?? {});
    expect(events('leader')).toEqual(
      expect.arrayContaining([
        'MsgAppResp',
        'MsgHeartbeatResp',
        'MsgProp',
        'READ_INDEX',
        'CHECK_QUORUM',
        'BEAT',
        'TRANSFER_LEADER',
        'MsgSnapStatus',
        'MsgUnreachable',
      ]),
    );
    expect(events('follower')).toEqual(
      expect.arrayContaining(['MsgApp', 'MsgHeartbeat', 'MsgSnap', 'MsgTimeoutNow', 'MsgReadIndexResp']),
    );
    expect(events('learner')).not.toContain('MsgTimeoutNow');
    expect(events('candidate')).toContain('MsgVoteResp');
    expect(events('preCandidate')).toContain('MsgPreVoteResp');
    // Term rules and voting are shared by every role, at the root.
    expect(Object.keys(raftRoleMachine.root.config.on ?? {}).sort()).toEqual([
      'CAMPAIGN',
      'MsgPreVote',
      'MsgVote',
      'STEP',
    ]);
  });
});
