/**
 * Flow control towards one follower in replicate state: the MsgApps sent and
 * not yet acknowledged, each recorded by its last index and payload bytes.
 * Full when either the count or the byte budget is used up. A ring buffer,
 * since entries are freed in index order.
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: number[];
  private readonly sizes: number[];

  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {
    this.indexes = new Array<number>(capacity).fill(0);
    this.sizes = new Array<number>(capacity).fill(0);
  }

  /** Shares nothing mutable with this one. */
  clone(): Inflights {
    const c = new Inflights(this.capacity, this.maxBytes);
    for (let i = 0; i < this.count; i++) {
      const j = (this.start + i) % this.capacity;
      c.add(this.indexes[j]!, this.sizes[j]!);
    }
    return c;
  }

  add(index: number, bytes: number): void {
    if (this.count === this.capacity) throw new Error('cannot add into a full inflights');
    const j = (this.start + this.count) % this.capacity;
    this.indexes[j] = index;
    this.sizes[j] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= to. */
  freeLE(to: number): void {
    while (this.count > 0 && this.indexes[this.start]! <= to) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest message: lets one more MsgApp out when acknowledgements were lost. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.indexes[this.start]!);
  }

  full(): boolean {
    return this.count === this.capacity || this.bytes >= this.maxBytes;
  }

  size(): number {
    return this.count;
  }

  inflightBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
