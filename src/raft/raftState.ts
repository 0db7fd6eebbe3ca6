import {
  EntryType,
  Message,
  MessageType,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
} from '../proto/raftpb.js';
import type { ResolvedRaftConfig, RaftLogger } from './config.js';
import { ConfChanger, restoreConfState, toConfChangeV2 } from './confchange.js';
import { Election } from './election.js';
import { RaftInvariantError } from './errors.js';
import { Follower } from './follower.js';
import { hex, NONE } from './ids.js';
import { LeaderTransfer } from './leaderTransfer.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { ProgressTracker } from './progressTracker.js';
import { ReadIndex } from './readOnly.js';
import type { ReadState } from './ready.js';
import { Replication } from './replication.js';

const EMPTY = new Uint8Array(0);

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
 * (machines/raftRole.ts) performs on it by name. The chart decides *which*
 * operation runs in which role for which input, and is the only holder of
 * the role; this class and its parts say *how*. It holds the node's facts
 * (term, vote, lead, the log, the progress tracker, the timers), the term
 * rules and role changes, and membership; each concept has its own part:
 * `election`, `replication` (the leader), `follower`, `transfer`, `reads`.
 * It is pure: no timers, no I/O; output goes to `msgs` and `readStates`,
 * which RaftNode hands out in a Ready.
 */
export class RaftState {
  readonly id: bigint;
  term = 0;
  vote = NONE;
  lead = NONE;

  readonly log: RaftLog;
  readonly prs: ProgressTracker;

  /** Outbox: sent by the server after the Ready that carries them is durable. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Index of the last conf change proposed; a new one is refused until it is applied. */
  pendingConfIndex = 0;

  readonly cfg: ResolvedRaftConfig;
  readonly logger: RaftLogger;

  readonly election: Election;
  readonly replication: Replication;
  readonly follower: Follower;
  readonly transfer: LeaderTransfer;
  readonly reads: ReadIndex;

  constructor(cfg: ResolvedRaftConfig) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.logger = cfg.logger;
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedSizePerReady);
    this.prs = new ProgressTracker(cfg.maxInflightMsgs, cfg.maxInflightBytes);
    this.election = new Election(this);
    this.replication = new Replication(this);
    this.follower = new Follower(this);
    this.transfer = new LeaderTransfer(this);
    this.reads = new ReadIndex(this);
    const { hardState, confState } = cfg.storage.initialState();
    const restored = restoreConfState(this.prs, confState, this.log.lastIndex());
    this.prs.switchTo(restored.config, restored.progress);
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
        'last-index': this.log.lastIndex(),
        'last-term': this.log.lastTerm(),
      },
      'raft node started',
    );
  }

  /** A learner in the current configuration (the tracker holds the fact). */
  get isLearner(): boolean {
    return this.prs.progress.get(this.id)?.isLearner === true;
  }

  /**
   * What the machine's context shows when serialized (inspector, dashboard):
   * the small state of the node, never the log or the progress map, and IDs
   * as hex strings since bigints do not serialize. The role is the chart's
   * state, next to it in the snapshot.
   */
  toJSON(): Record<string, string | number | boolean> {
    return {
      id: hex(this.id),
      term: this.term,
      vote: hex(this.vote),
      lead: hex(this.lead),
      isLearner: this.isLearner,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      electionElapsed: this.electionElapsed,
      heartbeatElapsed: this.heartbeatElapsed,
      randomizedElectionTimeout: this.randomizedElectionTimeout,
      leadTransferee: hex(this.transfer.transferee),
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

  // ---------------------------------------------------------------- term rules

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
        { id: hex(this.id), term: this.term, 'msg-term': m.term, type: MessageType[m.type] },
        'ignored a message with lower term',
      );
    }
  }

  /** Steps down on a message of a higher term; only a leader's own messages name the leader. */
  becomeFollowerOfMessage(m: Message): void {
    const fromLeader =
      m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;
    this.becomeFollower(m.term, fromLeader ? m.from : NONE);
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
    this.transfer.abort();
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
    this.replication.reset();
    this.reads.reset();
  }

  becomeFollower(term: number, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.logger.info(
      { id: hex(this.id), term, lead: hex(lead), role: this.isLearner ? 'learner' : 'follower' },
      'became follower',
    );
  }

  /** Demotion to learner or promotion to voter while following: the chart changes state, the node only says so. */
  logFollowerRole(): void {
    this.logger.info(
      { id: hex(this.id), term: this.term, role: this.isLearner ? 'learner' : 'follower' },
      this.isLearner ? 'became learner' : 'promoted to follower',
    );
  }

  becomePreCandidate(): void {
    // A pre-candidate changes neither term nor vote: it only asks whether it could win.
    this.prs.resetVotes();
    this.lead = NONE;
    this.prs.recordVote(this.id, true);
    this.logger.info({ id: hex(this.id), term: this.term }, 'became pre-candidate');
  }

  becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.prs.recordVote(this.id, true);
    this.logger.info({ id: hex(this.id), term: this.term }, 'became candidate');
  }

  becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    const self = this.prs.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // The empty entry of the new term: committing it commits everything
    // before it, and proves to ReadIndex that this leader is current.
    this.replication.appendEntries([{ term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY }]);
    // No conf change until that entry is applied (Ongaro's single-server
    // membership bug: a new leader must commit in its term before reconfiguring).
    this.pendingConfIndex = this.log.lastIndex();
    this.logger.info({ id: hex(this.id), term: this.term }, 'became leader');
  }

  /** Whether this node (as leader) has committed an entry of its term: until then its commit index may be stale. */
  hasCommittedInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  // ---------------------------------------------------------------- configuration

  isSelfRemovedOrDemoted(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr === undefined || pr.isLearner;
  }

  /** Switches to the configuration cc produces; throws ConfChangeError (leaving everything as it was) when invalid. */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    const changed = new ConfChanger(this.prs, this.log.lastIndex()).apply(toConfChangeV2(cc));
    this.prs.switchTo(changed.config, changed.progress);
    return this.prs.confState();
  }

  /** The leader after a configuration change: the quorum may have shrunk, new members need the log, the transferee may be gone. */
  afterConfigChangeAsLeader(): void {
    if (this.prs.config.voters.incoming.size === 0) return;
    this.replication.afterConfigChange();
    this.transfer.afterConfigChange();
  }
}
