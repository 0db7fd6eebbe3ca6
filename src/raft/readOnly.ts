import { MessageType, type Message } from '../proto/raftpb.js';
import { hex, NONE } from './ids.js';
import type { RaftState } from './raftState.js';

/** One ReadIndex request the leader is confirming with a heartbeat round. */
export interface ReadIndexStatus {
  req: Message;
  /** The commit index when the request arrived: reads are served at or after it. */
  index: number;
  acks: Map<bigint, boolean>;
}

/** Request contexts are compared by content: the key of a context's bytes. */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

/**
 * The leader's queue of ReadIndex requests in "safe" mode (Raft §6.4): each
 * is answered once a quorum has acknowledged a heartbeat sent after it
 * arrived, which proves the leader was still the leader at that moment. A
 * quorum's ack of a later request confirms every earlier one too.
 */
export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly option: 'safe' | 'leaseBased') {}

  addRequest(index: number, m: Message): void {
    const key = contextKey(m.entries[0]!.data);
    if (this.pending.has(key)) return;
    this.pending.set(key, { index, req: m, acks: new Map() });
    this.queue.push(key);
  }

  /** Records a heartbeat ack carrying ctx; returns the acks of that request so far. */
  recvAck(id: bigint, ctx: Uint8Array): ReadonlyMap<bigint, boolean> {
    const rs = this.pending.get(contextKey(ctx));
    if (!rs) return new Map();
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Removes and returns every request up to and including the one with ctx. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs) out.push(rs);
      this.pending.delete(k);
    }
    return out;
  }

  /** The context of the newest pending request: heartbeats carry it so their acks confirm it. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.entries[0]!.data;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}

/**
 * ReadIndex (Raft §6.4) on both sides. The leader answers with its commit
 * index once it is sure it still leads: at once as the only voter; after a
 * heartbeat quorum ("safe"), or trusting CheckQuorum ("leaseBased"); and
 * not before an entry of its own term has committed, until which requests
 * wait. A follower forwards requests to the leader and turns its answers
 * into ReadStates.
 */
export class ReadIndex {
  /** Requests being confirmed by a heartbeat round (safe reads). */
  private queue: ReadOnly;
  /** Requests that arrived before this leader committed an entry of its term. */
  private waiting: Message[] = [];

  constructor(readonly r: RaftState) {
    this.queue = new ReadOnly(r.cfg.readOnlyOption);
  }

  /** Reads waiting on this node as leader are abandoned with its leadership; the server retries them. */
  reset(): void {
    this.queue = new ReadOnly(this.r.cfg.readOnlyOption);
    this.waiting = [];
  }

  isLeaseBased(): boolean {
    return this.queue.option === 'leaseBased';
  }

  /** The context of the newest request being confirmed: heartbeats carry it so their acks confirm it. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    return this.queue.lastPendingRequestCtx();
  }

  answerNow(m: Message): void {
    this.respond(m, this.r.log.committed);
  }

  park(m: Message): void {
    this.waiting.push(m);
  }

  /** Safe ReadIndex: remember the commit index, count our own ack, and ask a quorum with a heartbeat. */
  startRound(m: Message): void {
    const r = this.r;
    const ctx = m.entries[0]!.data;
    this.queue.addRequest(r.log.committed, m);
    this.queue.recvAck(r.id, ctx);
    for (const id of r.prs.progress.keys()) {
      if (id !== r.id) r.replication.sendHeartbeat(id, ctx);
    }
  }

  /** The leader committed: requests that waited for an entry of its term can now be served. */
  releaseWaiting(): void {
    if (this.waiting.length === 0 || !this.r.hasCommittedInCurrentTerm()) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const m of waiting) {
      if (this.isLeaseBased()) this.answerNow(m);
      else this.startRound(m);
    }
  }

  /** A heartbeat answer carrying a request context: once a quorum acked it, that request and every earlier one are answered. */
  onHeartbeatAck(m: Message): void {
    if (this.queue.option !== 'safe' || m.context.length === 0) return;
    if (this.r.prs.voteResult(this.queue.recvAck(m.from, m.context)) !== 'won') return;
    for (const rs of this.queue.advance(m.context)) this.respond(rs.req, rs.index);
  }

  /** A follower's answer from the leader. */
  acceptReadState(m: Message): void {
    const r = this.r;
    if (m.entries.length !== 1) {
      r.logger.error(
        { id: hex(r.id), from: hex(m.from), entries: m.entries.length },
        'invalid format of MsgReadIndexResp',
      );
      return;
    }
    r.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
  }

  /** Answers a request with index: locally, or to the follower that forwarded it. */
  private respond(req: Message, index: number): void {
    const r = this.r;
    if (req.from === NONE || req.from === r.id) {
      r.readStates.push({ index, requestCtx: req.entries[0]!.data });
    } else {
      r.send({ to: req.from, type: MessageType.MsgReadIndexResp, index, entries: req.entries });
    }
  }
}
