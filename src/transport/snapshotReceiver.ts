/**
 * Receives snapshots' application state from peers: chunks are written to a
 * temporary file as they arrive, in order; once the last one is in, the
 * length and checksum are verified, the file is made durable under the name
 * the server looks for (by the snapshot's index), and only then is the
 * snapshot's message handed to Raft. A transfer with a gap, a bad checksum or
 * a silent sender is dropped with its file: never half-applied.
 */
import { open, rename, rm, mkdir, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { syncDir } from '../storage/syncDir.js';
import { MessageType, type Message } from '../proto/raftpb.js';
import type { SnapshotAck, SnapshotChunk } from '../proto/xetcdpb.js';

const TEMP_PREFIX = '.incoming-';

/**
 * Where a member keeps the application state of a snapshot it received until
 * the snapshot is applied (etcd's snap/<index>.snap.db): the server finds it
 * by the snapshot's index.
 */
export function snapshotStatePath(snapshotDir: string, index: number): string {
  return join(snapshotDir, `${index.toString(16).padStart(16, '0')}.snap.db`);
}

export interface SnapshotReceiverOptions {
  readonly dir: string;
  readonly idleTimeoutMs: number;
  /** Answers the sender (flow control and the outcome). */
  ack(to: bigint, ack: SnapshotAck): void;
  /** Hands a snapshot whose state is whole and durable to Raft. */
  deliver(message: Message): void;
  /** The state file was fsynced, taking this long (for metrics). */
  fsynced?(ms: number): void;
  /** A transfer ended without a snapshot (for logs and metrics). */
  failed(from: bigint, reason: string): void;
  /** A transfer completed (for logs and metrics). */
  received(from: bigint, bytes: number, durationMs: number): void;
}

interface Transfer {
  readonly from: bigint;
  readonly transferId: number;
  readonly message: Message;
  readonly tempPath: string;
  readonly startedAt: number;
  file: Promise<FileHandle>;
  /** Writes land in chunk order: each one chains on this. */
  written: Promise<void>;
  nextSeq: number;
  crc: number;
  bytes: number;
  idle: NodeJS.Timeout | undefined;
  over: boolean;
}

export class SnapshotReceiver {
  private readonly transfers = new Map<bigint, Transfer>();

  constructor(private readonly options: SnapshotReceiverOptions) {}

  /** Removes temporary files a crash left behind (whole, verified states are kept). */
  async start(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    for (const name of await readdir(this.options.dir)) {
      if (name.startsWith(TEMP_PREFIX)) await rm(join(this.options.dir, name), { force: true });
    }
  }

  accept(from: bigint, chunk: SnapshotChunk): void {
    let transfer = this.transfers.get(from);
    if (chunk.seq === 0) {
      if (transfer !== undefined) this.fail(transfer, 'superseded by a new transfer');
      const problem = checkSnapshotMessage(chunk.message);
      if (problem !== undefined) {
        this.options.ack(from, failedAck(chunk.transferId, 0, problem));
        this.options.failed(from, problem);
        return;
      }
      transfer = this.begin(from, chunk.transferId, chunk.message!);
    }
    if (transfer === undefined || transfer.over || transfer.transferId !== chunk.transferId) {
      this.options.ack(from, failedAck(chunk.transferId, 0, 'unknown transfer'));
      return;
    }
    if (chunk.seq !== transfer.nextSeq) {
      this.fail(transfer, `chunk ${chunk.seq} arrived while ${transfer.nextSeq} was expected`);
      return;
    }
    transfer.nextSeq++;
    this.armIdle(transfer);
    // The chunk's bytes are a view into the NATS message: keep a copy for the write.
    const data = Uint8Array.from(chunk.data);
    transfer.crc = crc32(data, transfer.crc);
    transfer.bytes += data.length;
    const seq = chunk.seq;
    transfer.written = transfer.written.then(async () => {
      if (data.length > 0) await (await transfer.file).write(data);
      if (!transfer.over)
        this.options.ack(from, {
          transferId: transfer.transferId,
          nextSeq: seq + 1,
          done: false,
          failed: false,
          reason: '',
        });
    });
    transfer.written.catch((err: unknown) => this.fail(transfer, `writing the state failed: ${String(err)}`));
    if (chunk.last) void this.finish(transfer, chunk);
  }

  /** Gives up every transfer in progress and removes its file. */
  async stop(): Promise<void> {
    const pending = [...this.transfers.values()];
    for (const t of pending) this.fail(t, 'member stopping');
    await Promise.all(pending.map((t) => this.discard(t)));
  }

  private begin(from: bigint, transferId: number, message: Message): Transfer {
    const tempPath = join(this.options.dir, `${TEMP_PREFIX}${from.toString(16)}-${transferId}`);
    const transfer: Transfer = {
      from,
      transferId,
      message,
      tempPath,
      startedAt: performance.now(),
      file: open(tempPath, 'w'),
      written: Promise.resolve(),
      nextSeq: 0,
      crc: 0,
      bytes: 0,
      idle: undefined,
      over: false,
    };
    transfer.written = transfer.file.then(() => undefined);
    this.transfers.set(from, transfer);
    return transfer;
  }

  private async finish(transfer: Transfer, last: SnapshotChunk): Promise<void> {
    try {
      await transfer.written;
      if (transfer.over) return;
      if (last.totalBytes !== transfer.bytes) {
        throw new Error(`state is ${transfer.bytes} bytes, the sender sent ${last.totalBytes}`);
      }
      if (last.crc32 !== transfer.crc) throw new Error('state checksum mismatch');
      const file = await transfer.file;
      const syncStarted = performance.now();
      await file.sync();
      this.options.fsynced?.(performance.now() - syncStarted);
      await file.close();
      const index = transfer.message.snapshot!.metadata!.index;
      await rename(transfer.tempPath, snapshotStatePath(this.options.dir, index));
      await syncDir(this.options.dir);
      this.end(transfer);
      this.options.ack(transfer.from, {
        transferId: transfer.transferId,
        nextSeq: transfer.nextSeq,
        done: true,
        failed: false,
        reason: '',
      });
      this.options.received(transfer.from, transfer.bytes, performance.now() - transfer.startedAt);
      this.options.deliver(transfer.message);
    } catch (err) {
      this.fail(transfer, err instanceof Error ? err.message : String(err));
    }
  }

  private fail(transfer: Transfer, reason: string): void {
    if (transfer.over) return;
    this.end(transfer);
    this.options.ack(transfer.from, failedAck(transfer.transferId, transfer.nextSeq, reason));
    this.options.failed(transfer.from, reason);
    void this.discard(transfer);
  }

  private end(transfer: Transfer): void {
    transfer.over = true;
    if (transfer.idle) clearTimeout(transfer.idle);
    if (this.transfers.get(transfer.from) === transfer) this.transfers.delete(transfer.from);
  }

  private async discard(transfer: Transfer): Promise<void> {
    await transfer.written.catch(() => undefined);
    await transfer.file.then((f) => f.close()).catch(() => undefined);
    await rm(transfer.tempPath, { force: true });
  }

  private armIdle(transfer: Transfer): void {
    if (transfer.idle) clearTimeout(transfer.idle);
    transfer.idle = setTimeout(
      () => this.fail(transfer, `no chunk for ${this.options.idleTimeoutMs} ms`),
      this.options.idleTimeoutMs,
    );
  }
}

function checkSnapshotMessage(message: Message | undefined): string | undefined {
  if (message === undefined) return 'first chunk without its message';
  if (message.type !== MessageType.MsgSnap) return `first chunk carries a ${MessageType[message.type]}`;
  if (!message.snapshot?.metadata || message.snapshot.metadata.index === 0)
    return 'snapshot without metadata';
  return undefined;
}

function failedAck(transferId: number, nextSeq: number, reason: string): SnapshotAck {
  return { transferId, nextSeq, done: false, failed: true, reason };
}
