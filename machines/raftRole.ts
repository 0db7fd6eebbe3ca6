/**
 * The Raft role statechart. What etcd's raft does by swapping
 * `r.step = stepLeader` is a state here, and what each role does with each
 * message is one of its transitions, so the chart reads like the paper (§5,
 * §6, §9.6 of Ongaro's dissertation):
 *
 *   following      the log comes from a leader:   follower · learner
 *   campaigning    asking for votes:              preCandidate · candidate
 *   leader
 *
 * Inputs, as etcd's raft takes them:
 * - TICK (time; etcd's Tick). The leader's raises BEAT and CHECK_QUORUM when due.
 * - A message of our term from a peer, or a local request of no term, as the
 *   event named after its type (etcd's Step(m)): `{ type: 'MsgApp', m }`, and
 *   the driver's proposals, reads and transfers as MsgProp, MsgReadIndex and
 *   MsgTransferLeader, exactly as a follower forwards them.
 * - STEP: a peer's message of another term. The term rules at the root answer
 *   a stale one, ignore a vote request while we follow a live leader, or step
 *   down to the new term; then the message is re-raised as the event of its type.
 * - CAMPAIGN (etcd's MsgHup), CONFIG_CHANGED (a conf change was applied), APPLIED.
 *
 * Output besides the node's outbox: a `proposalDropped` event, which the
 * driver turns into ProposalDroppedError.
 *
 * The machine holds the node's RaftState by reference in context: the log,
 * the progress tracker and the outbox are too big and too hot to copy on every
 * event. It imports no I/O and can be opened in a visualizer as is.
 */
import { and, emit, enqueueActions, not, raise, setup, type StateValue } from 'xstate';
import { MessageType, type Message } from '../src/proto/raftpb.js';
import type { RaftState } from '../src/raft/raftState.js';
import type { RaftRole } from '../src/raft/ready.js';

/** Events named after a message type: `{ type: 'MsgApp', m }`. */
export type MsgEventType = keyof typeof MessageType;

export type RaftRoleEvent =
  | { type: 'TICK' }
  | { type: 'STEP'; m: Message }
  | { type: 'CAMPAIGN'; transfer: boolean }
  | { type: 'BEAT' }
  | { type: 'CHECK_QUORUM' }
  | { type: 'CONFIG_CHANGED' }
  | { type: 'APPLIED' }
  | { type: MsgEventType; m: Message };

/** A proposal was refused, and why (no leader, a transfer in progress, ...). */
export interface ProposalDropped {
  type: 'proposalDropped';
  reason: string;
}

export interface RaftRoleContext {
  raft: RaftState;
}

export interface RaftRoleInput {
  raft: RaftState;
}

/** The message an event carries (every event a guard or action below reads one from carries it). */
const msg = (e: RaftRoleEvent): Message => (e as { m: Message }).m;

/** Every role votes by the same rule (a learner too: a candidate may already count it as a voter). */
const vote = [{ guard: 'canGrantVote', actions: 'grantVote' }, { actions: 'rejectVote' }] as const;

