import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { CorruptDataError } from '../corruptDataError.js';
import { crc32c } from './crc32c.js';

/**
 * The backend of the MVCC key space: classic-level (LevelDB) holding
 * checksummed records. Every value on disk is `crc32c(key ‖ payload)` (4 bytes,
 * big-endian) followed by the payload; the key is part of the checksum so a
 * record that moved under another key is caught too. LevelDB verifies its
 * block CRCs only when asked, and a flipped bit inside a value would decode as
 * a valid protobuf with wrong content; the per-record checksum guarantees that
 * bad data is reported, never served.
 */
export type BackendOp = { type: 'put'; key: Buffer; value: Uint8Array } | { type: 'del'; key: Buffer };

/** What is wrong with a stored value's checksum frame, or undefined when it holds. */
export function frameProblem(key: Buffer, value: Buffer): string | undefined {
  if (value.length < 4) return 'record shorter than its checksum';
  if (value.readUInt32BE(0) !== crc32c(value.subarray(4), crc32c(key))) return 'checksum mismatch';
  return undefined;
}

/** The first key after every key that starts with `prefix` (a prefix of 0xff bytes has none). */
function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

export interface BackendRecord {
  key: Buffer;
  payload: Buffer;
}

/** Records fixed at one moment, and the way to let them go. */
export interface RecordsView {
  readonly records: AsyncIterable<Array<[Buffer, Buffer]>>;
  release(): Promise<void>;
}

export class Backend {
  private constructor(
    readonly dir: string,
    private readonly db: ClassicLevel<Buffer, Buffer>,
    private readonly describe: (key: Buffer) => string,
  ) {}

  /** Opens (creating if needed) the store in `dir`; `describe` names a key in error messages. */
  static async open(dir: string, describe: (key: Buffer) => string): Promise<Backend> {
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    return new Backend(dir, db, describe);
  }

  static frame(key: Buffer, payload: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(4 + payload.length);
    out.writeUInt32BE(crc32c(payload, crc32c(key)), 0);
    out.set(payload, 4);
    return out;
  }

  /** Verifies and strips the checksum of a stored value. */
  unframe(key: Buffer, value: Buffer): Buffer {
    const problem = frameProblem(key, value);
    if (problem !== undefined)
      throw new CorruptDataError({ dir: this.dir, record: this.describe(key), detail: problem });
    return value.subarray(4);
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const v = await this.db.get(key);
    return v === undefined ? undefined : this.unframe(key, v);
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    const values = await this.db.getMany(keys);
    return values.map((v, i) => (v === undefined ? undefined : this.unframe(keys[i]!, v)));
  }

  /** Writes all ops atomically; `sync` waits for the OS to put them on disk. */
  async write(ops: BackendOp[], sync: boolean): Promise<void> {
    if (ops.length === 0 && !sync) return;
    const batch = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, Backend.frame(op.key, op.value));
      else batch.del(op.key);
    }
    await batch.write({ sync });
  }

  /**
   * Records with gte <= key <= lte in key order, a page at a time, verified.
   * The iterator reads a LevelDB snapshot taken when the scan starts; a page may
   * hold fewer than `pageSize` records (classic-level also caps pages by bytes),
   * only an empty page means the end.
   */
  async *scan(gte: Buffer, lte: Buffer, pageSize = 1000): AsyncGenerator<BackendRecord[]> {
    yield* this.pages({ gte, lte }, pageSize);
  }

  /** Every record whose key starts with `prefix`, a page at a time, verified. */
  async *scanPrefix(prefix: Buffer, pageSize = 1000): AsyncGenerator<BackendRecord[]> {
    yield* this.pages({ gte: prefix, lt: prefixEnd(prefix) }, pageSize);
  }

  private async *pages(
    range: { gte: Buffer; lte?: Buffer; lt?: Buffer },
    pageSize: number,
  ): AsyncGenerator<BackendRecord[]> {
    // Bigger pages than classic-level's 16 KiB default: opening reads every record.
    for await (const entries of pagesOf(
      () => this.db.iterator({ ...range, highWaterMarkBytes: 1 << 20 }),
      pageSize,
    ))
      yield entries.map(([key, value]) => ({ key, payload: this.unframe(key, value) }));
  }

  /** Keys only (no checksum work), for compaction's delete pass. */
  async keysBetween(gt: Buffer | undefined, lte: Buffer, gte: Buffer, limit: number): Promise<Buffer[]> {
    // all() closes the iterator itself, also on error.
    return this.db.keys(gt !== undefined ? { gt, lte, limit } : { gte, lte, limit }).all();
  }

  /** Bytes of all files of the store on disk (etcd's db size). */
  async sizeOnDisk(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dir)) {
      try {
        total += (await stat(join(this.dir, name))).size;
      } catch {
        // LevelDB removes obsolete files concurrently; a vanished file has no size.
      }
    }
    return total;
  }

  /**
   * What the records take (etcd's size in use): LevelDB's estimate of the
   * bytes its tables hold for all keys plus the write-ahead log not yet in a
   * table; not the manifest or info log.
   */
  async sizeInUse(): Promise<number> {
    let logs = 0;
    // Records not yet in a table are in the write-ahead log (NNNNNN.log; the info log is "LOG").
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.log')) continue;
      try {
        logs += (await stat(join(this.dir, name))).size;
      } catch {
        // Rotated away meanwhile: its records are in a table now.
      }
    }
    return logs + (await this.db.approximateSize(Buffer.alloc(0), Buffer.alloc(64, 0xff)));
  }

  /** Rewrites the store's files so deleted and compacted records give their space back (etcd's defrag). */
  async compactAll(): Promise<void> {
    await this.db.compactRange(Buffer.alloc(0), Buffer.alloc(64, 0xff));
  }

  /**
   * Every record, raw (checksum frame included), from one consistent view:
   * a LevelDB iterator reads the snapshot it was opened on, so writes that
   * land meanwhile are not mixed in.
   */
  records(pageSize = 1000): AsyncGenerator<Array<[Buffer, Buffer]>> {
    return pagesOf(() => this.db.iterator(), pageSize);
  }

  /**
   * The records as they are at this call, to be read at leisure while writes
   * go on (a LevelDB snapshot). release() frees the snapshot, read or not.
   */
  recordsAsOfNow(pageSize = 1000): RecordsView {
    const snapshot = this.db.snapshot();
    const db = this.db;
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await snapshot.close();
    };
    return { records: pagesOf(() => db.iterator({ snapshot }), pageSize), release };
  }

  /**
   * Writes records as records() hands them out (checksum frame included),
   * refusing any whose checksum does not hold: a damaged snapshot must not
   * become a member's data.
   */
  async writeRaw(entries: Array<[Buffer, Buffer]>, sync: boolean): Promise<void> {
    const batch = this.db.batch();
    for (const [key, value] of entries) {
      this.unframe(key, value);
      batch.put(key, value);
    }
    await batch.write({ sync });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** What pagesOf needs of a LevelDB iterator. */
interface PagedIterator {
  nextv(size: number): Promise<Array<[Buffer, Buffer]>>;
  close(): Promise<void>;
}

/**
 * An iterator's records a page at a time (a short page is not the end; an empty one is),
 * closed when done or abandoned. The iterator opens at the first read: a view handed out
 * and never read holds none.
 */
async function* pagesOf(
  open: () => PagedIterator,
  pageSize: number,
): AsyncGenerator<Array<[Buffer, Buffer]>> {
  const it = open();
  try {
    for (;;) {
      const entries = await it.nextv(pageSize);
      if (entries.length === 0) return;
      yield entries;
    }
  } finally {
    await it.close();
  }
}
