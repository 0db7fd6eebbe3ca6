import {
  BOLT_PAGE_SIZE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  ELEMENT_SIZE,
  FREELIST_COUNT_OVERFLOW,
  NO_FREELIST,
  PAGE_HEADER_SIZE,
  PageFlag,
  decodeMeta,
  readPageHeader,
  type BoltMeta,
} from './page.js';

export interface BoltItem {
  key: Buffer;
  value: Buffer;
  /** True when the value is a nested bucket. */
  bucket: boolean;
}

/** Where a bucket's tree lives: its root page, or (inline bucket) a leaf inside its parent's value. */
type BucketRoot = { page: number } | { inline: Buffer };

export class BoltFormatError extends Error {
  override readonly name = 'BoltFormatError';
}

/**
 * Reads a bbolt database file held in memory: picks the current meta as bbolt
 * does (the valid one with the higher transaction ID), walks buckets in key
 * order, and checks the file's page accounting the way bbolt's `tx.Check()`
 * does, which `etcdctl snapshot status` runs before it trusts a snapshot.
 */
export class BoltReader {
  readonly meta: BoltMeta;

  private constructor(private readonly buf: Buffer) {
    const first = decodeMeta(buf, 0);
    // A damaged first meta cannot say the page size; bbolt falls back to the OS page size.
    const pageSize = 'invalid' in first ? BOLT_PAGE_SIZE : first.pageSize;
    const second = decodeMeta(buf, pageSize);
    const valid = [first, second].filter((m): m is BoltMeta => !('invalid' in m));
    if (valid.length === 0) {
      throw new BoltFormatError(`bolt: invalid database: ${'invalid' in first ? first.invalid : ''}`);
    }
    this.meta = valid.reduce((a, b) => (b.txid > a.txid ? b : a));
    if (buf.length < this.meta.pgid * this.meta.pageSize) {
      throw new BoltFormatError(
        `bolt: file is ${buf.length} bytes, its meta counts ${this.meta.pgid} pages of ${this.meta.pageSize}`,
      );
    }
  }

  static fromBuffer(buf: Buffer): BoltReader {
    return new BoltReader(buf);
  }

  /** Names of the top-level buckets, in key order. */
  bucketNames(): Buffer[] {
    return [...this.items({ page: this.meta.root })].filter((it) => it.bucket).map((it) => it.key);
  }

  /** The items of a top-level bucket in key order, or undefined if there is none by that name. */
  bucket(name: string | Buffer): BoltItem[] | undefined {
    const items = this.bucketItems(name);
    return items && [...items];
  }

  /** Like bucket(), one item at a time: a large bucket is walked without an array of all its items. */
  bucketItems(name: string | Buffer): Generator<BoltItem> | undefined {
    const key = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
    for (const it of this.items({ page: this.meta.root })) {
      if (it.bucket && it.key.equals(key)) return this.items(this.bucketRoot(it.value));
    }
    return undefined;
  }

  /** The key/value pairs of every top-level bucket (nested buckets are not expanded). */
  buckets(): Map<string, Array<[Buffer, Buffer]>> {
    const out = new Map<string, Array<[Buffer, Buffer]>>();
    for (const it of this.items({ page: this.meta.root })) {
      if (!it.bucket) continue;
      out.set(
        it.key.toString('latin1'),
        [...this.items(this.bucketRoot(it.value))].map((c) => [c.key, c.value]),
      );
    }
    return out;
  }

  /**
   * bbolt's consistency rules: every page below the high-water mark is
   * reachable exactly once or free, reachable pages are branches or leaves and
   * carry their own ID, freed pages are freed once. Keys must also be in strict
   * order within each bucket (bbolt's cursor depends on it). Returns the errors.
   */
  check(): string[] {
    const errors: string[] = [];
    const { meta } = this;
    const freed = new Set<number>();
    const reachable = new Set<number>([0, 1]);
    if (meta.freelist !== NO_FREELIST) {
      const id = Number(meta.freelist);
      const h = this.header(id);
      if (h.flags !== PageFlag.Freelist) errors.push(`page ${id}: freelist page has flags ${h.flags}`);
      for (let i = 0; i <= h.overflow; i++) reachable.add(id + i);
      for (const f of this.freelistIds(id)) {
        if (freed.has(f)) errors.push(`page ${f}: already freed`);
        freed.add(f);
      }
    }
    this.checkBucket({ page: meta.root }, 'root', reachable, freed, errors);
    // Without a stored freelist (etcd opens bbolt with NoFreelistSync) bbolt takes
    // every unreachable page as free, so only a stored freelist can miss a page.
    if (meta.freelist !== NO_FREELIST) {
      for (let i = 0; i < meta.pgid; i++) {
        if (!reachable.has(i) && !freed.has(i)) errors.push(`page ${i}: unreachable unfreed`);
      }
    }
    return errors;
  }

