import { open, type FileHandle } from 'node:fs/promises';
import {
  encodeBranch,
  encodeBucketValue,
  encodeLeaf,
  leafItemSize,
  branchItemSize,
  pagesFor,
  type BranchItem,
  type LeafItem,
} from './node.js';
import {
  BOLT_PAGE_SIZE,
  BUCKET_LEAF_FLAG,
  PAGE_HEADER_SIZE,
  PageFlag,
  encodeMetaPage,
  writePageHeader,
  type BoltMeta,
} from './page.js';

/** Sorted key/value pairs of one bucket, given at once or a page at a time. */
export type BoltEntries =
  Iterable<readonly [Buffer, Buffer]> | AsyncIterable<ReadonlyArray<readonly [Buffer, Buffer]>>;

const FLUSH_BYTES = 1 << 20;

/**
 * Writes a fresh bbolt database file in one pass, bucket after bucket, the way
 * a bulk load builds a B+tree: leaves are filled to the page size and written
 * as soon as they are full, then each branch level is built from the first
 * keys of the level below. Only the current node and the first keys of one
 * bucket's pages stay in memory, so a key space larger than memory streams
 * through. Pages are numbered from 2 in write order; the root bucket, an empty
 * freelist and the two meta pages come last, so a file that is cut short has
 * no valid meta and is never mistaken for a database.
 *
 * Buckets may be added in any order (the root bucket is sorted at finish), but
 * the keys of each bucket must arrive in strictly increasing byte order, which
 * is bbolt's order.
 */
export class BoltFileWriter {
  private nextPgid = 2;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly buckets = new Map<string, Buffer>();
  private done = false;
  /** File offset where the queued pages begin: pages 0 and 1 (the metas) are written last. */
  private flushedEnd: number;

  private constructor(
    private readonly file: FileHandle,
    readonly pageSize: number,
  ) {
    this.flushedEnd = 2 * pageSize;
  }

  static async create(path: string, pageSize = BOLT_PAGE_SIZE): Promise<BoltFileWriter> {
    return new BoltFileWriter(await open(path, 'w'), pageSize);
  }

  /** Adds a top-level bucket named `name` holding `entries`. */
  async addBucket(name: Buffer, entries: BoltEntries): Promise<void> {
    const key = name.toString('latin1');
    if (name.length === 0) throw new Error('bolt: a bucket needs a name');
    if (this.buckets.has(key)) throw new Error(`bolt: bucket ${key} added twice`);
    const tree = new TreeBuilder(this);
    if (Symbol.asyncIterator in entries) {
      for await (const page of entries) for (const [k, v] of page) await tree.add(k, v, 0);
    } else {
      for (const [k, v] of entries) await tree.add(k, v, 0);
    }
    this.buckets.set(key, await tree.finishBucket(true));
  }

  /** Writes the root bucket, the freelist and the metas, syncs and closes; returns the file's size. */
  async finish(): Promise<number> {
    const root = new TreeBuilder(this);
    const names = [...this.buckets.keys()].map((k) => Buffer.from(k, 'latin1')).sort(Buffer.compare);
    for (const name of names)
      await root.add(name, this.buckets.get(name.toString('latin1'))!, BUCKET_LEAF_FLAG);
    const rootPgid = await root.finishTree();
    // An empty freelist: every page below the high-water mark is in use.
    const freelist = this.allocate(1);
    const fl = Buffer.alloc(this.pageSize);
    writePageHeader(fl, 0, { id: freelist, flags: PageFlag.Freelist, count: 0, overflow: 0 });
    await this.writePage(freelist, fl);
    await this.flush();
    const meta = (txid: bigint): BoltMeta => ({
      pageSize: this.pageSize,
      flags: 0,
      root: rootPgid,
      rootSequence: 0n,
      freelist: BigInt(freelist),
      pgid: this.nextPgid,
      txid,
    });
    // bbolt writes transaction t's meta to page t % 2; both metas describe the same tree.
    await this.file.write(encodeMetaPage(0, meta(2n)), 0, this.pageSize, 0);
    await this.file.write(encodeMetaPage(1, meta(3n)), 0, this.pageSize, this.pageSize);
    await this.file.sync();
    await this.close();
    return this.nextPgid * this.pageSize;
  }

