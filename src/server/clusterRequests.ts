import { PeerRequest, type PeerResponse } from '../proto/xetcdpb.js';
import {
  MemberAddResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  type ResponseHeader,
} from '../proto/etcdserverpb.js';
import { ConfChangeType } from '../proto/raftpb.js';
import type { ProgressStatus } from '../raft/raftNode.js';
import {
  ErrLearnerNotReady,
  ErrMemberBadURLs,
  ErrMemberNotEnoughStarted,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrPeerURLExist,
  ErrTooManyLearners,
  ErrUnhealthy,
} from './errors.js';
import { memberId } from './ids.js';
import type { Membership } from './membership.js';
import type { Proposer } from './proposer.js';
import type { RequestContext } from './requestContext.js';

/** etcd 3.4 allows one learner at a time (membership.maxLearners). */
const MAX_LEARNERS = 1;

export interface ClusterRequestsDeps {
  membership: Membership;
  /** --strict-reconfig-check: refuse changes that would leave the cluster without a working quorum. */
  strict: boolean;
  proposer: Pick<Proposer, 'proposeConfChange'>;
  /** A learner this leader promoted (etcd_server_learner_promote_successes). */
  promoted?(): void;
  /** The leader's view of a member's log, when this member leads and knows it. */
  progressOf(id: bigint): ProgressStatus | undefined;
  committedIndex(): number;
  /**
   * Resolves once this member has applied everything committed before the
   * call (a linearizable read): the checks then see the current membership,
   * and the leader no longer holds a configuration of its own term unapplied,
   * which would make Raft ignore the change.
   */
  caughtUp(ctx: RequestContext): Promise<void>;
  selfId: bigint;
  isLeader(): boolean;
  /** The transport heard from the member lately. */
  isActive(id: bigint): boolean;
  /** Asks the leader what only it can answer; its error comes back as thrown. */
  askLeader(request: PeerRequest): Promise<PeerResponse>;
  /** etcd's cluster RPCs fill cluster_id, member_id and raft_term but leave revision 0. */
  memberHeader(): ResponseHeader;
}

/**
 * The membership requests (etcd's v3_server.go / server.go AddMember,
 * RemoveMember, UpdateMember, PromoteMember): checked against the current
 * membership, then proposed as Raft conf changes and answered once applied.
 */
export class ClusterRequests {
  constructor(private readonly deps: ClusterRequestsDeps) {}

  async add(peerUrls: string[], isLearner: boolean, ctx: RequestContext): Promise<MemberAddResponse> {
    await this.deps.caughtUp(ctx);
    const { membership } = this.deps;
    if (peerUrls.length === 0 || !peerUrls.every(isValidPeerUrl)) throw ErrMemberBadURLs;
    const taken = new Set(membership.list().flatMap((m) => m.peerUrls));
    if (peerUrls.some((u) => taken.has(u))) throw ErrPeerURLExist;
    // etcd's MemberAdd: no name, no cluster token, the time of adding.
    const id = memberId(peerUrls, '', Date.now() / 1000);
    if (isLearner && membership.list().filter((m) => m.isLearner).length >= MAX_LEARNERS)
      throw ErrTooManyLearners;
    if (this.deps.strict && !isLearner) {
      if (!this.readyToAddVoter()) throw ErrMemberNotEnoughStarted;
      // A voter added while some are unreachable may leave too few reachable for a quorum.
      const voters = membership.votingMembers();
      const connected = this.connectedVoters();
      if (connected !== undefined && connected < voters.length) throw ErrUnhealthy;
    }
    await this.deps.proposer.proposeConfChange(
      isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode,
      id,
      { id: id.toString(), peerURLs: peerUrls, isLearner },
      ctx,
    );
    return MemberAddResponse.create({
      header: this.deps.memberHeader(),
      member: membership.get(id),
      members: membership.list(),
    });
  }

