import { describe, expect, it } from 'vitest';
import { ConfChangeType, MessageType } from '../../../src/proto/raftpb.js';
import { ProposalDroppedError } from '../../../src/raft/errors.js';
import { Cluster, enc } from './cluster.js';

const { MsgTimeoutNow, MsgProp } = MessageType;
const { ConfChangeRemoveNode, ConfChangeAddLearnerNode } = ConfChangeType;

describe('proposals', () => {
  it('a follower forwards proposals to the leader', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(2n).propose(enc('via-2'));
    const fwd = c.takeMessages();
    expect(fwd).toMatchObject([{ type: MsgProp, from: 2n, to: 1n, term: 0 }]);
    c.deliver(fwd[0]!);
    c.stabilize();
    expect(c.raft(3n).status().commit).toBe(2);
    expect(new TextDecoder().decode(c.node(3n).applied[1]!.data)).toBe('via-2');
  });

  it('disableProposalForwarding makes a follower refuse with ProposalDroppedError', () => {
    const c = new Cluster([1n, 2n, 3n], { disableProposalForwarding: true });
    c.elect(1n);
    expect(() => c.raft(2n).propose(enc('x'))).toThrow(ProposalDroppedError);
    expect(() => c.raft(2n).propose(enc('x'))).toThrow('raft proposal dropped');
  });

  it('a node without a leader drops proposals; so does a candidate', () => {
    const c = new Cluster([1n, 2n, 3n]);
    expect(() => c.raft(1n).propose(enc('x'))).toThrow(ProposalDroppedError);
    c.isolate(1n);
    c.raft(1n).campaign();
    expect(c.raft(1n).status().role).toBe('candidate');
    expect(() => c.raft(1n).propose(enc('x'))).toThrow(ProposalDroppedError);
  });

  it('maxUncommittedEntriesSize refuses proposals once too much is uncommitted', () => {
    const c = new Cluster([1n, 2n, 3n], { maxUncommittedEntriesSize: 1000 });
    c.elect(1n);
    c.isolate(1n);
    c.raft(1n).propose(new Uint8Array(600));
    expect(() => c.raft(1n).propose(new Uint8Array(600))).toThrow(ProposalDroppedError);
    c.heal();
    c.raft(1n).tick();
    c.stabilize();
    c.raft(1n).propose(new Uint8Array(600)); // committed entries left the budget
  });
});

