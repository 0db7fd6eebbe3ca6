import {
  ConfChange,
  ConfChangeV2,
  EntryType,
  Message,
  MessageType,
  type Entry,
  type Snapshot,
} from '../proto/raftpb.js';
import { isLeaveJoint, toConfChangeV2 } from './confchange.js';
import { payloadSize } from './entrySize.js';
import { RaftInvariantError } from './errors.js';
import { hex } from './ids.js';
import type { Progress } from './progress.js';
import type { RaftState } from './raftState.js';
import { CompactedError, SnapshotTemporarilyUnavailableError, UnavailableError } from './storage.js';

const EMPTY = new Uint8Array(0);

/**
 * The leader's side of log replication (Raft §5.3): it appends proposals,
 * streams MsgApps to each follower as flow control allows (or a snapshot
 * when what a follower needs was compacted), learns from their answers, and
 * commits what a quorum holds (§5.4.2: only entries of its own term, by
 * counting). Heartbeats and CheckQuorum keep its leadership honest.
 */
export class Replication {
  /** Payload bytes proposed and not yet committed (maxUncommittedEntriesSize). */
  uncommittedSize = 0;

  constructor(readonly r: RaftState) {}

  reset(): void {
    this.uncommittedSize = 0;
  }

  /** A tick for the leader: which periodic duties are due. */
  tickLeader(): { checkQuorum: boolean; beat: boolean } {
    const r = this.r;
    r.heartbeatElapsed++;
    r.electionElapsed++;
    let checkQuorum = false;
    let beat = false;
    if (r.electionElapsed >= r.cfg.electionTick) {
      r.electionElapsed = 0;
      checkQuorum = r.cfg.checkQuorum;
      // A transfer that did not complete within an election timeout is abandoned.
      if (r.transfer.isPending()) r.transfer.abort();
    }
    if (r.heartbeatElapsed >= r.cfg.heartbeatTick) {
      r.heartbeatElapsed = 0;
      beat = true;
    }
    return { checkQuorum, beat };
  }

  /** After a CheckQuorum round every follower must prove itself again. */
  resetRecentActive(): void {
    for (const [id, pr] of this.r.prs.progress) if (id !== this.r.id) pr.recentActive = false;
  }

  // ---------------------------------------------------------------- proposals

  /** Appends entries of the current term. The leader's own copy counts towards commit only once persisted (advance()). */
  appendEntries(src: readonly Entry[]): void {
    const r = this.r;
    const li = r.log.lastIndex();
    const ents: Entry[] = new Array<Entry>(src.length);
    for (let i = 0; i < src.length; i++) {
      const e = src[i]!;
      ents[i] = { term: r.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    this.uncommittedSize += payloadSize(ents);
    r.log.append(ents);
  }

  /**
   * Appends a proposal. A conf change is replaced by an empty entry when
   * another is still unapplied, or when it would enter a joint state twice
   * or leave one that does not exist: one pending change at a time.
   */
  appendProposal(m: Message): void {
    const r = this.r;
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
      const alreadyPending = r.pendingConfIndex > r.log.applied;
      const alreadyJoint = r.prs.isJoint();
      const wantsLeaveJoint = cc !== undefined && isLeaveJoint(cc);
      let refused: string | undefined;
      if (cc === undefined) refused = 'malformed conf change';
      else if (alreadyPending)
        refused = `possible unapplied conf change at index ${r.pendingConfIndex} (applied to ${r.log.applied})`;
      else if (alreadyJoint && !wantsLeaveJoint) refused = 'must transition out of joint config first';
      else if (!alreadyJoint && wantsLeaveJoint) refused = 'not in joint state; refusing empty conf change';
      if (refused !== undefined) {
        r.logger.info({ id: hex(r.id), reason: refused }, 'ignoring conf change');
        ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY };
      } else {
        r.pendingConfIndex = r.log.lastIndex() + i + 1;
      }
    }
    this.appendEntries(ents);
  }

  exceedsUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadSize(ents);
    return (
      this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.r.cfg.maxUncommittedEntriesSize
    );
  }

  /** Payload of committed entries leaves the uncommitted budget (only a leader has one: it is 0 otherwise). */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    this.uncommittedSize = Math.max(0, this.uncommittedSize - payloadSize(ents));
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
    this.r.logger.info({ id: hex(this.r.id) }, 'initiating automatic transition out of joint configuration');
  }

  shouldAutoLeaveJoint(): boolean {
    const r = this.r;
    return (
      r.prs.config.autoLeave &&
      r.prs.isJoint() &&
      r.log.applied >= r.pendingConfIndex &&
      !r.transfer.isPending()
    );
  }

  // ---------------------------------------------------------------- commit

  /** Commit the highest index a quorum persisted, if it is of our term. */
  maybeCommit(): boolean {
    return this.r.log.maybeCommit(this.r.prs.committed(), this.r.term);
  }

  /** The commit index moved: waiting reads may be served, and followers must hear of it. */
  private afterCommit(): void {
    this.r.reads.releaseWaiting();
    this.broadcastAppend();
  }

  /** The configuration changed: the quorum may have shrunk, and new members need the log. */
  afterConfigChange(): void {
    if (this.maybeCommit()) this.afterCommit();
    else for (const id of this.r.prs.progress.keys()) this.maybeSendAppend(id, false);
  }

  // ---------------------------------------------------------------- sending

  /** Sends every follower what it lacks: in replicate state, as many MsgApps as its window allows. */
  broadcastAppend(): void {
    for (const id of this.r.prs.progress.keys()) {
      if (id === this.r.id || !this.maybeSendAppend(id, true)) continue;
      while (this.maybeSendAppend(id, false)) {
        /* fill the window */
      }
    }
  }

  broadcastHeartbeat(): void {
    const ctx = this.r.reads.lastPendingRequestCtx();
    for (const id of this.r.prs.progress.keys()) {
      if (id !== this.r.id) this.sendHeartbeat(id, ctx ?? EMPTY);
    }
  }

  sendHeartbeat(to: bigint, ctx: Uint8Array): void {
    // Never tell a follower to commit past what it has acknowledged: it may not have it.
    const pr = this.r.prs.progress.get(to)!;
    const commit = Math.min(pr.match, this.r.log.committed);
    this.r.send({ to, type: MessageType.MsgHeartbeat, commit, context: ctx });
  }

  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next MsgApp (or a snapshot, if what the follower needs was
   * compacted) unless flow control holds it. Returns whether a message went out.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const r = this.r;
    if (to === r.id) return false;
    const pr = r.prs.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = r.log.term(pr.next - 1);
      ents = r.log.entries(pr.next, r.cfg.maxSizePerMsg);
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return this.sendSnapshot(to, pr);
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    r.send({
      to,
      type: MessageType.MsgApp,
      index: pr.next - 1,
      logTerm: prevTerm,
      entries: ents,
      commit: r.log.committed,
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
    const r = this.r;
    if (!pr.recentActive) {
      r.logger.debug(
        { id: hex(r.id), to: hex(to) },
        'not sending snapshot to a node that is not recently active',
      );
      return false;
    }
    let snap: Snapshot;
    try {
      snap = r.log.snapshot();
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false;
      throw err;
    }
    const index = snap.metadata?.index ?? 0;
    if (index === 0) throw new RaftInvariantError('need non-empty snapshot');
    pr.becomeSnapshot(index);
    r.send({ to, type: MessageType.MsgSnap, snapshot: snap });
    r.logger.info({ id: hex(r.id), to: hex(to), index, term: snap.metadata!.term }, 'sent snapshot');
    return true;
  }

  // ---------------------------------------------------------------- answers

  /** An acknowledgement of a MsgApp (or the leader's own, after it persisted). */
  handleAppendAck(m: Message): void {
    const r = this.r;
    const pr = r.prs.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    const self = m.from === r.id;
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.state === 'probe' && pr.match === m.index && !self)) return;
    if (!self) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match + 1 >= r.log.firstIndex()) {
        // The follower caught up (through the snapshot or otherwise): resume replication.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) this.afterCommit();
    else if (oldPaused && !self) this.sendAppend(m.from);
    if (self) return;
    // Stream what the window now allows.
    while (this.maybeSendAppend(m.from, false)) {
      /* keep sending */
    }
    r.transfer.onAppendAck(m.from, pr);
  }

  /** A MsgApp was rejected: back off to where the logs can agree (fast rejection hint) and probe. */
  handleAppendRejection(m: Message): void {
    const pr = this.r.prs.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.r.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.sendAppend(m.from);
    }
  }

  handleHeartbeatResponse(m: Message): void {
    const pr = this.r.prs.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // A full window with a live follower means acknowledgements were lost: let one more MsgApp out.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.r.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from);
    this.r.reads.onHeartbeatAck(m);
  }

  handleSnapStatus(m: Message): void {
    const pr = this.r.prs.progress.get(m.from);
    if (!pr || pr.state !== 'snapshot') return;
    if (m.reject) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for an answer (MsgAppResp or MsgHeartbeatResp) before probing again.
    pr.msgAppFlowPaused = true;
    this.r.logger.debug({ id: hex(this.r.id), to: hex(m.from), failed: m.reject }, 'snapshot status');
  }

  handleUnreachable(m: Message): void {
    const pr = this.r.prs.progress.get(m.from);
    // Optimistic sends to an unreachable node are likely lost: probe until it answers.
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }
}
