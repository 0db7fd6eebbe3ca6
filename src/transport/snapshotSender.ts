/**
 * Sends one snapshot's application state to one peer in chunks, with flow
 * control: at most `window` chunks may be unacknowledged, and a transfer whose
 * receiver stops answering fails after `idleTimeoutMs`. The outcome is what
 * Raft is told (ReportSnapshot): 'finish' only when the receiver verified the
 * whole and kept it.
 */
import { crc32 } from 'node:zlib';
import type { Message } from '../proto/raftpb.js';
import type { SnapshotAck, SnapshotChunk } from '../proto/xetcdpb.js';

export interface SnapshotSendOptions {
  readonly transferId: number;
  readonly message: Message;
  readonly body: AsyncIterable<Uint8Array>;
  readonly chunkBytes: number;
  readonly window: number;
  readonly idleTimeoutMs: number;
  /** Publishes a chunk; false when the road is down (the transfer then fails). */
  publish(chunk: SnapshotChunk): boolean;
}

export type SnapshotOutcome = { status: 'finish'; bytes: number } | { status: 'failure'; reason: string };

export class SnapshotSend {
  private nextSeq = 0;
  private acked = 0;
  private wake: (() => void) | undefined;
  private finalAck: SnapshotAck | undefined;
  private abortReason: string | undefined;

  constructor(private readonly options: SnapshotSendOptions) {}

  get transferId(): number {
    return this.options.transferId;
  }

  /** An answer from the receiver. */
  onAck(ack: SnapshotAck): void {
    if (ack.transferId !== this.options.transferId) return;
    this.acked = Math.max(this.acked, ack.nextSeq);
    if (ack.done || ack.failed) this.finalAck = ack;
    this.wake?.();
  }

  /** Gives the transfer up (the peer was removed, the member stops). */
  abort(reason: string): void {
    this.abortReason ??= reason;
    this.wake?.();
  }

  async run(): Promise<SnapshotOutcome> {
    try {
      const bytes = await this.stream();
      await this.waitFor(() => this.finalAck !== undefined, 'no final answer');
      if (this.finalAck?.failed) return { status: 'failure', reason: `receiver: ${this.finalAck.reason}` };
      return { status: 'finish', bytes };
    } catch (err) {
      return { status: 'failure', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  private async stream(): Promise<number> {
    const { chunkBytes, body } = this.options;
    let crc = 0;
    let total = 0;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    for await (const piece of body) {
      crc = crc32(piece, crc);
      total += piece.length;
      let rest = piece;
      while (pendingBytes + rest.length >= chunkBytes) {
        const take = chunkBytes - pendingBytes;
        pending.push(rest.subarray(0, take));
        rest = rest.subarray(take);
        await this.sendChunk({ data: Buffer.concat(pending) });
        pending = [];
        pendingBytes = 0;
      }
      if (rest.length > 0) {
        pending.push(rest);
        pendingBytes += rest.length;
      }
    }
    await this.sendChunk({ data: Buffer.concat(pending), last: true, totalBytes: total, crc32: crc });
    return total;
  }

  private async sendChunk(part: Partial<SnapshotChunk>): Promise<void> {
    const seq = this.nextSeq;
    await this.waitFor(() => seq - this.acked < this.options.window, 'receiver stopped acknowledging');
    const chunk: SnapshotChunk = {
      transferId: this.options.transferId,
      seq,
      data: part.data ?? new Uint8Array(0),
      last: part.last ?? false,
      totalBytes: part.totalBytes ?? 0,
      crc32: part.crc32 ?? 0,
      ...(seq === 0 ? { message: this.options.message } : {}),
    };
    if (!this.options.publish(chunk)) throw new Error('peer road is down');
    this.nextSeq = seq + 1;
  }

  /** Resolves once `ready()` holds; fails on abort, a receiver's failure, or idleTimeoutMs without progress. */
  private async waitFor(ready: () => boolean, whatTimedOut: string): Promise<void> {
    for (;;) {
      if (this.abortReason !== undefined) throw new Error(this.abortReason);
      if (this.finalAck?.failed) throw new Error(`receiver: ${this.finalAck.reason}`);
      if (ready()) return;
      const progressed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), this.options.idleTimeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = undefined;
      if (!progressed) throw new Error(`${whatTimedOut} for ${this.options.idleTimeoutMs} ms`);
    }
  }
}
