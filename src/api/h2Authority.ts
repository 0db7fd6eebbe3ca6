// grpc-go dials per-endpoint connections (etcdctl's `endpoint status`, `defrag`,
// `hashkv`, `snapshot`, ...) with the endpoint as given, so a client started
// with `--endpoints http://127.0.0.1:2379` sends `:authority: http://127.0.0.1:2379`.
// Go's HTTP/2 server accepts that; Node's (nghttp2) resets the stream with
// PROTOCOL_ERROR before any handler runs. Such connections are passed through a
// rewriter that strips the scheme from :authority. Connections whose first
// request carries a plain host:port (every other client) keep the raw socket.
import { Duplex } from 'node:stream';
import type * as net from 'node:net';
import hpack from 'hpack.js';

const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which every server accepts. */
const MAX_FRAME_PAYLOAD = 16_384;
/** HTTP/2's default SETTINGS_HEADER_TABLE_SIZE: what a client's encoder starts with. */
const HEADER_TABLE_SIZE = 4096;

interface Header {
  name: string;
  value: string;
  neverIndex: boolean;
}

export function hasSchemeInAuthority(authority: string | undefined): boolean {
  return authority !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(authority);
}

function stripScheme(authority: string): string {
  return authority.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '');
}

/**
 * Reads a client's HTTP/2 byte stream (preface included) frame by frame and
 * decodes every header block with HPACK, mirroring the client's dynamic table.
 * In rewrite mode each block is re-encoded as literals without indexing (so the
 * server's table never holds an entry and cannot disagree with the client's),
 * with the scheme stripped from :authority; all other frames pass unchanged.
 */
export class ClientFrameRewriter {
  private buffered: Buffer = Buffer.alloc(0);
  private prefaceLeft = PREFACE_BYTES;
  private readonly decoder = hpack.decompressor.create({ table: { size: HEADER_TABLE_SIZE } });
  private block: { streamId: number; endStream: boolean; fragments: Buffer[] } | undefined;
  /** The :authority of the first request, once its header block has been read. */
  firstAuthority: string | undefined;
  sawFirstBlock = false;

  /** Drop the first SETTINGS ACK: it acknowledges the probe's SETTINGS, which the server never sent. */
  private dropSettingsAck: boolean;

  constructor(
    private readonly rewrite: boolean,
    opts: { dropFirstSettingsAck?: boolean } = {},
  ) {
    this.dropSettingsAck = opts.dropFirstSettingsAck === true;
  }

  /** The client has acknowledged the probe's SETTINGS (and that frame was removed). */
  settingsAckDropped = false;

  /** Bytes received but not yet a whole frame. */
  leftover(): Buffer {
    return this.buffered;
  }

  /** Consumes client bytes; returns the bytes to forward to the server (rewrite mode). */
  transform(chunk: Buffer): Buffer {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: Buffer[] = [];
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, this.buffered.length);
      out.push(this.buffered.subarray(0, n));
      this.buffered = this.buffered.subarray(n);
      this.prefaceLeft -= n;
    }
    while (this.prefaceLeft === 0 && this.buffered.length >= FRAME_HEADER_BYTES) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < FRAME_HEADER_BYTES + length) break;
      const frame = this.buffered.subarray(0, FRAME_HEADER_BYTES + length);
      this.buffered = this.buffered.subarray(FRAME_HEADER_BYTES + length);
      const forwarded = this.frame(frame);
      if (forwarded) out.push(...forwarded);
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  private frame(frame: Buffer): Buffer[] | undefined {
    const type = frame[3]!;
    const flags = frame[4]!;
    const streamId = frame.readUInt32BE(5) & 0x7fff_ffff;
    let payload = frame.subarray(FRAME_HEADER_BYTES);
    if (type === TYPE_SETTINGS && (flags & FLAG_ACK) !== 0 && this.dropSettingsAck) {
      this.dropSettingsAck = false;
      this.settingsAckDropped = true;
      return undefined;
    }
    if (type === TYPE_HEADERS) {
      if (flags & FLAG_PADDED) {
        const pad = payload[0]!;
        payload = payload.subarray(1, payload.length - pad);
      }
      if (flags & FLAG_PRIORITY) payload = payload.subarray(5);
      this.block = { streamId, endStream: (flags & FLAG_END_STREAM) !== 0, fragments: [payload] };
    } else if (type === TYPE_CONTINUATION && this.block !== undefined) {
      this.block.fragments.push(payload);
    } else {
      return [frame];
    }
    // In rewrite mode the pieces of a block are held back until the re-encoded block replaces them.
    const passOn = this.rewrite ? undefined : [frame];
    if ((flags & FLAG_END_HEADERS) === 0) return passOn;
    const { streamId: id, endStream, fragments } = this.block;
    this.block = undefined;
    const headers = this.decode(fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments));
    if (!this.sawFirstBlock) {
      this.sawFirstBlock = true;
      this.firstAuthority = headers.find((h) => h.name === ':authority')?.value;
    }
    if (!this.rewrite) return passOn;
    for (const h of headers)
      if (h.name === ':authority' && hasSchemeInAuthority(h.value)) h.value = stripScheme(h.value);
    return headerFrames(id, endStream, encodeLiterals(headers));
  }

  private decode(block: Buffer): Header[] {
    this.decoder.write(block);
    this.decoder.execute();
    const headers: Header[] = [];
    for (let h = this.decoder.read(); h; h = this.decoder.read()) headers.push(h as Header);
    return headers;
  }
}

