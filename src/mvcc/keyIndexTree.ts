import { KeyIndex } from './keyIndex.js';

const MAX_CHUNK = 512;

/** A key's bytes as the latin1 string the index orders by. */
export function keyName(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/**
 * All keys of the store in byte order (latin1 names compare like bytes), each with its KeyIndex. A sorted array
 * of sorted chunks: lookups are two binary searches, inserts move at most one
 * chunk, and range scans walk arrays (cheaper in V8 than a pointer tree).
 */
export class KeyIndexTree {
  private chunks: KeyIndex[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Index of the first chunk whose last key is >= key (chunks.length if none). */
  private chunkFor(key: string): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = chunks[mid]!;
      if (c[c.length - 1]!.key < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Position of the first entry >= key inside a chunk. */
  private static lowerBound(chunk: KeyIndex[], key: string): number {
    let lo = 0;
    let hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (chunk[mid]!.key < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get(key: string): KeyIndex | undefined {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return undefined;
    const i = KeyIndexTree.lowerBound(chunk, key);
    const ki = chunk[i];
    return ki !== undefined && ki.key === key ? ki : undefined;
  }

  /** The KeyIndex of `key`, created (empty) if the key was never seen. */
  getOrCreate(key: string): KeyIndex {
    let ci = this.chunkFor(key);
    if (ci === this.chunks.length) {
      if (ci === 0) {
        const ki = new KeyIndex(key);
        this.chunks.push([ki]);
        this.count++;
        return ki;
      }
      ci--;
    }
    const chunk = this.chunks[ci]!;
    const i = KeyIndexTree.lowerBound(chunk, key);
    const found = chunk[i];
    if (found !== undefined && found.key === key) return found;
    const ki = new KeyIndex(key);
    chunk.splice(i, 0, ki);
    this.count++;
    if (chunk.length > MAX_CHUNK) {
      const half = chunk.splice(chunk.length >> 1);
      this.chunks.splice(ci + 1, 0, half);
    }
    return ki;
  }

  delete(key: string): void {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const i = KeyIndexTree.lowerBound(chunk, key);
    const ki = chunk[i];
    if (ki === undefined || ki.key !== key) return;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
  }

  /**
   * Visits keys in [start, end) in byte order; `end` undefined means "to the
   * last key". Stops early when the visitor returns false.
   */
  forRange(start: string, end: string | undefined, visit: (ki: KeyIndex) => boolean | void): void {
    const chunks = this.chunks;
    let ci = this.chunkFor(start);
    if (ci >= chunks.length) return;
    let i = KeyIndexTree.lowerBound(chunks[ci]!, start);
    for (; ci < chunks.length; ci++, i = 0) {
      const chunk = chunks[ci]!;
      for (; i < chunk.length; i++) {
        const ki = chunk[i]!;
        if (end !== undefined && ki.key >= end) return;
        if (visit(ki) === false) return;
      }
    }
  }

  /** Every KeyIndex, in key order (used by compaction and rebuilding). */
  *all(): IterableIterator<KeyIndex> {
    for (const chunk of this.chunks) yield* chunk;
  }
}
