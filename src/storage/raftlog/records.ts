import { crc32 } from 'node:zlib';

/**
 * The on-disk records of the Raft log store (see docs/data-dir.md).
 *
 * Keys are one kind byte, followed for entries by the index as 8 bytes
 * big-endian, so LevelDB's byte order is log order and a range delete of a
 * suffix is a contiguous key range:
 *
 *   'e' + u64be(index)   one Raft entry: u64be(term of the entry before it) + raftpb.Entry
 *   'h'                  the hard state (raftpb.HardState)
 *   's'                  the metadata of the newest snapshot (raftpb.SnapshotMetadata)
 *   'm'                  the store's format marker
 *   'b'                  the log's bounds after the last batch (first, last, last term, snapshot index,
 *                        hard state term and vote)
 *
 * Every value is framed so that damage is detectable on its own:
 *
 *   u32be crc32(rest) | u8 frame version | u8 kind | u64be index | payload
 *
 * The kind and index repeat the key inside the checksummed bytes: a value that
 * ends up under another key (a misdirected write, a bit flip in the key) fails
 * verification instead of being served as the wrong entry.
 */

export const RecordKind = {
  Entry: 0x65, // 'e'
  HardState: 0x68, // 'h'
  Snapshot: 0x73, // 's'
  Meta: 0x6d, // 'm'
  Bounds: 0x62, // 'b'
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const recordKindName: Record<RecordKind, string> = {
  [RecordKind.Entry]: 'entry',
  [RecordKind.HardState]: 'hardState',
  [RecordKind.Snapshot]: 'snapshot',
  [RecordKind.Meta]: 'meta',
  [RecordKind.Bounds]: 'bounds',
};

const FRAME_VERSION = 1;
const HEADER_BYTES = 4 + 1 + 1 + 8;

export const hardStateKey: Uint8Array = Uint8Array.of(RecordKind.HardState);
export const snapshotKey: Uint8Array = Uint8Array.of(RecordKind.Snapshot);
export const metaKey: Uint8Array = Uint8Array.of(RecordKind.Meta);
export const boundsKey: Uint8Array = Uint8Array.of(RecordKind.Bounds);

/** The key of the entry at `index`. */
export function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = RecordKind.Entry;
  writeIndex(new DataView(key.buffer), 1, index);
  return key;
}

/** Why a key or value failed verification; the store turns it into a CorruptDataError. */
export class RecordError extends Error {
  constructor(
    readonly record: string,
    readonly index: number | undefined,
    detail: string,
  ) {
    super(detail);
    this.name = 'RecordError';
  }
}

/** What a key names. Throws RecordError for a key no version of this store writes. */
export function parseKey(key: Uint8Array): { kind: RecordKind; index: number } {
  const kind = key[0];
  if (kind === RecordKind.Entry) {
    if (key.length !== 9) throw new RecordError('entry', undefined, `entry key of ${key.length} bytes`);
    const index = readIndex(key, 1);
    return { kind, index };
  }
  if (
    kind === RecordKind.HardState ||
    kind === RecordKind.Snapshot ||
    kind === RecordKind.Meta ||
    kind === RecordKind.Bounds
  ) {
    if (key.length !== 1) {
      throw new RecordError(recordKindName[kind], undefined, `key of ${key.length} bytes`);
    }
    return { kind, index: 0 };
  }
  throw new RecordError('unknown', undefined, `unknown key ${Buffer.from(key).toString('hex')}`);
}

/** Frames a payload for the record (kind, index). */
export function encodeRecord(kind: RecordKind, index: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out[4] = FRAME_VERSION;
  out[5] = kind;
  writeIndex(view, 6, index);
  out.set(payload, HEADER_BYTES);
  view.setUint32(0, crc32(out.subarray(4)));
  return out;
}

/**
 * Verifies a framed value read under the key (kind, index) and returns its
 * payload. Throws RecordError on any mismatch.
 */