  async remove(id: bigint, ctx: RequestContext): Promise<MemberRemoveResponse> {
    await this.deps.caughtUp(ctx);
    const member = this.deps.membership.get(id);
    if (!member) throw ErrMemberNotFound;
    if (this.deps.strict && !member.isLearner) {
      if (!this.readyToRemoveVoter(id)) throw ErrMemberNotEnoughStarted;
      // Removing a connected voter while others are down may leave the rest without a quorum.
      const voters = this.deps.membership.votingMembers();
      const connected = this.connectedVoters();
      const reachable = id === this.deps.selfId || this.deps.isActive(id);
      if (connected !== undefined && reachable && connected - 1 < Math.floor((voters.length - 1) / 2) + 1)
        throw ErrUnhealthy;
    }
    await this.deps.proposer.proposeConfChange(ConfChangeType.ConfChangeRemoveNode, id, undefined, ctx);
    return MemberRemoveResponse.create({
      header: this.deps.memberHeader(),
      members: this.deps.membership.list(),
    });
  }

  async update(id: bigint, peerUrls: string[], ctx: RequestContext): Promise<MemberUpdateResponse> {
    await this.deps.caughtUp(ctx);
    const member = this.deps.membership.get(id);
    if (!member) throw ErrMemberNotFound;
    if (peerUrls.length === 0 || !peerUrls.every(isValidPeerUrl)) throw ErrMemberBadURLs;
    await this.deps.proposer.proposeConfChange(
      ConfChangeType.ConfChangeUpdateNode,
      id,
      { id: id.toString(), peerURLs: peerUrls, isLearner: member.isLearner },
      ctx,
    );
    return MemberUpdateResponse.create({
      header: this.deps.memberHeader(),
      members: this.deps.membership.list(),
    });
  }

  /** Promotes a learner; only the leader knows whether it caught up, so a follower asks it (as etcd forwards). */
  async promote(id: bigint, ctx: RequestContext): Promise<MemberPromoteResponse> {
    if (!this.deps.isLeader()) {
      const answer = await this.deps.askLeader(PeerRequest.create({ memberPromote: { id } }));
      if (answer.memberPromote === undefined) throw ErrLearnerNotReady;
      return MemberPromoteResponse.create({ ...answer.memberPromote, header: this.deps.memberHeader() });
    }
    return this.promoteHere(id, ctx);
  }

  async promoteHere(id: bigint, ctx: RequestContext): Promise<MemberPromoteResponse> {
    await this.deps.caughtUp(ctx);
    const member = this.deps.membership.get(id);
    if (!member) throw ErrMemberNotFound;
    if (!member.isLearner) throw ErrMemberNotLearner;
    // A learner is in sync when the leader's progress shows it near the commit
    // index; with no such progress (it never connected) it cannot be promoted.
    const progress = this.deps.progressOf(id);
    if (!progress || progress.match < this.deps.committedIndex() * 0.9) throw ErrLearnerNotReady;
    await this.deps.proposer.proposeConfChange(
      ConfChangeType.ConfChangeAddNode,
      id,
      { id: id.toString(), peerURLs: member.peerUrls, isLearner: false },
      ctx,
    );
    this.deps.promoted?.();
    return MemberPromoteResponse.create({
      header: this.deps.memberHeader(),
      members: this.deps.membership.list(),
    });
  }

  /**
   * Voters this member hears from lately, itself included. Only the leader
   * hears from every member (followers answer it); over NATS a follower hears
   * only the leader, so it cannot tell and does not check.
   */
  private connectedVoters(): number | undefined {
    if (!this.deps.isLeader()) return undefined;
    return this.deps.membership
      .votingMembers()
      .filter((m) => m.id === this.deps.selfId || this.deps.isActive(m.id)).length;
  }

  /** etcd's IsReadyToAddVotingMember: adding one must leave a quorum of started voters. */
  private readyToAddVoter(): boolean {
    const voters = this.deps.membership.votingMembers();
    const started = voters.filter((m) => m.name !== '').length;
    const total = voters.length + 1;
    // Adding a second member to a one-member cluster is how a cluster grows from a restored snapshot.
    if (started === 1 && total === 2) return true;
    return started >= Math.floor(total / 2) + 1;
  }

  /** etcd's IsReadyToRemoveVotingMember: removing one must leave a quorum of started voters. */
  private readyToRemoveVoter(id: bigint): boolean {
    const remaining = this.deps.membership.votingMembers().filter((m) => m.id !== id);
    const started = remaining.filter((m) => m.name !== '').length;
    return started >= Math.floor(remaining.length / 2) + 1;
  }
}

function isValidPeerUrl(u: string): boolean {
  try {
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.port !== '';
  } catch {
    return false;
  }
}
