import {
  ConfChange,
  ConfChangeV2,
  EntryType,
  Message,
  MessageType,
  type ConfState,
  type Entry,
  type Snapshot,
} from '../proto/raftpb.js';
import type { ResolvedRaftConfig, RaftLogger } from './config.js';
import { ConfChanger, isLeaveJoint, restoreConfState, toConfChangeV2 } from './confchange.js';
import { payloadSize } from './entrySize.js';
import { RaftInvariantError } from './errors.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { ProgressTracker } from './progressTracker.js';
import { ReadOnly } from './readOnly.js';
import type { RaftRole, ReadState } from './ready.js';
import { CompactedError, SnapshotTemporarilyUnavailableError, UnavailableError } from './storage.js';

/** No node: IDs are never 0. */
export const NONE = 0n;

/** The context of a vote request sent because of a leadership transfer: it bypasses leader stickiness. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

const EMPTY = new Uint8Array(0);

const hex = (id: bigint): string => id.toString(16);

function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

function voteResponseType(t: MessageType): MessageType {
  return t === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
}

function isVoteType(t: MessageType): boolean {
  return (
    t === MessageType.MsgVote ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgPreVote ||
    t === MessageType.MsgPreVoteResp
  );
}

/**
 * Everything a Raft node knows, and the operations the role statechart
 * (machines/raft-role.ts) performs on it by name. The chart decides *which*
 * operation runs in which role for which input; this class says *how*. It is
 * pure: no timers, no I/O; output goes to `msgs` and `readStates`, which
 * RaftNode hands out in a Ready.
 */
export class RaftState {
  readonly id: bigint;
  term = 0;
  vote = NONE;
  lead = NONE;
  role: RaftRole = 'follower';
  isLearner = false;

  readonly log: RaftLog;
  readonly prs: ProgressTracker;
  readOnly: ReadOnly;

  /** Outbox: sent by the server after the Ready that carries them is durable. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee = NONE;
  /** Index of the last conf change proposed; a new one is refused until it is applied. */
  pendingConfIndex = 0;
  uncommittedSize = 0;
  /** Set when the last proposal was refused, so the driver can throw ProposalDroppedError. */
  proposalDropped: string | undefined = undefined;

  readonly cfg: ResolvedRaftConfig;
  readonly logger: RaftLogger;

