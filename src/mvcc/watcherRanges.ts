/**
 * The interval index of range watchers: given one changed key, find every
 * watched range [start, end) that contains it in O(log n + k), so that fan-out
 * costs per event and per matching range, never per watcher (etcd's
 * watcherGroup keeps an interval tree for the same reason).
 *
 * Keys are byte strings mapped one-to-one onto latin1 JS strings (see
 * `keyString`): JS string comparison then is exactly the byte order etcd uses.
 * An `end` of `null` is open-ended ("all keys >= start", etcd's range_end 0x00).
 *
 * The structure is a treap ordered by (start, end) and augmented with the
 * maximum end of each subtree; equal intervals share a node that holds the
 * set of their items, so a thousand watchers on one prefix are one node.
 */

/** The latin1 string of a byte key: one char per byte, order-preserving. */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** Compares two interval ends where null means +infinity. */
function compareEnd(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function maxEnd(a: string | null, b: string | null): string | null {
  return compareEnd(a, b) >= 0 ? a : b;
}

class RangeNode<T> {
  left: RangeNode<T> | null = null;
  right: RangeNode<T> | null = null;
  /** The largest end in this subtree, for pruning stabbing queries. */
  max: string | null;
  readonly items = new Set<T>();

  constructor(
    readonly start: string,
    readonly end: string | null,
    readonly priority: number,
  ) {
    this.max = end;
  }

  update(): void {
    let m = this.end;
    if (this.left !== null) m = maxEnd(m, this.left.max);
    if (this.right !== null) m = maxEnd(m, this.right.max);
    this.max = m;
  }
}

function compareInterval<T>(node: RangeNode<T>, start: string, end: string | null): number {
  if (start !== node.start) return start < node.start ? -1 : 1;
  return compareEnd(end, node.end);
}

export class WatcherRanges<T> {
  private root: RangeNode<T> | null = null;
  private nodes = 0;
  /** xorshift32 state: deterministic priorities keep runs reproducible. */
  private seed = 0x9e3779b9;

  /** Number of distinct intervals held. */
  get intervalCount(): number {
    return this.nodes;
  }

  add(start: string, end: string | null, item: T): void {
    this.root = this.insert(this.root, start, end, item);
  }

  /** Removes item from [start, end); returns whether it was there. */
  remove(start: string, end: string | null, item: T): boolean {
    let removed = false;
    const walk = (node: RangeNode<T> | null): RangeNode<T> | null => {
      if (node === null) return null;
      const c = compareInterval(node, start, end);
      if (c < 0) node.left = walk(node.left);
      else if (c > 0) node.right = walk(node.right);
      else {
        removed = node.items.delete(item);
        if (node.items.size === 0) {
          this.nodes--;
          return this.join(node.left, node.right);
        }
        return node;
      }
      node.update();
      return node;
    };
    this.root = walk(this.root);
    return removed;
  }

  /** Calls visit for every item whose interval contains key. */
  stab(key: string, visit: (item: T) => void): void {
    // Iterative with an explicit stack: deep recursion per event is the hot path.
    const stack: RangeNode<T>[] = [];
    if (this.root !== null) stack.push(this.root);
    while (stack.length > 0) {
      const node = stack.pop()!;
      // Nothing in this subtree ends after key: no interval can contain it.
      if (node.max !== null && node.max <= key) continue;
      if (node.left !== null) stack.push(node.left);
      // Everything to the right starts after node.start; if node.start > key, so do they.
      if (node.start <= key) {
        if (node.end === null || key < node.end) for (const item of node.items) visit(item);
        if (node.right !== null) stack.push(node.right);
      }
    }
  }

  private nextPriority(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  private insert(node: RangeNode<T> | null, start: string, end: string | null, item: T): RangeNode<T> {
    if (node === null) {
      const fresh = new RangeNode<T>(start, end, this.nextPriority());
      fresh.items.add(item);
      this.nodes++;
      return fresh;
    }
    const c = compareInterval(node, start, end);
    if (c === 0) {
      node.items.add(item);
      return node;
    }
    if (c < 0) {
      node.left = this.insert(node.left, start, end, item);
      if (node.left.priority > node.priority) return this.rotateRight(node);
    } else {
      node.right = this.insert(node.right, start, end, item);
      if (node.right.priority > node.priority) return this.rotateLeft(node);
    }
    node.update();
    return node;
  }

  private rotateRight(node: RangeNode<T>): RangeNode<T> {
    const l = node.left!;
    node.left = l.right;
    l.right = node;
    node.update();
    l.update();
    return l;
  }

  private rotateLeft(node: RangeNode<T>): RangeNode<T> {
    const r = node.right!;
    node.right = r.left;
    r.left = node;
    node.update();
    r.update();
    return r;
  }

  private join(a: RangeNode<T> | null, b: RangeNode<T> | null): RangeNode<T> | null {
    if (a === null) return b;
    if (b === null) return a;
    if (a.priority > b.priority) {
      a.right = this.join(a.right, b);
      a.update();
      return a;
    }
    b.left = this.join(a, b.left);
    b.update();
    return b;
  }
}
