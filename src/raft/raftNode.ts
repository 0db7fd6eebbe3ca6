import { Observable, Subject } from 'rxjs';
import { createActor, type Actor, type StateValue } from 'xstate';
import { raftRoleMachine, roleOf, type MsgEventType, type RaftRoleEvent } from '../../machines/raftRole.js';
import {
  ConfChange,
  ConfChangeV2,
  ConfState,
  EntryType,
  HardState,
  Message,
  MessageType,
  type Entry,
} from '../proto/raftpb.js';
import { resolveConfig, type RaftConfig } from './config.js';
import { isConfChangeV2 } from './confchange.js';
import {
  ProposalDroppedError,
  RaftInvariantError,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from './errors.js';
import type { MemoryStorage } from './memoryStorage.js';
import type { ProgressState } from './progress.js';
import { hex, NONE } from './ids.js';
import { RaftState } from './raftState.js';
import type { RaftRole, ReadState, Ready, SoftState } from './ready.js';
import { causeOf, type RoleChange } from './roleChange.js';

export type { RaftConfig, RaftLogger } from './config.js';

/** What the leader knows of one member. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  isLearner: boolean;
  pendingSnapshot: number;
  inflights: number;
}

export interface RaftStatus {
  id: bigint;
  term: number;
  vote: bigint;
  commit: number;
  applied: number;
  lead: bigint;
  role: RaftRole;
  leadTransferee: bigint;
  /** Only on the leader. */
  progress?: Map<bigint, ProgressStatus>;
  config: ConfState;
}

/** Messages only the node itself generates; a peer may never send them. */
function isLocalMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum ||
    t === MessageType.MsgStorageAppend ||
    t === MessageType.MsgStorageAppendResp ||
    t === MessageType.MsgStorageApply ||
    t === MessageType.MsgStorageApplyResp
  );
}

function isResponseMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgAppResp ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp
  );
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * The deterministic driver of one Raft node (etcd's RawNode): it turns calls
 * into events of the role statechart and hands the results out as Ready
 * batches. Single-threaded and synchronous: every method returns after the
 * machine has settled. No timers, no I/O.
 */
export class RaftNode {
  private readonly raft: RaftState;
  private readonly actor: Actor<typeof raftRoleMachine>;
  private failure: unknown = undefined;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readySignalled = false;
  private lastLead: bigint = NONE;
  /** Why the proposal being stepped was refused, as the chart reported it. */
  private dropped: string | undefined = undefined;

  private readonly readStateSubject = new Subject<ReadState>();
  private readonly leaderChangedSubject = new Subject<{ lead: bigint; term: number }>();
  private readonly readySubject = new Subject<void>();
  private readonly roleChangedSubject = new Subject<RoleChange>();
  /** The role as of the last input, to tell which input changed it. */
  private lastRole: RaftRole;
  readonly readState$: Observable<ReadState> = this.readStateSubject.asObservable();
  readonly leaderChanged$: Observable<{ lead: bigint; term: number }> =
    this.leaderChangedSubject.asObservable();
  readonly ready$: Observable<void> = this.readySubject.asObservable();
  /** Every change of role, with the input that caused it (the dashboard's transitions). */
  readonly roleChanged$: Observable<RoleChange> = this.roleChangedSubject.asObservable();

  constructor(config: RaftConfig) {
    this.raft = new RaftState(resolveConfig(config));
    this.actor = createActor(raftRoleMachine, {
      input: { raft: this.raft },
      ...(config.inspect ? { inspect: config.inspect } : {}),
    });
    this.actor.subscribe({
      error: (err: unknown) => {
        this.failure = err;
      },
    });
    this.actor.on('proposalDropped', ({ reason }) => {
      this.dropped = reason;
      this.raft.logger.debug({ id: hex(this.raft.id), term: this.raft.term, reason }, 'dropped proposal');
    });
    this.actor.start();
    this.lastRole = this.role();
    this.prevSoft = { lead: this.raft.lead, role: this.lastRole };
    this.prevHard = { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
    // The configuration comes from storage: a learner starts as a learner.
    this.send({ type: 'CONFIG_CHANGED' });
    this.prevSoft = { lead: this.raft.lead, role: this.role() };
  }

  /** The role is the chart's state, and only there. */
  private role(): RaftRole {
    return roleOf(this.actor.getSnapshot().value);
  }

  /** The role as of the last input. */
  get currentRole(): RaftRole {
    return this.lastRole;
  }

  /** The role chart's state value (nested: the role inside following or campaigning). */
  stateValue(): StateValue {
    return this.actor.getSnapshot().value;
  }

  /**
   * Writes the initial configuration of a new cluster into empty storage
   * (etcd's Bootstrap): every member of a new cluster starts from the same
   * ConfState, with an empty log.
   */
  static bootstrap(storage: MemoryStorage, peers: bigint[], learners: bigint[] = []): void {
    if (storage.lastIndex() !== 0 || (storage.snapshot().metadata?.index ?? 0) !== 0) {
      throw new RaftInvariantError('can only bootstrap empty storage');
    }
    if (peers.length === 0) throw new RaftInvariantError('must provide at least one peer to bootstrap');
    const snap = storage.snapshot();
    snap.metadata = {
      index: 0,
      term: 0,
      confState: ConfState.create({ voters: [...peers], learners: [...learners] }),
    };
  }

  /** Feeds one event to the machine; rethrows (synchronously) anything the core threw. */
  private send(event: RaftRoleEvent): void {
    if (this.failure !== undefined) throw this.failure;
    this.actor.send(event);
    if (this.failure !== undefined) throw this.failure;
    this.noteRole(event);
    this.afterInput();
  }

  private noteRole(event: RaftRoleEvent): void {
    const role = this.role();
    if (role === this.lastRole) return;
    const change = { from: this.lastRole, to: role, term: this.raft.term };
    this.lastRole = role;
    this.roleChangedSubject.next({ ...change, cause: causeOf(event, change) });
  }

  private afterInput(): void {
    const r = this.raft;
    if (r.lead !== this.lastLead) {
      this.lastLead = r.lead;
      this.leaderChangedSubject.next({ lead: r.lead, term: r.term });
    }
    if (!this.readySignalled && this.hasReady()) {
      this.readySignalled = true;
      this.readySubject.next();
    }
  }

  tick(): void {
    this.send({ type: 'TICK' });
  }

  /** Starts an election now (etcd's Campaign). */
  campaign(): void {
    this.send({ type: 'CAMPAIGN', transfer: false });
  }

  /** Proposes data to be appended to the log; throws ProposalDroppedError when it cannot be accepted. */
  propose(data: Uint8Array): void {
    this.proposeEntries([{ term: 0, index: 0, type: EntryType.EntryNormal, data }]);
  }

  /** Proposes many entries with one event (one MsgProp): the batching path. */
  proposeMany(data: readonly Uint8Array[]): void {
    const ents: Entry[] = new Array<Entry>(data.length);
    for (let i = 0; i < data.length; i++)
      ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: data[i]! };
    this.proposeEntries(ents);
  }

  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    const entry: Entry = isConfChangeV2(cc)
      ? { term: 0, index: 0, type: EntryType.EntryConfChangeV2, data: ConfChangeV2.encode(cc) }
      : { term: 0, index: 0, type: EntryType.EntryConfChange, data: ConfChange.encode(cc) };
    this.proposeEntries([entry]);
  }

  private proposeEntries(entries: Entry[]): void {
    this.dropped = undefined;
    this.send({
      type: 'MsgProp',
      m: Message.create({ type: MessageType.MsgProp, from: this.raft.id, entries }),
    });
    const dropped = this.dropped;
    if (dropped !== undefined) {
      this.dropped = undefined;
      throw new ProposalDroppedError(dropped);
    }
  }

  /** A message from a peer. Local-only message types are refused, as are responses from non-members. */
  step(m: Message): void {
    if (isLocalMsg(m.type)) throw new StepLocalMsgError();
    if (isResponseMsg(m.type) && !this.raft.prs.progress.has(m.from)) throw new StepPeerNotFoundError();
    // A message of our term (or of none: a forwarded request) goes straight to
    // the role; the chart's term rules (STEP) take the others. Routing every
    // message through STEP would cost a microstep each (bench:raft: +65%
    // allocations per entry at batch 1).
    if (m.term === 0 || m.term === this.raft.term)
      this.send({ type: MessageType[m.type] as MsgEventType, m });
    else this.send({ type: 'STEP', m });
  }

  /** Requests a read index; the answer arrives as a ReadState with the same context. */
  readIndex(requestCtx: Uint8Array): void {
    this.send({
      type: 'MsgReadIndex',
      m: Message.create({
        type: MessageType.MsgReadIndex,
        entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: requestCtx }],
      }),
    });
  }

  transferLeadership(transferee: bigint): void {
    this.send({
      type: 'MsgTransferLeader',
      m: Message.create({ type: MessageType.MsgTransferLeader, from: transferee }),
    });
  }

  /** The transport could not deliver to id: stop optimistic replication to it. */
  reportUnreachable(id: bigint): void {
    this.send({ type: 'MsgUnreachable', m: Message.create({ type: MessageType.MsgUnreachable, from: id }) });
  }

  reportSnapshot(id: bigint, status: 'finish' | 'failure'): void {
    this.send({
      type: 'MsgSnapStatus',
      m: Message.create({ type: MessageType.MsgSnapStatus, from: id, reject: status === 'failure' }),
    });
  }

  /**
   * Applies a committed conf change entry's change to the configuration and
   * returns the new ConfState. Throws ConfChangeError, leaving the
   * configuration as it was, when the change is invalid (every member
   * refuses it alike, since they apply the same entry).
   */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    if (this.failure !== undefined) throw this.failure;
    const cs = this.raft.applyConfChange(cc);
    this.send({ type: 'CONFIG_CHANGED' });
    return cs;
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.lead !== this.prevSoft.lead || this.role() !== this.prevSoft.role) return true;
    if (
      r.term !== this.prevHard.term ||
      r.vote !== this.prevHard.vote ||
      r.log.committed !== this.prevHard.commit
    )
      return true;
    if (r.log.unstable.hasNextEntries() || r.log.unstable.nextSnapshot() !== undefined) return true;
    return r.log.hasNextCommittedEnts();
  }

  /**
   * The next batch of work. Each entry, snapshot and committed entry is
   * handed out once: calling ready() again before advance() returns only
   * what is new since (writes may be pipelined), and advance() must then be
   * called for each Ready, in order.
   */
  ready(): Ready {
    const r = this.raft;
    const entries = r.log.unstableEntries();
    const committedEntries = r.log.nextCommittedEnts();
    const hard: HardState = { term: r.term, vote: r.vote, commit: r.log.committed };
    const snapshot = r.log.unstable.nextSnapshot();
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries,
      messages: r.msgs,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hard.term !== this.prevHard.term ||
        hard.vote !== this.prevHard.vote,
    };
    const role = this.role();
    if (r.lead !== this.prevSoft.lead || role !== this.prevSoft.role) {
      rd.softState = { lead: r.lead, role };
      this.prevSoft = rd.softState;
    }
    if (!sameHardState(hard, this.prevHard)) {
      rd.hardState = hard;
      this.prevHard = hard;
    }
    if (snapshot) rd.snapshot = snapshot;
    r.log.unstable.acceptInProgress();
    r.msgs = [];
    r.readStates = [];
    if (committedEntries.length > 0)
      r.log.acceptApplying(committedEntries[committedEntries.length - 1]!.index);
    this.readySignalled = false;
    for (const rs of rd.readStates) this.readStateSubject.next(rs);
    return rd;
  }

  /**
   * rd is done: its entries and snapshot are durable, its committed entries
   * applied. The leader now counts its own copy of those entries towards commit.
   */
  advance(rd: Ready): void {
    if (this.failure !== undefined) throw this.failure;
    const r = this.raft;
    if (rd.snapshot) {
      const idx = rd.snapshot.metadata!.index;
      r.log.stableSnapTo(idx);
      if (idx > r.log.applied) r.log.appliedTo(idx);
    }
    if (rd.committedEntries.length > 0) {
      r.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
      r.replication.reduceUncommittedSize(rd.committedEntries);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      const before = r.log.stableLastIndex();
      r.log.stableTo(last.index, last.term);
      if (r.log.stableLastIndex() > before && this.role() === 'leader') {
        // The leader's self-acknowledgement, as if it had sent itself a MsgApp.
        const ack: RaftRoleEvent = {
          type: 'MsgAppResp',
          m: Message.create({
            type: MessageType.MsgAppResp,
            from: r.id,
            to: r.id,
            term: r.term,
            index: r.log.stableLastIndex(),
          }),
        };
        this.actor.send(ack);
        if (this.failure !== undefined) throw this.failure;
        this.noteRole(ack);
      }
    }
    if (rd.committedEntries.length > 0 && r.prs.config.autoLeave) this.send({ type: 'APPLIED' });
    this.afterInput();
  }

  status(): RaftStatus {
    const r = this.raft;
    const role = this.role();
    const s: RaftStatus = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lead: r.lead,
      role,
      leadTransferee: r.transfer.transferee,
      config: r.prs.confState(),
    };
    if (role === 'leader') {
      s.progress = new Map();
      for (const [id, pr] of r.prs.progress) {
        s.progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
          pendingSnapshot: pr.pendingSnapshot,
          inflights: pr.inflights.size(),
        });
      }
    }
    return s;
  }

  /** Stops the machine; the node cannot be used afterwards. */
  stop(): void {
    this.actor.stop();
    this.readStateSubject.complete();
    this.leaderChangedSubject.complete();
    this.readySubject.complete();
    this.roleChangedSubject.complete();
  }
}
