/**
 * The Raft role statechart: follower, preCandidate, candidate, leader,
 * learner. What etcd's raft does by swapping `r.step = stepLeader` is a
 * state here, and what each role does with each message is one of its
 * transitions, so the chart reads like the paper (§5, §6, §9.6 of Ongaro's
 * dissertation).
 *
 * Inputs: TICK (time), STEP (a message from a peer), and the local requests
 * CAMPAIGN, PROPOSE, READ_INDEX, TRANSFER_LEADER, CONFIG_CHANGED, APPLIED.
 * A STEP first passes the term rules (stale, higher, leader stickiness) at the
 * root, then is re-raised as an event named after its message type (MsgApp,
 * MsgVoteResp, ...) that the current role handles. Local messages (from the
 * driver) are sent by type directly.
 *
 * The machine holds the node's RaftState by reference in context: the log,
 * the progress tracker and the outbox are too big and too hot to copy on every
 * event. It imports no I/O and can be opened in a visualizer as is.
 */
import { and, enqueueActions, not, raise, setup } from 'xstate';
import { MessageType, type Message } from '../src/proto/raftpb.js';
import type { RaftState } from '../src/raft/raftState.js';

/** Events named after a message type: `{ type: 'MsgApp', m }`. */
export type MsgEventType = keyof typeof MessageType;

export type RaftRoleEvent =
  | { type: 'TICK' }
  | { type: 'STEP'; m: Message }
  | { type: 'CAMPAIGN'; transfer: boolean }
  | { type: 'PROPOSE'; m: Message }
  | { type: 'READ_INDEX'; m: Message }
  | { type: 'TRANSFER_LEADER'; m: Message }
  | { type: 'BEAT' }
  | { type: 'CHECK_QUORUM' }
  | { type: 'CONFIG_CHANGED' }
  | { type: 'APPLIED' }
  | { type: MsgEventType; m: Message };

export interface RaftRoleContext {
  raft: RaftState;
}

export interface RaftRoleInput {
  raft: RaftState;
}

/** The message an event carries (every event a guard or action below reads one from carries it). */
const msg = (e: RaftRoleEvent): Message => (e as { m: Message }).m;

