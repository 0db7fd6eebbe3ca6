// Splits one direction of a NATS client connection into whole protocol frames, so a fault
// proxy can drop a message without cutting the byte stream mid-frame (which the server
// would answer with a parse error and a closed connection: a different fault from loss).
//
// Every frame is a line ending in LF (the protocol sends CRLF; the server also accepts a
// bare LF). PUB/HPUB (client to server) and MSG/HMSG (server to client) are followed by a
// payload whose size is the line's last field, and a CRLF. Everything else (INFO, CONNECT,
// SUB, UNSUB, PING, PONG, +OK, -ERR) is the line alone.

/** The operations that carry a payload: the only frames a lossy link may drop. */
const MESSAGE_OPS = new Set(['PUB', 'HPUB', 'MSG', 'HMSG']);

const LF = 0x0a;

export interface NatsFrame {
  /** The operation, upper-cased (the server accepts any case). */
  readonly op: string;
  /** True for PUB, HPUB, MSG and HMSG. */
  readonly isMessage: boolean;
  /** The frame's exact bytes, its line terminator and payload included. */
  readonly bytes: Buffer;
}

export class NatsFrameSplitter {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Once the current frame's control line is read: its op and total size. */
  private current: { op: string; isMessage: boolean; size: number } | undefined;

  /** Bytes held back because they do not complete a frame yet. */
  get buffered(): number {
    return this.length;
  }

  /** Takes the next bytes of the stream and returns the frames they complete, in order. */
  push(chunk: Buffer): NatsFrame[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const frames: NatsFrame[] = [];
    for (;;) {
      if (this.current === undefined) {
        const buf = this.flatten();
        const lf = buf.indexOf(LF);
        if (lf < 0) break;
        this.current = frameHeader(buf.toString('latin1', 0, lf), lf + 1);
      }
      // A large payload arrives in many chunks: they are joined once, when it is whole.
      if (this.length < this.current.size) break;
      const buf = this.flatten();
      const { op, isMessage, size } = this.current;
      frames.push({ op, isMessage, bytes: buf.subarray(0, size) });
      const rest = buf.subarray(size);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.length = rest.length;
      this.current = undefined;
    }
    return frames;
  }

  private flatten(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0]!;
  }
}

function frameHeader(line: string, lineBytes: number): { op: string; isMessage: boolean; size: number } {
  const fields = line.trim().split(/[ \t]+/);
  const op = (fields[0] ?? '').toUpperCase();
  const payload = Number(fields[fields.length - 1]);
  // A message line whose size does not parse is passed on as a line: the server, not the
  // proxy, is the one to reject it.
  if (!MESSAGE_OPS.has(op) || fields.length < 3 || !Number.isInteger(payload) || payload < 0)
    return { op, isMessage: false, size: lineBytes };
  return { op, isMessage: true, size: lineBytes + payload + 2 };
}
