import { MessageType, type Message } from '../proto/raftpb.js';
import { hex, NONE } from './ids.js';
import type { Progress } from './progress.js';
import type { RaftState } from './raftState.js';

/**
 * Leadership transfer (Raft §3.10): the leader brings the transferee's log
 * up to date, then tells it to campaign at once (MsgTimeoutNow). Proposals
 * are refused meanwhile; a transfer that does not finish within an election
 * timeout is abandoned.
 */
export class LeaderTransfer {
  /** The node leadership is being handed to, or NONE. */
  transferee = NONE;

  constructor(readonly r: RaftState) {}

  isPending(): boolean {
    return this.transferee !== NONE;
  }

  /** Only a voter can take over. */
  isValidTarget(m: Message): boolean {
    const pr = this.r.prs.progress.get(m.from);
    return pr !== undefined && !pr.isLearner;
  }

  /** A request for the transfer already under way. */
  isTargetOf(m: Message): boolean {
    return this.transferee !== NONE && this.transferee === m.from;
  }

  start(m: Message): void {
    const r = this.r;
    const to = m.from;
    if (this.transferee !== NONE) this.abort();
    this.transferee = to;
    // The transfer must finish within one election timeout.
    r.electionElapsed = 0;
    r.logger.info({ id: hex(r.id), term: r.term, to: hex(to) }, 'starts to transfer leadership');
    const pr = r.prs.progress.get(to)!;
    if (pr.match === r.log.lastIndex()) this.sendTimeoutNow(to);
    else r.replication.sendAppend(to);
  }

  abort(): void {
    this.transferee = NONE;
  }

  /** The transferee acknowledged entries: once it holds the whole log, it may campaign. */
  onAppendAck(from: bigint, pr: Progress): void {
    const r = this.r;
    if (from !== this.transferee || pr.match !== r.log.lastIndex()) return;
    r.logger.info({ id: hex(r.id), to: hex(from) }, 'sent MsgTimeoutNow after transferee caught up');
    this.sendTimeoutNow(from);
  }

  /** A transferee that is no longer a voter cannot take over. */
  afterConfigChange(): void {
    if (this.transferee !== NONE && !this.r.prs.isVoter(this.transferee)) this.abort();
  }

  private sendTimeoutNow(to: bigint): void {
    this.r.send({ to, type: MessageType.MsgTimeoutNow });
  }
}