export const raftRoleMachine = setup({
  types: {
    context: {} as RaftRoleContext,
    events: {} as RaftRoleEvent,
    input: {} as RaftRoleInput,
  },
  guards: {
    // term rules
    isLocal: ({ event }) => msg(event).term === 0,
    isStaleTerm: ({ context, event }) => msg(event).term < context.raft.term,
    isHigherTerm: ({ context, event }) => msg(event).term > context.raft.term,
    /** Leader stickiness (with CheckQuorum): a vote request while we hear from a live leader is ignored. */
    isVoteRequestInLease: ({ context, event }) => {
      const m = msg(event);
      return m.term > context.raft.term && context.raft.isVoteRequestInLease(m);
    },
    /** A pre-vote (or a granted pre-vote) of a higher term does not move our term. */
    keepsTermOnHigher: ({ context, event }) => {
      const m = msg(event);
      return (
        m.term > context.raft.term &&
        (m.type === MessageType.MsgPreVote || (m.type === MessageType.MsgPreVoteResp && !m.reject))
      );
    },
    // membership
    isSelfLearner: ({ context }) => context.raft.isLearner,
    isSelfVoter: ({ context }) => !context.raft.isLearner && context.raft.prs.progress.has(context.raft.id),
    isSelfRemovedOrDemoted: ({ context }) => context.raft.isSelfRemovedOrDemoted(),
    shouldStepDownOnRemoval: ({ context }) =>
      context.raft.cfg.stepDownOnRemoval && context.raft.isSelfRemovedOrDemoted(),
    // elections
    isPromotable: ({ context }) => context.raft.promotable(),
    hasUnappliedConfChanges: ({ context }) => context.raft.hasUnappliedConfChanges(),
    isPreVoteCampaign: ({ context, event }) =>
      context.raft.cfg.preVote && !(event.type === 'CAMPAIGN' && event.transfer),
    canGrantVote: ({ context, event }) => context.raft.canGrantVote(msg(event)),
    hasWonElection: ({ context }) => context.raft.prs.tallyVotes().result === 'won',
    hasLostElection: ({ context }) => context.raft.prs.tallyVotes().result === 'lost',
    isQuorumActive: ({ context }) => context.raft.prs.quorumActive(context.raft.id),
    // replication
    isReject: ({ event }) => msg(event).reject,
    hasLeader: ({ context }) => context.raft.lead !== 0n,
    isForwardingDisabled: ({ context }) => context.raft.cfg.disableProposalForwarding,
    isTransferPending: ({ context }) => context.raft.leadTransferee !== 0n,
    exceedsUncommittedSize: ({ context, event }) => context.raft.exceedsUncommittedSize(msg(event).entries),
    shouldAutoLeaveJoint: ({ context }) => context.raft.shouldAutoLeaveJoint(),
    // ReadIndex
    isSingleVoter: ({ context }) => context.raft.prs.isSingleton(),
    hasCommittedInCurrentTerm: ({ context }) => context.raft.hasCommittedInCurrentTerm(),
    isLeaseBasedRead: ({ context }) => context.raft.readOnly.option === 'leaseBased',
    // leadership transfer
    isInvalidTransferTarget: ({ context, event }) => !context.raft.transferTargetIsValid(msg(event)),
    isTransferToCurrentTarget: ({ context, event }) =>
      context.raft.leadTransferee !== 0n && context.raft.leadTransferee === msg(event).from,
    isTransferToSelf: ({ context, event }) => msg(event).from === context.raft.id,
  },
  actions: {
    /** Re-raise a STEP as the event of its message type, for the current role to handle. */
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
    becomePreCandidate: ({ context }) => context.raft.becomePreCandidate(),
    enterLearnerRole: ({ context }) => context.raft.changeFollowerRole('learner'),
    enterFollowerRole: ({ context }) => context.raft.changeFollowerRole('follower'),
    becomeCandidate: ({ context }) => context.raft.becomeCandidate(),
    becomeLeader: ({ context }) => context.raft.becomeLeader(),
    requestVotes: ({ context, event }) =>
      context.raft.requestVotes(event.type === 'CAMPAIGN' && event.transfer),
    refuseCampaign: ({ context }) =>
      context.raft.logger.info(
        { id: context.raft.id.toString(16), term: context.raft.term },
        'cannot campaign now',
      ),
    campaignForTransfer: raise({ type: 'CAMPAIGN', transfer: true }),
    grantVote: ({ context, event }) => context.raft.grantVote(msg(event)),
    rejectVote: ({ context, event }) => context.raft.rejectVote(msg(event)),
    recordVote: ({ context, event }) => context.raft.recordVote(msg(event)),
    tickElection: enqueueActions(({ context, enqueue }) => {
      if (context.raft.tickElection()) enqueue.raise({ type: 'CAMPAIGN', transfer: false });
    }),
    tickLeader: enqueueActions(({ context, enqueue }) => {
      const due = context.raft.tickLeader();
      if (due.checkQuorum) enqueue.raise({ type: 'CHECK_QUORUM' });
      if (due.beat) enqueue.raise({ type: 'BEAT' });
    }),
    resetRecentActive: ({ context }) => context.raft.resetRecentActive(),
    broadcastHeartbeat: ({ context }) => context.raft.broadcastHeartbeat(),
    broadcastAppend: ({ context }) => context.raft.broadcastAppend(),
    appendProposal: ({ context, event }) => context.raft.appendProposal(msg(event)),
    dropProposal: ({ context }) =>
      context.raft.dropProposal(`role ${context.raft.role}, lead ${context.raft.lead.toString(16)}`),
    dropProposalDuringTransfer: ({ context }) => context.raft.dropProposal('leadership transfer in progress'),
    dropProposalTooLarge: ({ context }) => context.raft.dropProposal('too much uncommitted data'),
    dropProposalNotMember: ({ context }) =>
      context.raft.dropProposal('leader is not a member of the configuration'),
    forwardToLeader: ({ context, event }) => context.raft.forwardToLeader(msg(event)),
    proposeLeaveJoint: ({ context }) => context.raft.proposeLeaveJoint(),
    handleAppendAck: ({ context, event }) => context.raft.handleAppendAck(msg(event)),
    handleAppendRejection: ({ context, event }) => context.raft.handleAppendRejection(msg(event)),
    handleHeartbeatResponse: ({ context, event }) => context.raft.handleHeartbeatResponse(msg(event)),
    handleSnapStatus: ({ context, event }) => context.raft.handleSnapStatus(msg(event)),
    handleUnreachable: ({ context, event }) => context.raft.handleUnreachable(msg(event)),
    acceptLeader: ({ context, event }) => context.raft.acceptLeader(msg(event)),
    appendEntries: ({ context, event }) => context.raft.handleAppendEntries(msg(event)),
    handleHeartbeat: ({ context, event }) => context.raft.handleHeartbeat(msg(event)),
    installSnapshot: ({ context, event }) => context.raft.handleSnapshot(msg(event)),
    announceConfigChange: raise({ type: 'CONFIG_CHANGED' }),
    afterConfigChangeAsLeader: ({ context }) => context.raft.afterConfigChangeAsLeader(),
    startLeaderTransfer: ({ context, event }) => context.raft.startLeaderTransfer(msg(event)),
    abortLeaderTransfer: ({ context }) => context.raft.abortLeaderTransfer(),
    ignoreTransfer: ({ context, event }) =>
      context.raft.logger.debug(
        { id: context.raft.id.toString(16), transferee: msg(event).from.toString(16) },
        'ignored leadership transfer request',
      ),
    answerReadIndexNow: ({ context, event }) => context.raft.answerReadIndexNow(msg(event)),
    parkReadIndex: ({ context, event }) => context.raft.parkReadIndex(msg(event)),
    startReadIndexRound: ({ context, event }) => context.raft.startReadIndexRound(msg(event)),
    acceptReadState: ({ context, event }) => context.raft.acceptReadState(msg(event)),
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
  initial: 'follower',
  on: {
    STEP: [
      { guard: 'isLocal', actions: 'routeByType' },
      { guard: 'isStaleTerm', actions: 'answerStaleMessage' },
      { guard: 'isVoteRequestInLease', actions: 'ignoreVoteInLease' },
      { guard: 'keepsTermOnHigher', actions: 'routeByType' },
      {
        guard: and(['isHigherTerm', 'isSelfLearner']),
        target: '.learner',
        actions: ['becomeFollowerOfMessage', 'routeByType'],
      },
      { guard: 'isHigherTerm', target: '.follower', actions: ['becomeFollowerOfMessage', 'routeByType'] },
      { actions: 'routeByType' },
    ],
    // Every role votes by the same rule (a learner too: a candidate may already count it as a voter).
    MsgVote: [{ guard: 'canGrantVote', actions: 'grantVote' }, { actions: 'rejectVote' }],
    MsgPreVote: [{ guard: 'canGrantVote', actions: 'grantVote' }, { actions: 'rejectVote' }],
    CAMPAIGN: [
      { guard: not('isPromotable'), actions: 'refuseCampaign' },
      { guard: 'hasUnappliedConfChanges', actions: 'refuseCampaign' },
      {
        guard: 'isPreVoteCampaign',
        target: '.preCandidate',
        actions: ['becomePreCandidate', 'requestVotes'],
      },
      { target: '.candidate', actions: ['becomeCandidate', 'requestVotes'] },
    ],
  },
  states: {
    follower: {
      on: {
        TICK: { actions: 'tickElection' },
        MsgApp: { actions: ['acceptLeader', 'appendEntries'] },
        MsgHeartbeat: { actions: ['acceptLeader', 'handleHeartbeat'] },
        MsgSnap: { actions: ['acceptLeader', 'installSnapshot', 'announceConfigChange'] },
        PROPOSE: [
          { guard: not('hasLeader'), actions: 'dropProposal' },
          { guard: 'isForwardingDisabled', actions: 'dropProposal' },
          { actions: 'forwardToLeader' },
        ],
        MsgProp: [
          { guard: not('hasLeader'), actions: 'dropProposal' },
          { guard: 'isForwardingDisabled', actions: 'dropProposal' },
          { actions: 'forwardToLeader' },
        ],
        TRANSFER_LEADER: [
          { guard: not('hasLeader'), actions: 'ignoreTransfer' },
          { actions: 'forwardToLeader' },
        ],
        MsgTransferLeader: [
          { guard: not('hasLeader'), actions: 'ignoreTransfer' },
          { actions: 'forwardToLeader' },
        ],
        MsgTimeoutNow: { actions: 'campaignForTransfer' },
        READ_INDEX: [{ guard: not('hasLeader'), actions: 'dropReadIndex' }, { actions: 'forwardToLeader' }],
        MsgReadIndex: [{ guard: not('hasLeader'), actions: 'dropReadIndex' }, { actions: 'forwardToLeader' }],
        MsgReadIndexResp: { actions: 'acceptReadState' },
        CONFIG_CHANGED: { guard: 'isSelfLearner', target: 'learner', actions: 'enterLearnerRole' },
      },
    },
    // A learner receives the log like a follower, but never campaigns (CAMPAIGN
    // is refused: not promotable) and ignores MsgTimeoutNow.
    learner: {
      on: {
        TICK: { actions: 'tickElection' },
        MsgApp: { actions: ['acceptLeader', 'appendEntries'] },
        MsgHeartbeat: { actions: ['acceptLeader', 'handleHeartbeat'] },
        MsgSnap: { actions: ['acceptLeader', 'installSnapshot', 'announceConfigChange'] },
        PROPOSE: [
          { guard: not('hasLeader'), actions: 'dropProposal' },
          { guard: 'isForwardingDisabled', actions: 'dropProposal' },
          { actions: 'forwardToLeader' },
        ],
        MsgProp: [
          { guard: not('hasLeader'), actions: 'dropProposal' },
          { guard: 'isForwardingDisabled', actions: 'dropProposal' },
          { actions: 'forwardToLeader' },
        ],
        TRANSFER_LEADER: [
          { guard: not('hasLeader'), actions: 'ignoreTransfer' },
          { actions: 'forwardToLeader' },
        ],
        MsgTransferLeader: [
          { guard: not('hasLeader'), actions: 'ignoreTransfer' },
          { actions: 'forwardToLeader' },
        ],
        READ_INDEX: [{ guard: not('hasLeader'), actions: 'dropReadIndex' }, { actions: 'forwardToLeader' }],
        MsgReadIndex: [{ guard: not('hasLeader'), actions: 'dropReadIndex' }, { actions: 'forwardToLeader' }],
        MsgReadIndexResp: { actions: 'acceptReadState' },
        // Promotion: a learner that became a voter is a follower.
        CONFIG_CHANGED: { guard: 'isSelfVoter', target: 'follower', actions: 'enterFollowerRole' },
      },
    },
    preCandidate: {
      // Pre-vote (§9.6): win a pre-vote round before bumping the term.
      always: [
        { guard: 'hasWonElection', target: 'candidate', actions: ['becomeCandidate', 'requestVotes'] },
        { guard: 'hasLostElection', target: 'follower', actions: 'becomeFollowerWithoutLeader' },
      ],
      on: {
        TICK: { actions: 'tickElection' },
        MsgPreVoteResp: { actions: 'recordVote' },
        // A leader of our term exists: follow it.
        MsgApp: { target: 'follower', actions: ['becomeFollowerOfSender', 'appendEntries'] },
        MsgHeartbeat: { target: 'follower', actions: ['becomeFollowerOfSender', 'handleHeartbeat'] },
        MsgSnap: {
          target: 'follower',
          actions: ['becomeFollowerOfSender', 'installSnapshot', 'announceConfigChange'],
        },
        PROPOSE: { actions: 'dropProposal' },
        MsgProp: { actions: 'dropProposal' },
        READ_INDEX: { actions: 'dropReadIndex' },
        TRANSFER_LEADER: { actions: 'ignoreTransfer' },
        CONFIG_CHANGED: { guard: 'isSelfLearner', target: 'learner', actions: 'becomeFollowerWithoutLeader' },
      },
    },
    candidate: {
      always: [
        { guard: 'hasWonElection', target: 'leader', actions: ['becomeLeader', 'broadcastAppend'] },
        { guard: 'hasLostElection', target: 'follower', actions: 'becomeFollowerWithoutLeader' },
      ],
      on: {
        TICK: { actions: 'tickElection' },
        MsgVoteResp: { actions: 'recordVote' },
        MsgApp: { target: 'follower', actions: ['becomeFollowerOfSender', 'appendEntries'] },
        MsgHeartbeat: { target: 'follower', actions: ['becomeFollowerOfSender', 'handleHeartbeat'] },
        MsgSnap: {
          target: 'follower',
          actions: ['becomeFollowerOfSender', 'installSnapshot', 'announceConfigChange'],
        },
        PROPOSE: { actions: 'dropProposal' },
        MsgProp: { actions: 'dropProposal' },
        READ_INDEX: { actions: 'dropReadIndex' },
        TRANSFER_LEADER: { actions: 'ignoreTransfer' },
        CONFIG_CHANGED: { guard: 'isSelfLearner', target: 'learner', actions: 'becomeFollowerWithoutLeader' },
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
            target: 'follower',
            actions: ['resetRecentActive', 'becomeFollowerWithoutLeader'],
          },
          { actions: 'resetRecentActive' },
        ],
        CAMPAIGN: { actions: 'refuseCampaign' },
        PROPOSE: [
          { guard: 'isSelfRemovedOrDemoted', actions: 'dropProposalNotMember' },
          { guard: 'isTransferPending', actions: 'dropProposalDuringTransfer' },
          { guard: 'exceedsUncommittedSize', actions: 'dropProposalTooLarge' },
          { actions: ['appendProposal', 'broadcastAppend'] },
        ],
        MsgProp: [
          { guard: 'isSelfRemovedOrDemoted', actions: 'dropProposalNotMember' },
          { guard: 'isTransferPending', actions: 'dropProposalDuringTransfer' },
          { guard: 'exceedsUncommittedSize', actions: 'dropProposalTooLarge' },
          { actions: ['appendProposal', 'broadcastAppend'] },
        ],
        MsgAppResp: [{ guard: 'isReject', actions: 'handleAppendRejection' }, { actions: 'handleAppendAck' }],
        MsgHeartbeatResp: { actions: 'handleHeartbeatResponse' },
        MsgSnapStatus: { actions: 'handleSnapStatus' },
        MsgUnreachable: { actions: 'handleUnreachable' },
        // ReadIndex (§6.4): one voter answers at once; a new leader waits for an
        // entry of its term to commit; lease-based reads trust CheckQuorum;
        // safe reads confirm leadership with a heartbeat quorum.
        READ_INDEX: [
          { guard: 'isSingleVoter', actions: 'answerReadIndexNow' },
          { guard: not('hasCommittedInCurrentTerm'), actions: 'parkReadIndex' },
          { guard: 'isLeaseBasedRead', actions: 'answerReadIndexNow' },
          { actions: 'startReadIndexRound' },
        ],
        MsgReadIndex: [
          { guard: 'isSingleVoter', actions: 'answerReadIndexNow' },
          { guard: not('hasCommittedInCurrentTerm'), actions: 'parkReadIndex' },
          { guard: 'isLeaseBasedRead', actions: 'answerReadIndexNow' },
          { actions: 'startReadIndexRound' },
        ],
        TRANSFER_LEADER: [
          { guard: 'isInvalidTransferTarget', actions: 'ignoreTransfer' },
          { guard: 'isTransferToCurrentTarget', actions: 'ignoreTransfer' },
          { guard: 'isTransferToSelf', actions: ['abortLeaderTransfer', 'ignoreTransfer'] },
          { actions: 'startLeaderTransfer' },
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
            target: 'learner',
            actions: 'becomeFollowerWithoutLeader',
          },
          { guard: 'shouldStepDownOnRemoval', target: 'follower', actions: 'becomeFollowerWithoutLeader' },
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