  /** Closes the file without making it a database (after a failure). */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.file.close();
  }

  allocate(pages: number): number {
    const id = this.nextPgid;
    this.nextPgid += pages;
    return id;
  }

  /** Queues an encoded node for `pgid`; pages are allocated in write order, so queued pages are contiguous. */
  async writePage(pgid: number, page: Buffer): Promise<void> {
    if (pgid * this.pageSize !== this.writtenEnd())
      throw new Error(`bolt: page ${pgid} written out of order`);
    this.pending.push(page);
    this.pendingBytes += page.length;
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  private writtenEnd(): number {
    return this.flushedEnd + this.pendingBytes;
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const data = Buffer.concat(this.pending, this.pendingBytes);
    await this.file.write(data, 0, data.length, this.flushedEnd);
    this.flushedEnd += data.length;
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** Builds one bucket's B+tree bottom-up from keys given in order. */
class TreeBuilder {
  private leaf: LeafItem[] = [];
  private leafBytes = PAGE_HEADER_SIZE;
  /** First key and page of every leaf written so far. */
  private children: BranchItem[] = [];
  private last: Buffer | undefined;

  constructor(private readonly out: BoltFileWriter) {}

  async add(key: Buffer, value: Buffer, flags: number): Promise<void> {
    if (key.length === 0) throw new Error('bolt: zero-length key');
    if (this.last !== undefined && Buffer.compare(this.last, key) >= 0) {
      throw new Error(`bolt: keys out of order (${this.last.toString('hex')} then ${key.toString('hex')})`);
    }
    this.last = key;
    const item: LeafItem = { key, value, flags };
    const size = leafItemSize(item);
    if (this.leaf.length > 0 && this.leafBytes + size > this.out.pageSize) await this.flushLeaf();
    this.leaf.push(item);
    this.leafBytes += size;
  }

  /**
   * The bucket's value for its parent: a small bucket that fits in a quarter
   * page is stored inline (as bbolt stores it), anything else in its own pages.
   */
  async finishBucket(allowInline: boolean): Promise<Buffer> {
    if (allowInline && this.children.length === 0 && this.leafBytes <= this.out.pageSize / 4) {
      return encodeBucketValue(0, encodeLeaf(0, this.leaf, 0));
    }
    return encodeBucketValue(await this.finishTree());
  }

  /** Writes what is left and the branch levels; returns the root page. */
  async finishTree(): Promise<number> {
    if (this.leaf.length > 0 || this.children.length === 0) await this.flushLeaf();
    let level = this.children;
    while (level.length > 1) level = await this.writeBranchLevel(level);
    return level[0]!.pgid;
  }

  private async flushLeaf(): Promise<void> {
    const pgid = this.out.allocate(pagesFor(this.leafBytes, this.out.pageSize));
    await this.out.writePage(pgid, encodeLeaf(pgid, this.leaf, this.out.pageSize));
    this.children.push({ key: this.leaf[0]?.key ?? Buffer.alloc(0), pgid });
    this.leaf = [];
    this.leafBytes = PAGE_HEADER_SIZE;
  }

  private async writeBranchLevel(items: BranchItem[]): Promise<BranchItem[]> {
    const parents: BranchItem[] = [];
    let node: BranchItem[] = [];
    let bytes = PAGE_HEADER_SIZE;
    const emit = async (): Promise<void> => {
      const pgid = this.out.allocate(pagesFor(bytes, this.out.pageSize));
      await this.out.writePage(pgid, encodeBranch(pgid, node, this.out.pageSize));
      parents.push({ key: node[0]!.key, pgid });
      node = [];
      bytes = PAGE_HEADER_SIZE;
    };
    for (const item of items) {
      const size = branchItemSize(item);
      // A branch needs two children at least, or the tree would not get shallower.
      if (node.length >= 2 && bytes + size > this.out.pageSize) await emit();
      node.push(item);
      bytes += size;
    }
    if (node.length > 0) await emit();
    return parents;
  }
}
