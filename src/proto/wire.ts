/**
 * The protobuf wire format runtime used by the generated modules in this folder.
 *
 * Written for the hot paths (Raft messages and entries, MVCC records): the
 * Writer grows one buffer and length-prefixes nested messages by reserving a
 * byte and shifting in place only when the body turns out to need a longer
 * prefix; the Reader walks a Uint8Array with a cursor and no per-field objects.
 *
 * 64-bit integers come in two flavours: `number` (revisions, terms, indexes:
 * exact below 2^53, which they never leave) and `bigint` (IDs, which are random
 * 64-bit values). A 64-bit varint is handled as two 32-bit halves so that the
 * number path never allocates a bigint.
 */

const TWO_32 = 4294967296;

/**
 * The default of every bytes field. Shared: it has no elements to change, and
 * not allocating one per decoded message matters on the Raft entry path.
 */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** The shared scratch writer: encoding is synchronous, so one is enough. */
  private static scratch: Writer | undefined;
  private static busy = false;

  /**
   * Returns the shared writer reset to empty (or a fresh one when the shared
   * one is in use, which only happens if an encode re-enters through a getter).
   */
  static acquire(): Writer {
    if (Writer.busy) return new Writer(256);
    if (Writer.scratch === undefined) Writer.scratch = new Writer(4096);
    Writer.busy = true;
    const w = Writer.scratch;
    w.pos = 0;
    return w;
  }

  /** Copies out the written bytes and releases the shared writer. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    if (this === Writer.scratch) {
      Writer.busy = false;
      // Do not keep a huge buffer alive because of one large snapshot.
      if (this.buf.length > 4 * 1024 * 1024) Writer.scratch = undefined;
    }
    return out;
  }

  /** Makes room for n more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** An unsigned 32-bit varint (also used for tags and lengths). */
  uint32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    v >>>= 0;
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** int32 and enums: negative values are sign-extended to 10 bytes, as protobuf requires. */
  int32(v: number): void {
    if (v < 0) this.varint64(v >>> 0, 0xffffffff);
    else this.uint32(v);
  }

  sint32(v: number): void {
    this.uint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** A 64-bit varint given as low and high unsigned 32-bit halves. */
  varint64(lo: number, hi: number): void {
    if (hi === 0) {
      this.uint32(lo);
      return;
    }
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0 || lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** int64/uint64 held in a number (two's complement for negative values). */
  int64(v: number): void {
    if (v >= 0 && v < TWO_32) {
      this.uint32(v);
      return;
    }
    this.varint64(v >>> 0, Math.floor(v / TWO_32) >>> 0);
  }

  /** int64/uint64 held in a bigint (negative values in two's complement). */
  int64Big(v: bigint): void {
    this.varint64(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
  }

  sint64(v: number): void {
    // zigzag on the two halves: (n << 1) ^ (n >> 63)
    const lo = v >>> 0;
    const hi = Math.floor(v / TWO_32) >>> 0;
    const sign = (hi >> 31) >>> 0; // 0 or 0xffffffff
    const zlo = ((lo << 1) ^ sign) >>> 0;
    const zhi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
    this.varint64(zlo, zhi);
  }

  sint64Big(v: bigint): void {
    const z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    this.varint64(Number(z & 0xffffffffn), Number(z >> 32n));
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  sfixed32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }

  fixed64(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / TWO_32) >>> 0, this.pos + 4);
    this.pos += 8;
  }

  fixed64Big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }

  float(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** A length-delimited byte string. */
  bytes(v: Uint8Array): void {
    const n = v.length;
    this.uint32(n);
    this.ensure(n);
    this.buf.set(v, this.pos);
    this.pos += n;
  }

  /** A length-delimited UTF-8 string. */
  string(s: string): void {
    const len = s.length;
    if (len < 43) {
      // At most 3 bytes per UTF-16 unit, so the length fits one varint byte;
      // ASCII (keys, names) is copied by hand, anything else by Buffer.write.
      this.ensure(1 + len * 3);
      const buf = this.buf;
      const start = this.pos + 1;
      let p = start;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) {
          p = start + buf.write(s, start, 'utf8');
          break;
        }
        buf[p++] = c;
      }
      buf[this.pos] = p - start;
      this.pos = p;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.uint32(n);
    this.ensure(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }

  /**
   * Starts a length-delimited body; returns the position to pass to ldelim.
   * One byte is reserved for the length, enough for bodies under 128 bytes.
   */
  fork(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends a body started by fork, writing its length (shifting it when the prefix needs more bytes). */
  ldelim(at: number): void {
    const start = at + 1;
    const len = this.pos - start;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    let extra = 0;
    for (let v = len >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    let v = len;
    let p = at;
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[p] = v;
    this.pos += extra;
  }
}

/** Thrown on malformed input; the message names what was being read. */
export class WireError extends Error {
  constructor(message: string) {
    super(`protobuf: ${message}`);
    this.name = 'WireError';
  }
}

export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  private view: DataView | undefined;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
  }

  private dv(): DataView {
    if (this.view === undefined) {
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
    return this.view;
  }

  private truncated(): never {
    throw new WireError(`truncated message at offset ${this.pos}`);
  }

  /** An unsigned varint truncated to 32 bits (tags, lengths, uint32, enums read via int32). */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= this.end) this.truncated();
    let b = buf[pos++]!;
    let v = b & 127;
    if (b < 128) {
      this.pos = pos;
      return v;
    }
    let shift = 7;
    for (;;) {
      if (pos >= this.end) this.truncated();
      b = buf[pos++]!;
      if (shift < 32) v |= (b & 127) << shift;
      if (b < 128) break;
      shift += 7;
      if (shift > 63) throw new WireError(`varint too long at offset ${this.pos}`);
    }
    this.pos = pos;
    return v >>> 0;
  }

  int32(): number {
    return this.uint32() | 0;
  }

  sint32(): number {
    const v = this.uint32();
    return (v >>> 1) ^ -(v & 1);
  }

  /** Low half of the last varint64 read (hi is returned). */
  private lo = 0;

  /** Reads a 64-bit varint into this.lo and returns the high half. */
  private varint64(): number {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    let i = 0;
    for (; i < 4; i++) {
      if (pos >= this.end) this.truncated();
      b = buf[pos++]!;
      lo |= (b & 127) << (i * 7);
      if (b < 128) {
        this.pos = pos;
        this.lo = lo >>> 0;
        return 0;
      }
    }
    // 5th byte: bits 28..34
    if (pos >= this.end) this.truncated();
    b = buf[pos++]!;
    lo |= (b & 127) << 28;
    hi = (b & 127) >> 4;
    if (b >= 128) {
      for (i = 0; i < 5; i++) {
        if (pos >= this.end) this.truncated();
        b = buf[pos++]!;
        hi |= (b & 127) << (i * 7 + 3);
        if (b < 128) break;
      }
      if (b >= 128) throw new WireError(`varint too long at offset ${this.pos}`);
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    return hi >>> 0;
  }

  uint64(): number {
    // Most terms, indexes and revisions seen early fit one byte.
    const p = this.pos;
    if (p < this.end && this.buf[p]! < 128) {
      this.pos = p + 1;
      return this.buf[p]!;
    }
    const hi = this.varint64();
    return hi * TWO_32 + this.lo;
  }

  int64(): number {
    const p = this.pos;
    if (p < this.end && this.buf[p]! < 128) {
      this.pos = p + 1;
      return this.buf[p]!;
    }
    const hi = this.varint64();
    return (hi | 0) * TWO_32 + this.lo;
  }

  uint64Big(): bigint {
    const hi = this.varint64();
    if (hi === 0) return BigInt(this.lo);
    return (BigInt(hi) << 32n) | BigInt(this.lo);
  }

  int64Big(): bigint {
    const hi = this.varint64();
    if (hi === 0) return BigInt(this.lo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(this.lo));
  }

  sint64(): number {
    const hi = this.varint64();
    const lo = this.lo;
    const sign = -(lo & 1); // 0 or -1
    const rlo = ((lo >>> 1) | (hi << 31)) ^ sign;
    const rhi = (hi >>> 1) ^ sign;
    return (rhi | 0) * TWO_32 + (rlo >>> 0);
  }

  sint64Big(): bigint {
    const z = this.uint64BigFromHalves();
    return (z >> 1n) ^ -(z & 1n);
  }

  private uint64BigFromHalves(): bigint {
    const hi = this.varint64();
    return (BigInt(hi) << 32n) | BigInt(this.lo);
  }

  bool(): boolean {
    // A bool is a varint; accept any length, as other implementations do.
    const hi = this.varint64();
    return hi !== 0 || this.lo !== 0;
  }

  private need(n: number): number {
    const p = this.pos;
    if (p + n > this.end) this.truncated();
    this.pos = p + n;
    return p;
  }

  fixed32(): number {
    const p = this.need(4);
    return this.dv().getUint32(p, true);
  }

  sfixed32(): number {
    const p = this.need(4);
    return this.dv().getInt32(p, true);
  }

  fixed64(): number {
    const p = this.need(8);
    const dv = this.dv();
    return dv.getUint32(p + 4, true) * TWO_32 + dv.getUint32(p, true);
  }

  sfixed64(): number {
    const p = this.need(8);
    const dv = this.dv();
    return dv.getInt32(p + 4, true) * TWO_32 + dv.getUint32(p, true);
  }

  fixed64Big(): bigint {
    const p = this.need(8);
    return this.dv().getBigUint64(p, true);
  }

  sfixed64Big(): bigint {
    const p = this.need(8);
    return this.dv().getBigInt64(p, true);
  }

  float(): number {
    const p = this.need(4);
    return this.dv().getFloat32(p, true);
  }

  double(): number {
    const p = this.need(8);
    return this.dv().getFloat64(p, true);
  }

  /**
   * A length-delimited byte string, as a view into the input (no copy): keep
   * the input unmodified while the decoded message is in use.
   */
  bytes(): Uint8Array {
    const n = this.uint32();
    const p = this.need(n);
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + p, n);
  }

  string(): string {
    const n = this.uint32();
    const p = this.need(n);
    const buf = this.buf;
    if (n < 24) {
      // Short ASCII strings (keys, names) are cheaper to build by hand.
      let s = '';
      for (let i = p; i < p + n; i++) {
        const c = buf[i]!;
        if (c > 127) return utf8Decoder.decode(buf.subarray(p, p + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8Decoder.decode(buf.subarray(p, p + n));
  }

  /** Returns the end offset of a length-delimited body starting here. */
  delimited(): number {
    const n = this.uint32();
    const p = this.pos;
    if (p + n > this.end) this.truncated();
    return p + n;
  }

  /** Skips one field of the given wire type (unknown fields). */
  skip(wireType: number, fieldNumber: number): void {
    if (fieldNumber === 0) throw new WireError(`invalid field number 0 at offset ${this.pos}`);
    switch (wireType) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.need(8);
        return;
      case 2: {
        const n = this.uint32();
        this.need(n);
        return;
      }
      case 3: {
        // A group: skip fields until the matching end-group tag.
        for (;;) {
          const tag = this.uint32();
          const wt = tag & 7;
          if (wt === 4) {
            if (tag >>> 3 !== fieldNumber)
              throw new WireError(`mismatched end-group tag at offset ${this.pos}`);
            return;
          }
          this.skip(wt, tag >>> 3);
        }
      }
      case 5:
        this.need(4);
        return;
      default:
        throw new WireError(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }
}

/** Encodes with a generated writer function into a fresh Uint8Array. */
export function encodeWith<T>(m: T, write: (m: T, w: Writer) => void): Uint8Array {
  const w = Writer.acquire();
  try {
    write(m, w);
    return w.finish();
  } catch (e) {
    w.finish();
    throw e;
  }
}

/** A Buffer view of encoded bytes, for @grpc/grpc-js serializers (no copy). */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
