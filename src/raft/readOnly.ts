import type { Message } from '../proto/raftpb.js';

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