describe('A16 leader transfer', () => {
  it('to an up-to-date node: it becomes leader at term+1', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).transferLeadership(2n);
    const out = c.takeMessages();
    expect(out).toMatchObject([{ type: MsgTimeoutNow, to: 2n }]);
    for (const m of out) c.deliver(m);
    c.stabilize();
    expect(c.raft(2n).status()).toMatchObject({ role: 'leader', term: 2 });
    expect(c.raft(1n).status()).toMatchObject({ role: 'follower', lead: 2n });
  });

  it('transfer works with CheckQuorum and PreVote (the forced campaign bypasses leases and pre-vote)', () => {
    const c = new Cluster([1n, 2n, 3n], { checkQuorum: true, preVote: true });
    c.elect(1n);
    c.raft(1n).transferLeadership(3n);
    c.stabilize();
    expect(c.raft(3n).status()).toMatchObject({ role: 'leader', term: 2 });
  });

  it('a lagging target is caught up first; proposals are dropped while the transfer is pending', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.isolate(3n);
    for (let i = 0; i < 3; i++) c.raft(1n).propose(enc(`e${i}`));
    c.stabilize();
    c.raft(1n).transferLeadership(3n);
    expect(c.raft(1n).status().leadTransferee).toBe(3n);
    expect(() => c.raft(1n).propose(enc('during'))).toThrow(ProposalDroppedError);
    c.heal();
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(3n).status()).toMatchObject({ role: 'leader', term: 2 });
    expect(c.node(3n).storage.lastIndex()).toBeGreaterThanOrEqual(5);
  });

  it('MsgTimeoutNow waits for the transferee to acknowledge the whole log, not just some of it', () => {
    // One entry per MsgApp, one MsgApp in flight: the transferee catches up in several acks.
    const c = new Cluster([1n, 2n, 3n], { maxSizePerMsg: 1, maxInflightMsgs: 1 });
    c.elect(1n);
    c.isolate(3n);
    for (let i = 0; i < 3; i++) c.raft(1n).propose(enc(`e${i}`));
    c.stabilize();
    c.raft(1n).transferLeadership(3n);
    c.heal();
    const matchOf3AtTimeoutNow: number[] = [];
    c.raft(1n).tick();
    c.stabilize((m) => {
      if (m.type === MsgTimeoutNow) matchOf3AtTimeoutNow.push(c.raft(1n).status().progress!.get(3n)!.match);
      return true;
    });
    expect(matchOf3AtTimeoutNow).toEqual([4]);
    expect(c.raft(3n).status()).toMatchObject({ role: 'leader', term: 2 });
  });

  it('a transfer not done within an election timeout is aborted', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.isolate(3n);
    c.raft(1n).transferLeadership(3n);
    expect(c.raft(1n).status().leadTransferee).toBe(3n);
    for (let i = 0; i < 10; i++) {
      c.raft(1n).tick();
      c.stabilize();
    }
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', leadTransferee: 0n });
    c.raft(1n).propose(enc('accepted again'));
  });

  it('a transfer to self or to a non-member does nothing', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).transferLeadership(1n);
    c.raft(1n).transferLeadership(9n);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', leadTransferee: 0n, term: 1 });
    expect(c.takeMessages().filter((m) => m.type === MsgTimeoutNow)).toEqual([]);
  });

  it('a follower forwards the request to its leader', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(2n).transferLeadership(2n);
    c.stabilize();
    expect(c.raft(2n).status()).toMatchObject({ role: 'leader', term: 2 });
  });

  it('a second request for the same target is ignored; another target replaces it', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.isolate(3n);
    c.raft(1n).propose(enc('a'));
    c.stabilize();
    c.raft(1n).transferLeadership(3n);
    c.raft(1n).transferLeadership(3n);
    expect(c.raft(1n).status().leadTransferee).toBe(3n);
    c.raft(1n).transferLeadership(2n);
    c.stabilize();
    expect(c.raft(2n).status().role).toBe('leader');
  });

  it('a repeated request for the transfer under way does not extend its election timeout', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.isolate(3n);
    c.raft(1n).propose(enc('a'));
    c.stabilize();
    c.raft(1n).transferLeadership(3n);
    const tickLeader = (n: number): void => {
      for (let i = 0; i < n; i++) {
        c.raft(1n).tick();
        c.stabilize();
      }
    };
    tickLeader(5);
    c.raft(1n).transferLeadership(3n);
    expect(c.raft(1n).status().leadTransferee).toBe(3n);
    tickLeader(5);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', leadTransferee: 0n });
  });

  it.each([
    ['removed', ConfChangeRemoveNode],
    ['demoted to learner', ConfChangeAddLearnerNode],
  ])('a transfer is aborted when the transferee is %s', (_, type) => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.isolate(3n);
    // Proposed before the transfer starts (proposals are refused during one), applied while it is under way.
    c.raft(1n).proposeConfChange({ type, nodeId: 3n, context: new Uint8Array(0), id: 0 });
    const appends = c.takeMessages();
    c.raft(1n).transferLeadership(3n);
    expect(c.raft(1n).status().leadTransferee).toBe(3n);
    for (const m of appends) c.deliver(m);
    c.stabilize();
    expect(c.node(1n).confState.voters).toEqual([1n, 2n]);
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', leadTransferee: 0n });
    c.raft(1n).propose(enc('accepted again'));
  });

  it('a configuration change that keeps the transferee a voter leaves the transfer under way', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.isolate(2n);
    c.raft(1n).proposeConfChange({
      type: ConfChangeAddLearnerNode,
      nodeId: 4n,
      context: new Uint8Array(0),
      id: 0,
    });
    const appends = c.takeMessages();
    c.raft(1n).transferLeadership(2n);
    for (const m of appends) c.deliver(m);
    c.stabilize();
    expect(c.node(1n).confState.learners).toEqual([4n]);
    expect(c.raft(1n).status().leadTransferee).toBe(2n);
    c.heal();
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(2n).status()).toMatchObject({ role: 'leader', term: 2 });
  });

  it('a learner is never a transfer target', () => {
    const c = new Cluster([1n, 2n, 3n], {}, [4n]);
    c.elect(1n);
    c.raft(1n).transferLeadership(4n);
    expect(c.raft(1n).status().leadTransferee).toBe(0n);
  });
});