export const raftRoleMachine = setup({
  types: {
    context: {} as RaftRoleContext,
    events: {} as RaftRoleEvent,
    input: {} as RaftRoleInput,
    emitted: {} as ProposalDropped,
  },
  guards: {
    // term rules (for STEP: a message of another term)
    isStaleTerm: ({ context, event }) => msg(event).term < context.raft.term,
    /** Leader stickiness (with CheckQuorum): a vote request while we hear from a live leader is ignored. */
    isVoteRequestInLease: ({ context, event }) => context.raft.election.isVoteRequestInLease(msg(event)),
    /** A pre-vote (or a granted pre-vote) of a higher term does not move our term. */
    keepsTermOnHigher: ({ event }) => {
      const m = msg(event);
      return m.type === MessageType.MsgPreVote || (m.type === MessageType.MsgPreVoteResp && !m.reject);
    },
    // membership
    isSelfLearner: ({ context }) => context.raft.isLearner,
    isSelfVoter: ({ context }) => !context.raft.isLearner && context.raft.prs.progress.has(context.raft.id),
    isSelfRemovedOrDemoted: ({ context }) => context.raft.isSelfRemovedOrDemoted(),
    shouldStepDownOnRemoval: ({ context }) =>
      context.raft.cfg.stepDownOnRemoval && context.raft.isSelfRemovedOrDemoted(),
    // elections
    isPromotable: ({ context }) => context.raft.election.promotable(),
    hasUnappliedConfChanges: ({ context }) => context.raft.election.hasUnappliedConfChanges(),
    isPreVoteCampaign: ({ context, event }) =>
      context.raft.cfg.preVote && !(event.type === 'CAMPAIGN' && event.transfer),
    canGrantVote: ({ context, event }) => context.raft.election.canGrantVote(msg(event)),
    hasWonElection: ({ context }) => context.raft.prs.tallyVotes().result === 'won',
    hasLostElection: ({ context }) => context.raft.prs.tallyVotes().result === 'lost',
    isQuorumActive: ({ context }) => context.raft.prs.quorumActive(context.raft.id),
    // replication
    isReject: ({ event }) => msg(event).reject,
    hasLeader: ({ context }) => context.raft.lead !== 0n,
    isForwardingDisabled: ({ context }) => context.raft.cfg.disableProposalForwarding,
    isTransferPending: ({ context }) => context.raft.transfer.isPending(),
    exceedsUncommittedSize: ({ context, event }) =>
      context.raft.replication.exceedsUncommittedSize(msg(event).entries),
    shouldAutoLeaveJoint: ({ context }) => context.raft.replication.shouldAutoLeaveJoint(),
    // ReadIndex
    isSingleVoter: ({ context }) => context.raft.prs.isSingleton(),
    hasCommittedInCurrentTerm: ({ context }) => context.raft.hasCommittedInCurrentTerm(),
    isLeaseBasedRead: ({ context }) => context.raft.reads.isLeaseBased(),
    // leadership transfer
    isInvalidTransferTarget: ({ context, event }) => !context.raft.transfer.isValidTarget(msg(event)),
    isTransferToCurrentTarget: ({ context, event }) => context.raft.transfer.isTargetOf(msg(event)),
    isTransferToSelf: ({ context, event }) => msg(event).from === context.raft.id,
  },
  actions: {
    /** Re-raise a STEP as the event of its message type, for the (new) role to handle. */
    routeByType: raise(({ event }) => {
      const m = msg(event);
      return { type: MessageType[m.type] as MsgEventType, m };
    }),
    answerStaleMessage: ({ context, event }) => context.raft.answerStaleMessage(msg(event)),
    ignoreVoteInLease: ({ context, event }) =>
      context.raft.logger.info(
        { id: context.raft.id.toString(16), from: msg(event).from.toString(16), term: context.raft.term },
        'ignored vote request: lease is not expired',
      ),
    becomeFollowerOfMessage: ({ context, event }) => context.raft.becomeFollowerOfMessage(msg(event)),
    becomeFollowerWithoutLeader: ({ context }) => context.raft.becomeFollower(context.raft.term, 0n),
    becomeFollowerOfSender: ({ context, event }) =>
      context.raft.becomeFollower(context.raft.term, msg(event).from),
    logRoleChange: ({ context }) => context.raft.logFollowerRole(),
    becomePreCandidate: ({ context }) => context.raft.becomePreCandidate(),
    becomeCandidate: ({ context }) => context.raft.becomeCandidate(),
    becomeLeader: ({ context }) => context.raft.becomeLeader(),
    requestPreVotes: ({ context }) => context.raft.election.requestPreVotes(),
    requestVotes: ({ context, event }) =>
      context.raft.election.requestVotes(event.type === 'CAMPAIGN' && event.transfer),
    refuseCampaign: ({ context }) =>
      context.raft.logger.info(
        { id: context.raft.id.toString(16), term: context.raft.term },
        'cannot campaign now',
      ),
    campaignForTransfer: raise({ type: 'CAMPAIGN', transfer: true }),
    grantVote: ({ context, event }) => context.raft.election.grantVote(msg(event)),
    rejectVote: ({ context, event }) => context.raft.election.rejectVote(msg(event)),
    recordVote: ({ context, event }) => context.raft.election.recordVote(msg(event)),
    tickElection: enqueueActions(({ context, enqueue }) => {
      if (context.raft.election.tickElection()) enqueue.raise({ type: 'CAMPAIGN', transfer: false });
    }),
    tickLeader: enqueueActions(({ context, enqueue }) => {
      const due = context.raft.replication.tickLeader();
      if (due.checkQuorum) enqueue.raise({ type: 'CHECK_QUORUM' });
      if (due.beat) enqueue.raise({ type: 'BEAT' });
    }),
    resetRecentActive: ({ context }) => context.raft.replication.resetRecentActive(),
    broadcastHeartbeat: ({ context }) => context.raft.replication.broadcastHeartbeat(),
    broadcastAppend: ({ context }) => context.raft.replication.broadcastAppend(),
    appendProposal: ({ context, event }) => context.raft.replication.appendProposal(msg(event)),
    dropProposal: emit((_, params: { reason: string }) => ({
      type: 'proposalDropped' as const,
      reason: params.reason,
    })),
    forwardToLeader: ({ context, event }) => context.raft.follower.forwardToLeader(msg(event)),
    proposeLeaveJoint: ({ context }) => context.raft.replication.proposeLeaveJoint(),
    handleAppendAck: ({ context, event }) => context.raft.replication.handleAppendAck(msg(event)),
    handleAppendRejection: ({ context, event }) => context.raft.replication.handleAppendRejection(msg(event)),
    handleHeartbeatResponse: ({ context, event }) =>
      context.raft.replication.handleHeartbeatResponse(msg(event)),
    handleSnapStatus: ({ context, event }) => context.raft.replication.handleSnapStatus(msg(event)),
    handleUnreachable: ({ context, event }) => context.raft.replication.handleUnreachable(msg(event)),
    acceptLeader: ({ context, event }) => context.raft.follower.acceptLeader(msg(event)),
    appendEntries: ({ context, event }) => context.raft.follower.handleAppendEntries(msg(event)),
    handleHeartbeat: ({ context, event }) => context.raft.follower.handleHeartbeat(msg(event)),
    installSnapshot: ({ context, event }) => context.raft.follower.handleSnapshot(msg(event)),
    announceConfigChange: raise({ type: 'CONFIG_CHANGED' }),
    afterConfigChangeAsLeader: ({ context }) => context.raft.afterConfigChangeAsLeader(),
    startLeaderTransfer: ({ context, event }) => context.raft.transfer.start(msg(event)),
    abortLeaderTransfer: ({ context }) => context.raft.transfer.abort(),
    ignoreTransfer: ({ context, event }) =>
      context.raft.logger.debug(
        { id: context.raft.id.toString(16), transferee: msg(event).from.toString(16) },
        'ignored leadership transfer request',
      ),
    answerReadIndexNow: ({ context, event }) => context.raft.reads.answerNow(msg(event)),
    parkReadIndex: ({ context, event }) => context.raft.reads.park(msg(event)),
    startReadIndexRound: ({ context, event }) => context.raft.reads.startRound(msg(event)),
    acceptReadState: ({ context, event }) => context.raft.reads.acceptReadState(msg(event)),
    dropReadIndex: ({ context }) =>
      context.raft.logger.info(
        { id: context.raft.id.toString(16), term: context.raft.term },
        'no leader; dropping read index request',
      ),
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => ({ raft: input.raft }),
  // Every boot starts as a follower of no one; the driver then announces the
  // configuration (CONFIG_CHANGED), which moves a learner to `learner`.
  initial: 'following',
  on: {
    STEP: [
      { guard: 'isStaleTerm', actions: 'answerStaleMessage' },
      // From here on, the message is of a higher term.
      { guard: 'isVoteRequestInLease', actions: 'ignoreVoteInLease' },
      { guard: 'keepsTermOnHigher', actions: 'routeByType' },
      {
        guard: 'isSelfLearner',
        target: '.following.learner',
        actions: ['becomeFollowerOfMessage', 'routeByType'],
      },
      { target: '.following.follower', actions: ['becomeFollowerOfMessage', 'routeByType'] },
    ],
    MsgVote: vote,
    MsgPreVote: vote,
    CAMPAIGN: [
      { guard: not('isPromotable'), actions: 'refuseCampaign' },
      { guard: 'hasUnappliedConfChanges', actions: 'refuseCampaign' },
      {
        guard: 'isPreVoteCampaign',
        target: '.campaigning.preCandidate',
        actions: ['becomePreCandidate', 'requestPreVotes'],
      },
      { target: '.campaigning.candidate', actions: ['becomeCandidate', 'requestVotes'] },
    ],
  },
  states: {
    // Followers and learners: the log comes from the leader of our term, and
    // requests go to it.
    following: {
      initial: 'follower',
      on: {
        TICK: { actions: 'tickElection' },
        MsgApp: { actions: ['acceptLeader', 'appendEntries'] },
        MsgHeartbeat: { actions: ['acceptLeader', 'handleHeartbeat'] },
        MsgSnap: { actions: ['acceptLeader', 'installSnapshot', 'announceConfigChange'] },
        MsgProp: [
          { guard: not('hasLeader'), actions: { type: 'dropProposal', params: { reason: 'no leader' } } },
          {
            guard: 'isForwardingDisabled',
            actions: { type: 'dropProposal', params: { reason: 'proposal forwarding is disabled' } },
          },
          { actions: 'forwardToLeader' },
        ],
        MsgReadIndex: [{ guard: not('hasLeader'), actions: 'dropReadIndex' }, { actions: 'forwardToLeader' }],
        MsgReadIndexResp: { actions: 'acceptReadState' },
        MsgTransferLeader: [
          { guard: not('hasLeader'), actions: 'ignoreTransfer' },
          { actions: 'forwardToLeader' },
        ],
      },
      states: {
        follower: {
          on: {
            MsgTimeoutNow: { actions: 'campaignForTransfer' },
            // Demotion: a voter that became a learner.
            CONFIG_CHANGED: { guard: 'isSelfLearner', target: 'learner', actions: 'logRoleChange' },
          },
        },
        // A learner never campaigns (CAMPAIGN is refused: not promotable) and
        // ignores MsgTimeoutNow.
        learner: {
          on: {
            // Promotion: a learner that became a voter is a follower.
            CONFIG_CHANGED: { guard: 'isSelfVoter', target: 'follower', actions: 'logRoleChange' },
          },
        },
      },
    },
    // Pre-candidates and candidates. A node that hears from a leader of its
    // term (it sends the log) follows it.
    campaigning: {
      // Entered only by CAMPAIGN, which names the state; the initial one is a formality.
      initial: 'preCandidate',
      on: {
        TICK: { actions: 'tickElection' },
        MsgApp: { target: 'following.follower', actions: ['becomeFollowerOfSender', 'appendEntries'] },
        MsgHeartbeat: {
          target: 'following.follower',
          actions: ['becomeFollowerOfSender', 'handleHeartbeat'],
        },
        MsgSnap: {
          target: 'following.follower',
          actions: ['becomeFollowerOfSender', 'installSnapshot', 'announceConfigChange'],
        },
        MsgProp: { actions: { type: 'dropProposal', params: { reason: 'no leader' } } },
        MsgReadIndex: { actions: 'dropReadIndex' },
        MsgTransferLeader: { actions: 'ignoreTransfer' },
        CONFIG_CHANGED: {
          guard: 'isSelfLearner',
          target: 'following.learner',
          actions: 'becomeFollowerWithoutLeader',
        },
      },
      states: {
        // Pre-vote (§9.6): win a pre-vote round before bumping the term.
        preCandidate: {
          always: [
            { guard: 'hasWonElection', target: 'candidate', actions: ['becomeCandidate', 'requestVotes'] },
            {
              guard: 'hasLostElection',
              target: '#raft.following.follower',
              actions: 'becomeFollowerWithoutLeader',
            },
          ],
          on: { MsgPreVoteResp: { actions: 'recordVote' } },
        },
        candidate: {
          always: [
            { guard: 'hasWonElection', target: '#raft.leader', actions: ['becomeLeader', 'broadcastAppend'] },
            {
              guard: 'hasLostElection',
              target: '#raft.following.follower',
              actions: 'becomeFollowerWithoutLeader',
            },
          ],
          on: { MsgVoteResp: { actions: 'recordVote' } },
        },
      },
    },
    leader: {
      on: {
        TICK: { actions: 'tickLeader' },
        BEAT: { actions: 'broadcastHeartbeat' },
        // CheckQuorum: step down if a quorum was not heard from within an election timeout.
        CHECK_QUORUM: [
          {
            guard: not('isQuorumActive'),
            target: 'following.follower',
            actions: ['resetRecentActive', 'becomeFollowerWithoutLeader'],
          },
          { actions: 'resetRecentActive' },
        ],
        CAMPAIGN: { actions: 'refuseCampaign' },
        MsgProp: [
          {
            guard: 'isSelfRemovedOrDemoted',
            actions: {
              type: 'dropProposal',
              params: { reason: 'leader is not a member of the configuration' },
            },
          },
          {
            guard: 'isTransferPending',
            actions: { type: 'dropProposal', params: { reason: 'leadership transfer in progress' } },
          },
          {
            guard: 'exceedsUncommittedSize',
            actions: { type: 'dropProposal', params: { reason: 'too much uncommitted data' } },
          },
          { actions: ['appendProposal', 'broadcastAppend'] },
        ],
        MsgAppResp: [{ guard: 'isReject', actions: 'handleAppendRejection' }, { actions: 'handleAppendAck' }],
        MsgHeartbeatResp: { actions: 'handleHeartbeatResponse' },
        MsgSnapStatus: { actions: 'handleSnapStatus' },
        MsgUnreachable: { actions: 'handleUnreachable' },
        // ReadIndex (§6.4): one voter answers at once; a new leader waits for an
        // entry of its term to commit; lease-based reads trust CheckQuorum;
        // safe reads confirm leadership with a heartbeat quorum.
        MsgReadIndex: [
          { guard: 'isSingleVoter', actions: 'answerReadIndexNow' },
          { guard: not('hasCommittedInCurrentTerm'), actions: 'parkReadIndex' },
          { guard: 'isLeaseBasedRead', actions: 'answerReadIndexNow' },
          { actions: 'startReadIndexRound' },
        ],
        MsgTransferLeader: [
          { guard: 'isInvalidTransferTarget', actions: 'ignoreTransfer' },
          { guard: 'isTransferToCurrentTarget', actions: 'ignoreTransfer' },
          { guard: 'isTransferToSelf', actions: ['abortLeaderTransfer', 'ignoreTransfer'] },
          { actions: 'startLeaderTransfer' },
        ],
        CONFIG_CHANGED: [
          {
            guard: and(['shouldStepDownOnRemoval', 'isSelfLearner']),
            target: 'following.learner',
            actions: 'becomeFollowerWithoutLeader',
          },
          {
            guard: 'shouldStepDownOnRemoval',
            target: 'following.follower',
            actions: 'becomeFollowerWithoutLeader',
          },
          // A removed leader that does not step down keeps serving, without counting itself.
          { guard: 'isSelfRemovedOrDemoted' },
          { actions: 'afterConfigChangeAsLeader' },
        ],
        APPLIED: { guard: 'shouldAutoLeaveJoint', actions: ['proposeLeaveJoint', 'broadcastAppend'] },
      },
    },
  },
});

export type RaftRoleMachine = typeof raftRoleMachine;

/** The role a state value of the chart stands for: its innermost state. */
export function roleOf(value: StateValue): RaftRole {
  // The driver asks after every input: walk the value without allocating.
  let v = value;
  while (typeof v !== 'string') {
    for (const parent in v) {
      v = v[parent]!;
      break;
    }
  }
  return v as RaftRole;
}