export function decodeRecord(kind: RecordKind, index: number, value: Uint8Array): Uint8Array {
  const name = recordKindName[kind];
  const at = kind === RecordKind.Entry ? index : undefined;
  if (value.length < HEADER_BYTES) {
    throw new RecordError(name, at, `value of ${value.length} bytes is shorter than its header`);
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const stored = view.getUint32(0);
  const actual = crc32(value.subarray(4));
  if (stored !== actual) {
    throw new RecordError(
      name,
      at,
      `checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`,
    );
  }
  if (value[4] !== FRAME_VERSION) throw new RecordError(name, at, `unknown frame version ${value[4]}`);
  if (value[5] !== kind) {
    throw new RecordError(name, at, `value belongs to a record of kind 0x${value[5]!.toString(16)}`);
  }
  const inner = readIndex(value, 6);
  if (inner !== index) throw new RecordError(name, at, `value belongs to index ${inner}`);
  return value.subarray(HEADER_BYTES);
}

const TWO_32 = 2 ** 32;

// A u64 big-endian as two u32 halves: indexes stay below 2^53, and this path allocates no bigint.
function writeIndex(view: DataView, offset: number, index: number): void {
  view.setUint32(offset, Math.floor(index / TWO_32));
  view.setUint32(offset + 4, index >>> 0);
}

function readIndex(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hi = view.getUint32(offset);
  if (hi >= 2 ** 21) throw new RecordError('entry', undefined, `index beyond 2^53 (high word ${hi})`);
  return hi * TWO_32 + view.getUint32(offset + 4);
}

/**
 * The payload of an entry record: the term of the entry before it, as it was
 * when this entry was written, then the entry. Raft replaces a log only from
 * some index to its end, so in an intact store every entry's predecessor is
 * the one it was written after. A stale record (an older version of an entry
 * that LevelDB shows because the newer one was lost in a damaged table) then
 * breaks the chain at its successor instead of passing for valid history.
 */
export function encodeEntryPayload(prevTerm: number, entry: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + entry.length);
  writeIndex(new DataView(out.buffer), 0, prevTerm);
  out.set(entry, 8);
  return out;
}

export function decodeEntryPayload(
  index: number,
  payload: Uint8Array,
): { prevTerm: number; entry: Uint8Array } {
  if (payload.length < 8) throw new RecordError('entry', index, `payload of ${payload.length} bytes`);
  return { prevTerm: readIndex(payload, 0), entry: payload.subarray(8) };
}

/** The bounds record's contents: see encodeBounds. */
export interface LogBounds {
  first: number;
  last: number;
  lastTerm: number;
  snapshotIndex: number;
  /** The hard state's term and vote (not its commit, which may be written unsynced). */
  term: number;
  vote: bigint;
}

/**
 * The bounds record. LevelDB (as classic-level builds it) does not verify its
 * block checksums on reads, and a damaged table block can end an iteration
 * early without an error: records would vanish silently. The bounds written
 * in every batch say what a read must find, so a vanished entry is caught even
 * when it was past the commit index (an entry this member acknowledged to a
 * leader, and therefore must not lose), and so is a hard state that went back
 * to an older term or vote.
 */
export function encodeBounds(b: LogBounds): Uint8Array {
  const payload = new Uint8Array(48);
  const view = new DataView(payload.buffer);
  writeIndex(view, 0, b.first);
  writeIndex(view, 8, b.last);
  writeIndex(view, 16, b.lastTerm);
  writeIndex(view, 24, b.snapshotIndex);
  writeIndex(view, 32, b.term);
  view.setBigUint64(40, b.vote);
  return encodeRecord(RecordKind.Bounds, 0, payload);
}

export function decodeBounds(payload: Uint8Array): LogBounds {
  if (payload.length !== 48) throw new RecordError('bounds', undefined, `payload of ${payload.length} bytes`);
  return {
    first: readIndex(payload, 0),
    last: readIndex(payload, 8),
    lastTerm: readIndex(payload, 16),
    snapshotIndex: readIndex(payload, 24),
    term: readIndex(payload, 32),
    vote: new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(40),
  };
}