  constructor(cfg: ResolvedRaftConfig) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.logger = cfg.logger;
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedSizePerReady);
    this.prs = new ProgressTracker(cfg.maxInflightMsgs, cfg.maxInflightBytes);
    this.readOnly = new ReadOnly(cfg.readOnlyOption);
    const { hardState, confState } = cfg.storage.initialState();
    const restored = restoreConfState(this.prs, confState, this.log.lastIndex());
    this.prs.switchTo(restored.config, restored.progress);
    this.updateLearnerFlag();
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
        throw new RaftInvariantError(
          `${hex(this.id)} state.commit ${hardState.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
        );
      }
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
    this.logger.info(
      {
        id: hex(this.id),
        peers: this.prs.voterIds().map(hex),
        term: this.term,
        commit: this.log.committed,
        applied: this.log.applied,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
      },
      'raft node started',
    );
  }

  /**
   * What the machine's context shows when serialized (inspector, dashboard):
   * the small state of the role, never the log or the progress map, and IDs
   * as hex strings since bigints do not serialize.
   */
  toJSON(): Record<string, string | number | boolean> {
    return {
      id: hex(this.id),
      term: this.term,
      vote: hex(this.vote),
      lead: hex(this.lead),
      role: this.role,
      isLearner: this.isLearner,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      electionElapsed: this.electionElapsed,
      heartbeatElapsed: this.heartbeatElapsed,
      randomizedElectionTimeout: this.randomizedElectionTimeout,
      leadTransferee: hex(this.leadTransferee),
      pendingConfIndex: this.pendingConfIndex,
    };
  }

  // ---------------------------------------------------------------- outbox

  /** Stamps from and term as etcd's raft.send does, and queues the message. */
  send(init: Partial<Message> & { to: bigint; type: MessageType }): void {
    const m = Message.create(init);
    if (m.from === NONE) m.from = this.id;
    if (isVoteType(m.type)) {
      // Vote messages carry the term they are about, which is not always ours
      // (a pre-vote asks for term+1; a grant answers with the candidate's term).
      if (m.term === 0)
        throw new RaftInvariantError(`term should be set when sending ${MessageType[m.type]}`);
    } else {
      if (m.term !== 0)
        throw new RaftInvariantError(`term should not be set when sending ${MessageType[m.type]}`);
      // Proposals and read requests forwarded to the leader are local to it: no term.
      if (m.type !== MessageType.MsgProp && m.type !== MessageType.MsgReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  // ---------------------------------------------------------------- roles

  private resetRandomizedElectionTimeout(): void {
    const et = this.cfg.electionTick;
    this.randomizedElectionTimeout = et + Math.floor(this.cfg.random() * et);
  }

  /** What every role change shares: a new term clears the vote; the leader is unknown until told. */
  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const last = this.log.lastIndex();
    const fresh = new Map<bigint, Progress>();
    for (const [id, old] of this.prs.progress) {
      const pr = new Progress(last + 1, this.prs.newInflights(), old.isLearner);
      if (id === this.id) pr.match = last;
      fresh.set(id, pr);
    }
    this.prs.progress = fresh;
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    // Reads waiting on this node as leader are abandoned with its leadership;
    // the server times them out and retries against the new leader.
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.role = this.isLearner ? 'learner' : 'follower';
    this.logger.info({ id: hex(this.id), term, lead: hex(lead), role: this.role }, 'became follower');
  }

  /** Steps down on a message of a higher term; only a leader's own messages name the leader. */
  becomeFollowerOfMessage(m: Message): void {
    const fromLeader =
      m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;
    this.becomeFollower(m.term, fromLeader ? m.from : NONE);
  }

  /** Demotion to learner or promotion to voter while following: nothing changes but the role. */
  changeFollowerRole(role: 'follower' | 'learner'): void {
    this.role = role;
    this.logger.info(
      { id: hex(this.id), term: this.term, role },
      role === 'learner' ? 'became learner' : 'promoted to follower',
    );
  }

  becomePreCandidate(): void {
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.prs.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
    this.prs.recordVote(this.id, true);
    this.logger.info({ id: hex(this.id), term: this.term }, 'became pre-candidate');
  }

  becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.prs.recordVote(this.id, true);
    this.logger.info({ id: hex(this.id), term: this.term }, 'became candidate');
  }

  becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.prs.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // The empty entry of the new term: committing it commits everything
    // before it, and proves to ReadIndex that this leader is current.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY }]);
    // No conf change until that entry is applied (Ongaro's single-server
    // membership bug: a new leader must commit in its term before reconfiguring).
    this.pendingConfIndex = this.log.lastIndex();
    this.logger.info({ id: hex(this.id), term: this.term }, 'became leader');
  }

  /** Asks every voter for its (pre-)vote, with our last log position. */
  requestVotes(transfer: boolean): void {
    const pre = this.role === 'preCandidate';
    const type = pre ? MessageType.MsgPreVote : MessageType.MsgVote;
    const term = pre ? this.term + 1 : this.term;
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of this.prs.voterIds()) {
      if (id === this.id) continue;
      this.send({ to: id, type, term, index, logTerm, context: transfer ? CAMPAIGN_TRANSFER : EMPTY });
    }
    this.logger.info({ id: hex(this.id), term, pre, index, logTerm }, 'sent vote requests');
  }

  // ---------------------------------------------------------------- guards (pure)

  /** A voter, with no snapshot waiting to be applied. */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  /** Committed but unapplied conf changes: campaigning now could act on a stale configuration. */
  hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    let ents: Entry[];
    try {
      ents = this.log.slice(lo, this.log.committed + 1, Infinity);
    } catch (err) {
      if (err instanceof CompactedError) return false;
      throw err;
    }
    return ents.some((e) => e.type !== EntryType.EntryNormal);
  }

  /** Leader stickiness: we heard from a leader within the election timeout. */
  inLease(): boolean {
    return this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTick;
  }

  isVoteRequestInLease(m: Message): boolean {
    return (
      (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) &&
      !isTransferContext(m.context) &&
      this.inLease()
    );
  }

  /** (Pre-)vote rule: one vote per term, and only for a log at least as up to date as ours. */
  canGrantVote(m: Message): boolean {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    return canVote && this.log.isUpToDate(m.index, m.logTerm);
  }

  hasCommittedInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  isSelfRemovedOrDemoted(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr === undefined || pr.isLearner;
  }

  exceedsUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadSize(ents);
    return this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.cfg.maxUncommittedEntriesSize;
  }

  updateLearnerFlag(): void {
    const pr = this.prs.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;
  }

  // ---------------------------------------------------------------- ticks

  /** A tick for a non-leader: returns true when the election timeout fired and we should campaign. */
  tickElection(): boolean {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      return true;
    }
    return false;
  }

  /** A tick for the leader: which periodic duties are due. */
  tickLeader(): { checkQuorum: boolean; beat: boolean } {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    let checkQuorum = false;
    let beat = false;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      checkQuorum = this.cfg.checkQuorum;
      // A transfer that did not complete within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      beat = true;
    }
    return { checkQuorum, beat };
  }

  /** After a CheckQuorum round every follower must prove itself again. */
  resetRecentActive(): void {
    for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false;
  }

  // ---------------------------------------------------------------- votes

  grantVote(m: Message): void {
    this.send({ to: m.from, term: m.term, type: voteResponseType(m.type) });
    if (m.type === MessageType.MsgVote) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    this.logger.info(
      { id: hex(this.id), term: this.term, candidate: hex(m.from), type: MessageType[m.type] },
      'granted vote',
    );
  }

  rejectVote(m: Message): void {
    this.send({ to: m.from, term: this.term, type: voteResponseType(m.type), reject: true });
  }

  recordVote(m: Message): void {
    this.prs.recordVote(m.from, !m.reject);
  }

  /**
   * A message from an older term. Heartbeats and appends get an answer so a
   * deposed leader learns the new term (otherwise, with CheckQuorum or
   * PreVote, a partitioned node could never rejoin); pre-votes get a rejection.
   */
  answerStaleMessage(m: Message): void {
    if (
      (this.cfg.checkQuorum || this.cfg.preVote) &&
      (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
    ) {
      this.send({ to: m.from, type: MessageType.MsgAppResp });
    } else if (m.type === MessageType.MsgPreVote) {
      this.send({ to: m.from, term: this.term, type: MessageType.MsgPreVoteResp, reject: true });
    } else {
      this.logger.debug(
        { id: hex(this.id), term: this.term, msgTerm: m.term, type: MessageType[m.type] },
        'ignored a message with lower term',
      );
    }
  }

  // ---------------------------------------------------------------- leader: proposals and replication

  /** Appends entries of the current term. The leader's own copy counts towards commit only once persisted (advance()). */
  appendEntries(src: readonly Entry[]): void {
    const li = this.log.lastIndex();
    const ents: Entry[] = new Array<Entry>(src.length);
    for (let i = 0; i < src.length; i++) {
      const e = src[i]!;
      ents[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    this.uncommittedSize += payloadSize(ents);
    this.log.append(ents);
  }

  /**
   * Appends a proposal. A conf change is replaced by an empty entry when
   * another is still unapplied, or when it would enter a joint state twice
   * or leave one that does not exist: one pending change at a time.
   */
  appendProposal(m: Message): void {
    const ents = m.entries.slice();
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (e.type === EntryType.EntryNormal) continue;
      let cc: ConfChangeV2 | undefined;
      try {
        cc =
          e.type === EntryType.EntryConfChange
            ? toConfChangeV2(ConfChange.decode(e.data))
            : ConfChangeV2.decode(e.data);
      } catch {
        cc = undefined; // a malformed change is refused, never allowed to take the leader down
      }
      const alreadyPending = this.pendingConfIndex > this.log.applied;
      const alreadyJoint = this.prs.isJoint();
      const wantsLeaveJoint = cc !== undefined && isLeaveJoint(cc);
      let refused: string | undefined;
      if (cc === undefined) refused = 'malformed conf change';
      else if (alreadyPending)
        refused = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.log.applied})`;
      else if (alreadyJoint && !wantsLeaveJoint) refused = 'must transition out of joint config first';
      else if (!alreadyJoint && wantsLeaveJoint) refused = 'not in joint state; refusing empty conf change';
      if (refused !== undefined) {
        this.logger.info({ id: hex(this.id), reason: refused }, 'ignoring conf change');
        ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY };
      } else {
        this.pendingConfIndex = this.log.lastIndex() + i + 1;
      }
    }
    this.appendEntries(ents);
  }

  dropProposal(reason: string): void {
    this.proposalDropped = reason;
    this.logger.debug({ id: hex(this.id), term: this.term, reason }, 'dropped proposal');
  }

  /** Leaves a joint configuration entered with autoLeave, once it is applied. */
  proposeLeaveJoint(): void {
    const data = ConfChangeV2.encode(ConfChangeV2.create());
    this.appendProposal(
      Message.create({
        type: MessageType.MsgProp,
        entries: [{ term: 0, index: 0, type: EntryType.EntryConfChangeV2, data }],
      }),
    );
    this.logger.info({ id: hex(this.id) }, 'initiating automatic transition out of joint configuration');
  }

  shouldAutoLeaveJoint(): boolean {
    return (
      this.prs.config.autoLeave &&
      this.prs.isJoint() &&
      this.log.applied >= this.pendingConfIndex &&
      this.leadTransferee === NONE
    );
  }

  /** Commit the highest index a quorum persisted, if it is of our term. */
  maybeCommit(): boolean {
    return this.log.maybeCommit(this.prs.committed(), this.term);
  }

  /** Sends every follower what it lacks: in replicate state, as many MsgApps as its window allows. */
  broadcastAppend(): void {
    for (const id of this.prs.progress.keys()) {
      if (id === this.id || !this.maybeSendAppend(id, true)) continue;
      while (this.maybeSendAppend(id, false)) {
        /* fill the window */
      }
    }
  }

  broadcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingRequestCtx();
    for (const id of this.prs.progress.keys()) {
      if (id !== this.id) this.sendHeartbeat(id, ctx ?? EMPTY);
    }
  }

  private sendHeartbeat(to: bigint, ctx: Uint8Array): void {
    // Never tell a follower to commit past what it has acknowledged: it may not have it.
    const pr = this.prs.progress.get(to)!;
    const commit = Math.min(pr.match, this.log.committed);
    this.send({ to, type: MessageType.MsgHeartbeat, commit, context: ctx });
  }

  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next MsgApp (or a snapshot, if what the follower needs was
   * compacted) unless flow control holds it. Returns whether a message went out.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    if (to === this.id) return false;
    const pr = this.prs.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(pr.next - 1);
      ents = this.log.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return this.sendSnapshot(to, pr);
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      to,
      type: MessageType.MsgApp,
      index: pr.next - 1,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    if (pr.state === 'replicate') {
      if (ents.length > 0) {
        const last = ents[ents.length - 1]!.index;
        pr.optimisticUpdate(last);
        pr.inflights.add(last, payloadSize(ents));
      }
    } else if (pr.state === 'probe') {
      pr.msgAppFlowPaused = true;
    }
    return true;
  }

  private sendSnapshot(to: bigint, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(
        { id: hex(this.id), to: hex(to) },
        'not sending snapshot to a node that is not recently active',
      );
      return false;
    }
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    const index = snap.metadata?.index ?? 0;
    if (index === 0) throw new RaftInvariantError('need non-empty snapshot');
    pr.becomeSnapshot(index);
    this.send({ to, type: MessageType.MsgSnap, snapshot: snap });
    this.logger.info({ id: hex(this.id), to: hex(to), index, term: snap.metadata!.term }, 'sent snapshot');
    return true;
  }

  /** An acknowledgement of a MsgApp (or the leader's own, after it persisted). */
  handleAppendAck(m: Message): void {
    const pr = this.prs.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    const self = m.from === this.id;
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.state === 'probe' && pr.match === m.index && !self)) return;
    if (!self) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
        // The follower caught up (through the snapshot or otherwise): resume replication.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.broadcastAppend();
    } else if (oldPaused && !self) {
      this.sendAppend(m.from);
    }
    if (self) return;
    // Stream what the window now allows.
    while (this.maybeSendAppend(m.from, false)) {
      /* keep sending */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.logger.info(
        { id: hex(this.id), to: hex(m.from) },
        'sent MsgTimeoutNow after transferee caught up',
      );
      this.sendTimeoutNow(m.from);
    }
  }

  /** A MsgApp was rejected: back off to where the logs can agree (fast rejection hint) and probe. */
  handleAppendRejection(m: Message): void {
    const pr = this.prs.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.sendAppend(m.from);
    }
  }

  handleHeartbeatResponse(m: Message): void {
    const pr = this.prs.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // A full window with a live follower means acknowledgements were lost: let one more MsgApp out.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from);
    if (this.readOnly.option !== 'safe' || m.context.length === 0) return;
    if (this.prs.voteResult(this.readOnly.recvAck(m.from, m.context)) !== 'won') return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
  }

  handleSnapStatus(m: Message): void {
    const pr = this.prs.progress.get(m.from);
    if (!pr || pr.state !== 'snapshot') return;
    if (m.reject) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for an answer (MsgAppResp or MsgHeartbeatResp) before probing again.
    pr.msgAppFlowPaused = true;
    this.logger.debug({ id: hex(this.id), to: hex(m.from), failed: m.reject }, 'snapshot status');
  }

  handleUnreachable(m: Message): void {
    const pr = this.prs.progress.get(m.from);
    // Optimistic sends to an unreachable node are likely lost: probe until it answers.
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  // ---------------------------------------------------------------- leader transfer

  transferTargetIsValid(m: Message): boolean {
    const pr = this.prs.progress.get(m.from);
    return pr !== undefined && !pr.isLearner;
  }

  startLeaderTransfer(m: Message): void {
    const to = m.from;
    if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    this.leadTransferee = to;
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0;
    this.logger.info({ id: hex(this.id), term: this.term, to: hex(to) }, 'starts to transfer leadership');
    const pr = this.prs.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  sendTimeoutNow(to: bigint): void {
    this.send({ to, type: MessageType.MsgTimeoutNow });
  }

  // ---------------------------------------------------------------- ReadIndex

  /** Answers a ReadIndex request with index: locally, or to the follower that forwarded it. */
  respondToReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.entries[0]!.data });
    } else {
      this.send({ to: req.from, type: MessageType.MsgReadIndexResp, index, entries: req.entries });
    }
  }

  answerReadIndexNow(m: Message): void {
    this.respondToReadIndex(m, this.log.committed);
  }

  parkReadIndex(m: Message): void {
    this.pendingReadIndexMessages.push(m);
  }

  /** Safe ReadIndex: remember the commit index, count our own ack, and ask a quorum with a heartbeat. */
  startReadIndexRound(m: Message): void {
    const ctx = m.entries[0]!.data;
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, ctx);
    for (const id of this.prs.progress.keys()) {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    }
  }

  /** Serves a ReadIndex request once this leader has committed in its term. */
  serveReadIndex(m: Message): void {
    if (this.readOnly.option === 'leaseBased') this.answerReadIndexNow(m);
    else this.startReadIndexRound(m);
  }

  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.hasCommittedInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.serveReadIndex(m);
  }

  acceptReadState(m: Message): void {
    if (m.entries.length !== 1) {
      this.logger.error(
        { id: hex(this.id), from: hex(m.from), entries: m.entries.length },
        'invalid format of MsgReadIndexResp',
      );
      return;
    }
    this.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
  }

  // ---------------------------------------------------------------- followers

  /** Heard from the leader of our term: it is the leader, and the election timer restarts. */
  acceptLeader(m: Message): void {
    this.electionElapsed = 0;
    this.lead = m.from;
  }

  forwardToLeader(m: Message): void {
    this.send({ ...m, to: this.lead, term: 0 });
  }

  /** AppendEntries receiver (Figure 2): consistency check, append, commit, and a hint when rejecting. */
  handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ to: m.from, type: MessageType.MsgAppResp, index: this.log.committed });
      return;
    }
    const lastBefore = this.log.lastIndex();
    const conflict = this.log.matchTerm(m.index, m.logTerm) ? this.log.findConflict(m.entries) : 0;
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      if (conflict !== 0 && conflict <= lastBefore) this.dropAcksFrom(conflict);
      this.send({ to: m.from, type: MessageType.MsgAppResp, index: last });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.logger.debug(
      {
        id: hex(this.id),
        logTerm: this.log.termOrZero(m.index),
        index: m.index,
        msgLogTerm: m.logTerm,
        from: hex(m.from),
      },
      'rejected MsgApp',
    );
    this.send({
      to: m.from,
      type: MessageType.MsgAppResp,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  /**
   * Forgets queued acknowledgements of entries from `index` on, which are being
   * replaced before they were ever handed out to be made durable: sent later,
   * an ack would tell the leader of its term that we hold entries we never
   * will, and that leader would count them towards commit. (Found by the
   * deterministic simulation: test/sim/regressions/stale-ack-after-truncation.txt.)
   */
  private dropAcksFrom(index: number): void {
    this.msgs = this.msgs.filter((x) => x.type !== MessageType.MsgAppResp || x.reject || x.index < index);
  }

  handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send({ to: m.from, type: MessageType.MsgHeartbeatResp, context: m.context });
  }

  handleSnapshot(m: Message): void {
    const s = m.snapshot!;
    if (this.restore(s)) {
      this.logger.info(
        { id: hex(this.id), index: s.metadata!.index, term: s.metadata!.term },
        'restored snapshot',
      );
      this.send({ to: m.from, type: MessageType.MsgAppResp, index: this.log.lastIndex() });
    } else {
      this.send({ to: m.from, type: MessageType.MsgAppResp, index: this.log.committed });
    }
  }

  /** Installs a snapshot unless we already have what it holds. Returns whether it was installed. */
  private restore(s: Snapshot): boolean {
    const meta = s.metadata!;
    if (meta.index <= this.log.committed) return false;
    const cs = meta.confState ?? {
      voters: [],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    const found =
      cs.voters.includes(this.id) || cs.learners.includes(this.id) || cs.votersOutgoing.includes(this.id);
    if (!found) {
      this.logger.warn(
        { id: hex(this.id), index: meta.index },
        'attempted to restore snapshot but it is not in the ConfState',
      );
      return false;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We have the snapshot's last entry: just commit up to it.
      this.log.commitTo(meta.index);
      return false;
    }
    this.dropAcksFrom(this.log.committed + 1);
    this.log.restore(s);
    const restored = restoreConfState(this.prs, cs, this.log.lastIndex());
    this.prs.switchTo(restored.config, restored.progress);
    this.updateLearnerFlag();
    return true;
  }

  // ---------------------------------------------------------------- configuration

  /** Switches to the configuration cc produces; throws ConfChangeError (leaving everything as it was) when invalid. */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    const changed = new ConfChanger(this.prs, this.log.lastIndex()).apply(toConfChangeV2(cc));
    this.prs.switchTo(changed.config, changed.progress);
    this.updateLearnerFlag();
    return this.prs.confState();
  }

  /** The leader after a configuration change: the quorum may have shrunk, and new members need the log. */
  afterConfigChangeAsLeader(): void {
    if (this.prs.config.voters.incoming.size === 0) return;
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.broadcastAppend();
    } else {
      for (const id of this.prs.progress.keys()) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.prs.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
  }

  /** Payload of committed entries leaves the uncommitted budget. */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    this.uncommittedSize = Math.max(0, this.uncommittedSize - payloadSize(ents));
  }
}
