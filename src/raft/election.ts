import { EntryType, MessageType, type Entry, type Message } from '../proto/raftpb.js';
import { hex, NONE } from './ids.js';
import type { RaftState } from './raftState.js';
import { CompactedError } from './storage.js';

/** The context of a vote request sent because of a leadership transfer: it bypasses leader stickiness. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

const EMPTY = new Uint8Array(0);

function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

function voteResponseType(t: MessageType): MessageType {
  return t === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
}

/**
 * Elections (Raft §5.2, §5.4.1, and pre-vote and leader stickiness from
 * §9.6): when a node may campaign, what it asks, how it votes and how it
 * counts the answers.
 */
export class Election {
  constructor(readonly r: RaftState) {}

  /** A tick for a non-leader: returns true when the election timeout fired and we should campaign. */
  tickElection(): boolean {
    const r = this.r;
    r.electionElapsed++;
    if (this.promotable() && r.electionElapsed >= r.randomizedElectionTimeout) {
      r.electionElapsed = 0;
      return true;
    }
    return false;
  }

  /** A voter, with no snapshot waiting to be applied. */
  promotable(): boolean {
    const pr = this.r.prs.progress.get(this.r.id);
    return pr !== undefined && !pr.isLearner && !this.r.log.hasPendingSnapshot();
  }

  /** Committed but unapplied conf changes: campaigning now could act on a stale configuration. */
  hasUnappliedConfChanges(): boolean {
    const log = this.r.log;
    if (log.committed <= log.applied) return false;
    const lo = Math.max(log.applied + 1, log.firstIndex());
    let ents: Entry[];
    try {
      ents = log.slice(lo, log.committed + 1, Infinity);
    } catch (err) {
      if (err instanceof CompactedError) return false;
      throw err;
    }
    return ents.some((e) => e.type !== EntryType.EntryNormal);
  }

  /** Asks every voter whether it would vote for us in the next term, which we do not enter yet. */
  requestPreVotes(): void {
    this.ask(MessageType.MsgPreVote, this.r.term + 1, EMPTY);
  }

  /** Asks every voter for its vote in our (new) term; a transfer's request bypasses leader stickiness. */
  requestVotes(transfer: boolean): void {
    this.ask(MessageType.MsgVote, this.r.term, transfer ? CAMPAIGN_TRANSFER : EMPTY);
  }

  private ask(type: MessageType, term: number, context: Uint8Array): void {
    const r = this.r;
    const index = r.log.lastIndex();
    const logTerm = r.log.lastTerm();
    for (const id of r.prs.voterIds()) {
      if (id === r.id) continue;
      r.send({ to: id, type, term, index, logTerm, context });
    }
    r.logger.info(
      { id: hex(r.id), term, pre: type === MessageType.MsgPreVote, index, 'log-term': logTerm },
      'sent vote requests',
    );
  }

  /** Leader stickiness: we heard from a leader within the election timeout. */
  inLease(): boolean {
    const r = this.r;
    return r.cfg.checkQuorum && r.lead !== NONE && r.electionElapsed < r.cfg.electionTick;
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
    const r = this.r;
    const canVote =
      r.vote === m.from ||
      (r.vote === NONE && r.lead === NONE) ||
      (m.type === MessageType.MsgPreVote && m.term > r.term);
    return canVote && r.log.isUpToDate(m.index, m.logTerm);
  }

  grantVote(m: Message): void {
    const r = this.r;
    r.send({ to: m.from, term: m.term, type: voteResponseType(m.type) });
    if (m.type === MessageType.MsgVote) {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
    r.logger.info(
      { id: hex(r.id), term: r.term, candidate: hex(m.from), type: MessageType[m.type] },
      'granted vote',
    );
  }

  rejectVote(m: Message): void {
    this.r.send({ to: m.from, term: this.r.term, type: voteResponseType(m.type), reject: true });
  }

  recordVote(m: Message): void {
    this.r.prs.recordVote(m.from, !m.reject);
  }
}