  private checkBucket(
    root: BucketRoot,
    name: string,
    reachable: Set<number>,
    freed: Set<number>,
    errors: string[],
  ): void {
    if ('page' in root) this.checkPages(root.page, reachable, freed, errors);
    let last: Buffer | undefined;
    try {
      for (const it of this.items(root)) {
        if (last !== undefined && Buffer.compare(last, it.key) >= 0) {
          errors.push(`bucket ${name}: key ${it.key.toString('hex')} out of order`);
        }
        last = it.key;
        if (it.bucket)
          this.checkBucket(this.bucketRoot(it.value), it.key.toString('latin1'), reachable, freed, errors);
      }
    } catch (err) {
      // A tree too damaged to walk is one more finding; the page accounting above already ran.
      if (!(err instanceof BoltFormatError)) throw err;
      errors.push(`bucket ${name}: ${err.message}`);
    }
  }

  private checkPages(id: number, reachable: Set<number>, freed: Set<number>, errors: string[]): void {
    if (id >= this.meta.pgid) {
      errors.push(`page ${id}: out of bounds: ${this.meta.pgid}`);
      return;
    }
    const h = this.header(id);
    if (h.id !== id) errors.push(`page ${id}: header says page ${h.id}`);
    for (let i = 0; i <= h.overflow; i++) {
      if (reachable.has(id + i)) errors.push(`page ${id + i}: multiple references`);
      reachable.add(id + i);
    }
    if (freed.has(id)) errors.push(`page ${id}: reachable freed`);
    if (h.flags === PageFlag.Branch) {
      for (const child of this.branchChildren(id)) this.checkPages(child, reachable, freed, errors);
    } else if (h.flags !== PageFlag.Leaf) {
      errors.push(`page ${id}: invalid type: ${h.flags}`);
    }
  }

  private header(id: number): ReturnType<typeof readPageHeader> {
    const off = id * this.meta.pageSize;
    if (off + PAGE_HEADER_SIZE > this.buf.length)
      throw new BoltFormatError(`bolt: page ${id} beyond the end of the file`);
    return readPageHeader(this.buf, off);
  }

  private freelistIds(id: number): number[] {
    const off = id * this.meta.pageSize;
    const h = this.header(id);
    let start = off + PAGE_HEADER_SIZE;
    let count = h.count;
    if (count === FREELIST_COUNT_OVERFLOW) {
      count = Number(this.buf.readBigUInt64LE(start));
      start += 8;
    }
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(Number(this.buf.readBigUInt64LE(start + i * 8)));
    return ids;
  }

  private bucketRoot(value: Buffer): BucketRoot {
    if (value.length < BUCKET_HEADER_SIZE)
      throw new BoltFormatError('bolt: bucket value shorter than its header');
    const root = Number(value.readBigUInt64LE(0));
    return root === 0 ? { inline: value.subarray(BUCKET_HEADER_SIZE) } : { page: root };
  }

  private branchChildren(id: number): number[] {
    const off = id * this.meta.pageSize;
    const h = this.header(id);
    const out: number[] = [];
    for (let i = 0; i < h.count; i++) {
      out.push(Number(this.buf.readBigUInt64LE(off + PAGE_HEADER_SIZE + i * ELEMENT_SIZE + 8)));
    }
    return out;
  }

  /** Items of a bucket's tree in key order. */
  *items(root: BucketRoot): Generator<BoltItem> {
    if ('inline' in root) {
      yield* this.leafItems(root.inline, 0);
      return;
    }
    const visit = function* (this: BoltReader, id: number, depth: number): Generator<BoltItem> {
      if (depth > 64) throw new BoltFormatError(`bolt: tree deeper than 64 levels at page ${id}`);
      const h = this.header(id);
      if (h.flags === PageFlag.Leaf) {
        yield* this.leafItems(this.buf, id * this.meta.pageSize);
      } else if (h.flags === PageFlag.Branch) {
        for (const child of this.branchChildren(id)) yield* visit.call(this, child, depth + 1);
      } else {
        throw new BoltFormatError(`bolt: page ${id} is neither a branch nor a leaf (flags ${h.flags})`);
      }
    };
    yield* visit.call(this, root.page, 0);
  }

  private *leafItems(buf: Buffer, off: number): Generator<BoltItem> {
    const h = readPageHeader(buf, off);
    if (h.flags !== PageFlag.Leaf) throw new BoltFormatError(`bolt: expected a leaf at offset ${off}`);
    for (let i = 0; i < h.count; i++) {
      const el = off + PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      const flags = buf.readUInt32LE(el);
      const pos = el + buf.readUInt32LE(el + 4);
      const ksize = buf.readUInt32LE(el + 8);
      const vsize = buf.readUInt32LE(el + 12);
      if (pos + ksize + vsize > buf.length)
        throw new BoltFormatError(`bolt: leaf element beyond the end at offset ${el}`);
      yield {
        key: buf.subarray(pos, pos + ksize),
        value: buf.subarray(pos + ksize, pos + ksize + vsize),
        bucket: (flags & BUCKET_LEAF_FLAG) !== 0,
      };
    }
  }
}
