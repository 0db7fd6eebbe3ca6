import { MessageType, type Message, type Snapshot } from '../proto/raftpb.js';
import { restoreConfState } from './confchange.js';
import { hex } from './ids.js';
import type { RaftState } from './raftState.js';

/**
 * What a follower (or a learner) does with its leader's messages: the
 * receiver side of AppendEntries (Figure 2), heartbeats, snapshots
 * (InstallSnapshot, §7), and the requests it forwards to the leader.
 */
export class Follower {
  constructor(readonly r: RaftState) {}

  /** Heard from the leader of our term: it is the leader, and the election timer restarts. */
  acceptLeader(m: Message): void {
    this.r.electionElapsed = 0;
    this.r.lead = m.from;
  }

  forwardToLeader(m: Message): void {
    this.r.send({ ...m, to: this.r.lead, term: 0 });
  }

  /** AppendEntries receiver (Figure 2): consistency check, append, commit, and a hint when rejecting. */
  handleAppendEntries(m: Message): void {
    const r = this.r;
    const log = r.log;
    if (m.index < log.committed) {
      r.send({ to: m.from, type: MessageType.MsgAppResp, index: log.committed });
      return;
    }
    const lastBefore = log.lastIndex();
    const conflict = log.matchTerm(m.index, m.logTerm) ? log.findConflict(m.entries) : 0;
    const last = log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      if (conflict !== 0 && conflict <= lastBefore) this.dropAcksFrom(conflict);
      r.send({ to: m.from, type: MessageType.MsgAppResp, index: last });
      return;
    }
    const hint = log.findConflictByTerm(Math.min(m.index, log.lastIndex()), m.logTerm);
    r.logger.debug(
      {
        id: hex(r.id),
        'log-term': log.termOrZero(m.index),
        index: m.index,
        'msg-log-term': m.logTerm,
        from: hex(m.from),
      },
      'rejected MsgApp',
    );
    r.send({
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
    this.r.msgs = this.r.msgs.filter((x) => x.type !== MessageType.MsgAppResp || x.reject || x.index < index);
  }

  handleHeartbeat(m: Message): void {
    this.r.log.commitTo(m.commit);
    this.r.send({ to: m.from, type: MessageType.MsgHeartbeatResp, context: m.context });
  }

  handleSnapshot(m: Message): void {
    const r = this.r;
    const s = m.snapshot!;
    if (this.restore(s)) {
      r.logger.info({ id: hex(r.id), index: s.metadata!.index, term: s.metadata!.term }, 'restored snapshot');
      r.send({ to: m.from, type: MessageType.MsgAppResp, index: r.log.lastIndex() });
    } else {
      r.send({ to: m.from, type: MessageType.MsgAppResp, index: r.log.committed });
    }
  }

  /** Installs a snapshot unless we already have what it holds. Returns whether it was installed. */
  private restore(s: Snapshot): boolean {
    const r = this.r;
    const meta = s.metadata!;
    if (meta.index <= r.log.committed) return false;
    const cs = meta.confState ?? {
      voters: [],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    const found = cs.voters.includes(r.id) || cs.learners.includes(r.id) || cs.votersOutgoing.includes(r.id);
    if (!found) {
      r.logger.warn(
        { id: hex(r.id), index: meta.index },
        'attempted to restore snapshot but it is not in the ConfState',
      );
      return false;
    }
    if (r.log.matchTerm(meta.index, meta.term)) {
      // We have the snapshot's last entry: just commit up to it.
      r.log.commitTo(meta.index);
      return false;
    }
    this.dropAcksFrom(r.log.committed + 1);
    r.log.restore(s);
    const restored = restoreConfState(r.prs, cs, r.log.lastIndex());
    r.prs.switchTo(restored.config, restored.progress);
    return true;
  }
}