function encodeInteger(value: number, prefixBits: number, firstByte: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** Every header as a literal with a literal name, never added to the server's table (RFC 7541 §6.2.2/6.2.3). */
function encodeLiterals(headers: Header[]): Buffer {
  const parts: Buffer[] = [];
  for (const h of headers) {
    const name = Buffer.from(h.name, 'latin1');
    const value = Buffer.from(h.value, 'latin1');
    const head: number[] = [];
    encodeInteger(0, 4, h.neverIndex ? 0x10 : 0x00, head);
    encodeInteger(name.length, 7, 0, head);
    const mid: number[] = [];
    encodeInteger(value.length, 7, 0, mid);
    parts.push(Buffer.from(head), name, Buffer.from(mid), value);
  }
  return Buffer.concat(parts);
}

function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId, 5);
  return b;
}

function headerFrames(streamId: number, endStream: boolean, block: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, first = true; first || at < block.length; first = false) {
    const piece = block.subarray(at, at + MAX_FRAME_PAYLOAD);
    at += piece.length;
    const last = at >= block.length;
    const type = first ? TYPE_HEADERS : TYPE_CONTINUATION;
    const flags = (first && endStream ? FLAG_END_STREAM : 0) | (last ? FLAG_END_HEADERS : 0);
    out.push(frameHeader(piece.length, type, flags, streamId), piece);
  }
  return out;
}

/** A socket seen through a ClientFrameRewriter: what the HTTP/2 server reads is rewritten, what it writes is not. */
class RewritingSocket extends Duplex {
  private readonly rewriter: ClientFrameRewriter;

  constructor(
    private readonly socket: net.Socket,
    dropFirstSettingsAck: boolean,
  ) {
    super();
    this.rewriter = new ClientFrameRewriter(true, { dropFirstSettingsAck });
    socket.on('data', (chunk: Buffer) => {
      let out: Buffer;
      try {
        out = this.rewriter.transform(chunk);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (out.length > 0 && !this.push(out)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** grpc-js names a call's peer by these (and --client-cert-auth finds the certificate by it): the socket's. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    cb(err);
  }
}

export interface H2RouteTimeouts {
  /** How long to wait for the first request before deciding on what has been seen (a client may connect and wait). */
  readonly firstRequestMs: number;
  /** How long a client may take to acknowledge the probe's SETTINGS before the connection is closed (RFC 9113 §6.5.3). */
  readonly settingsAckMs: number;
}

/**
 * Reads up to the first request's headers (the socket starts at the preface,
 * sniffed bytes unshifted), then returns the socket itself or, when that
 * request's :authority carries a scheme, a rewriting view of it. Every byte
 * read is put back first. Resolves undefined if the connection ends first or
 * never acknowledges the probe's SETTINGS.
 *
 * The connection is never handed over before the client's ACK of the probe's
 * SETTINGS has been read and removed: the HTTP/2 server sends SETTINGS of its
 * own, takes that ACK as the answer to them, and closes the connection when
 * the real answer comes ("unexpected ACK"). A client's ACK can reach us late
 * although it was sent at once: a member busy with other work (other sessions
 * closing with streams open) or short of CPU runs the first-request timer
 * before it reads the bytes already waiting on the socket.
 */
export function routeH2Connection(
  socket: net.Socket,
  timeouts: H2RouteTimeouts,
): Promise<Duplex | undefined> {
  return new Promise((resolve) => {
    const probe = new ClientFrameRewriter(false, { dropFirstSettingsAck: true });
    const replay: Buffer[] = [];
    let waitedForRequest = false;
    const finish = (result: 'raw' | 'rewrite' | undefined): void => {
      clearTimeout(requestTimer);
      clearTimeout(ackTimer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      if (result === undefined) {
        resolve(undefined);
        return;
      }
      socket.pause();
      replay.push(probe.leftover());
      socket.unshift(Buffer.concat(replay));
      resolve(result === 'raw' ? socket : new RewritingSocket(socket, !probe.settingsAckDropped));
    };
    const decision = (): 'raw' | 'rewrite' =>
      hasSchemeInAuthority(probe.firstAuthority) ? 'rewrite' : 'raw';
    // grpc-go may send the ACK after its first request (it writes them from
    // different goroutines), and a client that waits before its first call
    // sends no request at all: wait for the ACK and for the request or the timer.
    const handOverIfReady = (): void => {
      if (probe.settingsAckDropped && (probe.sawFirstBlock || waitedForRequest)) finish(decision());
    };
    const onData = (chunk: Buffer): void => {
      try {
        replay.push(probe.transform(chunk));
      } catch {
        // Not ours to judge: the HTTP/2 server answers bad input itself.
        replay.push(probe.leftover());
        finish('raw');
        return;
      }
      handOverIfReady();
    };
    const onClose = (): void => finish(undefined);
    const requestTimer = setTimeout(() => {
      waitedForRequest = true;
      handOverIfReady();
    }, timeouts.firstRequestMs);
    const ackTimer = setTimeout(() => {
      finish(undefined);
      socket.destroy();
    }, timeouts.settingsAckMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    // grpc-go sends no request before it has the server's SETTINGS: send an
    // empty one (all defaults) now; the client's ACK of it is dropped above.
    socket.write(frameHeader(0, TYPE_SETTINGS, 0, 0));
    socket.resume();
  });
}
