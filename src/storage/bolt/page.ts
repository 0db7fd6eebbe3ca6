/**
 * The on-disk facts of a bbolt database file (the format etcd's backend uses),
 * as far as a writer of a fresh file and a reader of any file need them.
 *
 * A file is a sequence of fixed-size pages (the page size is written in the
 * meta page; 4 KiB here, as on Linux). Every page starts with a 16-byte header
 * `id u64, flags u16, count u16, overflow u32`; a node larger than one page
 * spans `overflow` further pages. Pages 0 and 1 are the two meta pages; the one
 * with the higher transaction ID whose checksum holds is current. All integers
 * are little-endian (bbolt writes native order; every platform etcd ships on is
 * little-endian).
 */
export const BOLT_PAGE_SIZE = 4096;
export const BOLT_MAGIC = 0xed0cdaed;
export const BOLT_VERSION = 2;

export const PAGE_HEADER_SIZE = 16;
/** Leaf and branch elements are both 16 bytes. */
export const ELEMENT_SIZE = 16;
/** A bucket value starts with `root pgid u64, sequence u64`; root 0 means the bucket's page follows inline. */
export const BUCKET_HEADER_SIZE = 16;
export const META_SIZE = 64;
/** The meta checksum covers the meta's fields before the checksum itself. */
const META_CHECKSUMMED = 56;

export const PageFlag = {
  Branch: 0x01,
  Leaf: 0x02,
  Meta: 0x04,
  Freelist: 0x10,
} as const;

/** Set on a leaf element whose value is a bucket (a nested key space) rather than plain data. */
export const BUCKET_LEAF_FLAG = 0x01;

/** A freelist page whose `count` is this value keeps the real count in its first u64. */
export const FREELIST_COUNT_OVERFLOW = 0xffff;
/** bbolt's marker for "no freelist page was written" (NoFreelistSync). */
export const NO_FREELIST = 0xffff_ffff_ffff_ffffn;

export interface PageHeader {
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

export function writePageHeader(buf: Buffer, offset: number, h: PageHeader): void {
  buf.writeBigUInt64LE(BigInt(h.id), offset);
  buf.writeUInt16LE(h.flags, offset + 8);
  buf.writeUInt16LE(h.count, offset + 10);
  buf.writeUInt32LE(h.overflow, offset + 12);
}

export function readPageHeader(buf: Buffer, offset: number): PageHeader {
  return {
    id: Number(buf.readBigUInt64LE(offset)),
    flags: buf.readUInt16LE(offset + 8),
    count: buf.readUInt16LE(offset + 10),
    overflow: buf.readUInt32LE(offset + 12),
  };
}

export interface BoltMeta {
  pageSize: number;
  flags: number;
  /** The root bucket's root page (the root bucket is never inline). */
  root: number;
  rootSequence: bigint;
  /** Page of the freelist, or NO_FREELIST. */
  freelist: bigint;
  /** High-water mark: the number of pages in use, so the database's size is pgid × pageSize. */
  pgid: number;
  txid: bigint;
}

/** FNV-1a, 64-bit: bbolt's meta checksum. */
export function fnv64a(data: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of data) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
  }
  return h;
}

/** A whole meta page: header (id 0 or 1, meta flag) and the checksummed meta. */
export function encodeMetaPage(pageId: 0 | 1, meta: BoltMeta): Buffer {
  const page = Buffer.alloc(meta.pageSize);
  writePageHeader(page, 0, { id: pageId, flags: PageFlag.Meta, count: 0, overflow: 0 });
  const m = PAGE_HEADER_SIZE;
  page.writeUInt32LE(BOLT_MAGIC, m);
  page.writeUInt32LE(BOLT_VERSION, m + 4);
  page.writeUInt32LE(meta.pageSize, m + 8);
  page.writeUInt32LE(meta.flags, m + 12);
  page.writeBigUInt64LE(BigInt(meta.root), m + 16);
  page.writeBigUInt64LE(meta.rootSequence, m + 24);
  page.writeBigUInt64LE(meta.freelist, m + 32);
  page.writeBigUInt64LE(BigInt(meta.pgid), m + 40);
  page.writeBigUInt64LE(meta.txid, m + 48);
  page.writeBigUInt64LE(fnv64a(page.subarray(m, m + META_CHECKSUMMED)), m + META_CHECKSUMMED);
  return page;
}

/** The meta stored at `offset`, or why it is not a valid one (bbolt's meta.validate). */
export function decodeMeta(buf: Buffer, offset: number): BoltMeta | { invalid: string } {
  const m = offset + PAGE_HEADER_SIZE;
  if (buf.length < m + META_SIZE) return { invalid: 'file too small for a meta page' };
  if (buf.readUInt32LE(m) !== BOLT_MAGIC) return { invalid: 'invalid database (bad magic)' };
  if (buf.readUInt32LE(m + 4) !== BOLT_VERSION) return { invalid: 'version mismatch' };
  const sum = buf.readBigUInt64LE(m + META_CHECKSUMMED);
  if (sum !== fnv64a(buf.subarray(m, m + META_CHECKSUMMED))) return { invalid: 'checksum error' };
  return {
    pageSize: buf.readUInt32LE(m + 8),
    flags: buf.readUInt32LE(m + 12),
    root: Number(buf.readBigUInt64LE(m + 16)),
    rootSequence: buf.readBigUInt64LE(m + 24),
    freelist: buf.readBigUInt64LE(m + 32),
    pgid: Number(buf.readBigUInt64LE(m + 40)),
    txid: buf.readBigUInt64LE(m + 48),
  };
}
