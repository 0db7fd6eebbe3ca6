import { BUCKET_HEADER_SIZE, ELEMENT_SIZE, PAGE_HEADER_SIZE, PageFlag, writePageHeader } from './page.js';

/**
 * Encoding of bbolt's B+tree nodes. A leaf holds `flags u32, pos u32, ksize u32,
 * vsize u32` per element, a branch `pos u32, ksize u32, pgid u64`; `pos` counts
 * from the element itself to its key, and the keys (and a leaf's values) follow
 * the element array in element order.
 */
export interface LeafItem {
  key: Buffer;
  value: Buffer;
  /** BUCKET_LEAF_FLAG for a nested bucket, 0 for a plain value. */
  flags: number;
}

export interface BranchItem {
  /** The first key of the child's subtree. */
  key: Buffer;
  pgid: number;
}

export function leafItemSize(item: LeafItem): number {
  return ELEMENT_SIZE + item.key.length + item.value.length;
}

export function branchItemSize(item: BranchItem): number {
  return ELEMENT_SIZE + item.key.length;
}

/** Pages a node of `bytes` occupies: one, plus overflow pages for what does not fit. */
export function pagesFor(bytes: number, pageSize: number): number {
  return Math.max(1, Math.ceil(bytes / pageSize));
}

/** A leaf node at page `id`, padded to whole pages (or unpadded when `pageSize` is 0: an inline bucket's page). */
export function encodeLeaf(id: number, items: readonly LeafItem[], pageSize: number): Buffer {
  let size = PAGE_HEADER_SIZE;
  for (const it of items) size += leafItemSize(it);
  const pages = pageSize === 0 ? 1 : pagesFor(size, pageSize);
  const buf = Buffer.alloc(pageSize === 0 ? size : pages * pageSize);
  writePageHeader(buf, 0, { id, flags: PageFlag.Leaf, count: items.length, overflow: pages - 1 });
  let data = PAGE_HEADER_SIZE + items.length * ELEMENT_SIZE;
  items.forEach((it, i) => {
    const el = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    buf.writeUInt32LE(it.flags, el);
    buf.writeUInt32LE(data - el, el + 4);
    buf.writeUInt32LE(it.key.length, el + 8);
    buf.writeUInt32LE(it.value.length, el + 12);
    it.key.copy(buf, data);
    data += it.key.length;
    it.value.copy(buf, data);
    data += it.value.length;
  });
  return buf;
}

export function encodeBranch(id: number, items: readonly BranchItem[], pageSize: number): Buffer {
  let size = PAGE_HEADER_SIZE;
  for (const it of items) size += branchItemSize(it);
  const pages = pagesFor(size, pageSize);
  const buf = Buffer.alloc(pages * pageSize);
  writePageHeader(buf, 0, { id, flags: PageFlag.Branch, count: items.length, overflow: pages - 1 });
  let data = PAGE_HEADER_SIZE + items.length * ELEMENT_SIZE;
  items.forEach((it, i) => {
    const el = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    buf.writeUInt32LE(data - el, el);
    buf.writeUInt32LE(it.key.length, el + 4);
    buf.writeBigUInt64LE(BigInt(it.pgid), el + 8);
    it.key.copy(buf, data);
    data += it.key.length;
  });
  return buf;
}

/** A bucket's value in its parent: the header, and for an inline bucket its whole leaf right after it. */
export function encodeBucketValue(root: number, inlineLeaf?: Buffer): Buffer {
  const header = Buffer.alloc(BUCKET_HEADER_SIZE);
  header.writeBigUInt64LE(BigInt(root), 0);
  // The sequence (NextSequence) starts at 0 and etcd never uses it.
  return inlineLeaf === undefined ? header : Buffer.concat([header, inlineLeaf]);
}
