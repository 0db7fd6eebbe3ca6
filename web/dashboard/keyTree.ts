/**
 * Keys as a tree split on '/': '/registry/pods/a' sits under '/', 'registry',
 * 'pods'. A path can be a key and hold keys at once ('a' and 'a/b').
 */
export interface KeyNode {
  /** The segment this node stands for ('' for the root; '/' for a leading slash). */
  readonly name: string;
  /** The key text up to and including this segment. */
  readonly prefix: string;
  /** Whether a key is exactly `prefix`. */
  isKey: boolean;
  readonly children: Map<string, KeyNode>;
}

const node = (name: string, prefix: string): KeyNode => ({ name, prefix, isKey: false, children: new Map() });

/** 'a/b/c' → ['a/', 'b/', 'c']; '/x' → ['/', 'x']; 'd/' → ['d/']. */
export function segments(key: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '/') {
      out.push(key.slice(start, i + 1));
      start = i + 1;
    }
  }
  if (start < key.length) out.push(key.slice(start));
  return out;
}

export function buildKeyTree(keys: Iterable<string>): KeyNode {
  const root = node('', '');
  for (const key of keys) {
    let at = root;
    for (const segment of segments(key)) {
      let next = at.children.get(segment);
      if (next === undefined) {
        next = node(segment, at.prefix + segment);
        at.children.set(segment, next);
      }
      at = next;
    }
    at.isKey = true;
  }
  return root;
}

/** Children in key order (the order etcd ranges them: by bytes, here by UTF-16 units). */
export function sortedChildren(n: KeyNode): KeyNode[] {
  return [...n.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** How many keys are at or below a node. */
export function keyCount(n: KeyNode): number {
  let count = n.isKey ? 1 : 0;
  for (const child of n.children.values()) count += keyCount(child);
  return count;
}
