// etcd's KV with revisions, as a sequential specification: one global revision that every
// change to the key space increments by one (a put always, a delete only of a present key, a
// txn only when its put runs); each key keeps its value and the revision that last wrote it.
// A get's header revision is the store's revision when it ran; a write's is the one it made.
//
// The store is mutable with an undo, because the search steps and backtracks millions of
// times; it keeps a 64-bit fingerprint of its keys up to date so that two states can be
// compared in O(1).
import type { KvOperation } from './history.js';

export interface KeyValue {
  readonly value: string;
  readonly modRevision: number;
}

/** A state of the store: where a history starts (etcd starts at revision 1, empty). */
export interface KvSnapshot {
  readonly revision: number;
  readonly keys?: Readonly<Record<string, KeyValue>>;
}

/** What one step changed: enough to take it back. */
export interface Undo {
  readonly key: string;
  readonly before: KeyValue | undefined;
  readonly revisionBefore: number;
}

function hash32(s: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class KvStore {
  revision: number;
  private readonly keys = new Map<string, KeyValue>();
  /** XOR of every key's entry hash (two independent 32-bit halves). */
  private hashA = 0;
  private hashB = 0;

  constructor(initial: KvSnapshot) {
    this.revision = initial.revision;
    for (const [key, kv] of Object.entries(initial.keys ?? {})) this.write(key, kv);
  }

  get(key: string): KeyValue | undefined {
    return this.keys.get(key);
  }

  /** Equal for equal states; different for different ones except with probability ~2^-64. */
  fingerprint(): string {
    return `${this.revision}:${this.hashA}:${this.hashB}`;
  }

  undo(u: Undo): void {
    this.revision = u.revisionBefore;
    if (this.keys.get(u.key) !== u.before) this.write(u.key, u.before);
  }

  /** Changes one key and moves to the next revision. */
  change(key: string, kv: KeyValue | undefined): Undo {
    const undo = { key, before: this.keys.get(key), revisionBefore: this.revision };
    this.revision++;
    this.write(key, kv);
    return undo;
  }

  /** A step that changes nothing: its undo is a no-op. */
  unchanged(key: string): Undo {
    return { key, before: this.keys.get(key), revisionBefore: this.revision };
  }

  private write(key: string, kv: KeyValue | undefined): void {
    const old = this.keys.get(key);
    if (old !== undefined) this.toggle(key, old);
    if (kv === undefined) this.keys.delete(key);
    else {
      this.keys.set(key, kv);
      this.toggle(key, kv);
    }
  }

  private toggle(key: string, kv: KeyValue): void {
    const s = `${key}\u0000${kv.value}\u0000${kv.modRevision}`;
    this.hashA ^= hash32(s, 0x9747b28c);
    this.hashB ^= hash32(s, 0x3c6ef372);
  }
}

/**
 * The revision the store must be at just before a known operation runs: one below the
 * revision a change created, or the revision a read-only outcome saw.
 */
export function requiredRevision(op: KvOperation): number | undefined {
  if (op.output === undefined) return undefined;
  switch (op.type) {
    case 'put':
      return op.output.revision - 1;
    case 'get':
      return op.output.revision;
    case 'delete':
      return op.output.deleted > 0 ? op.output.revision - 1 : op.output.revision;
    case 'putIf':
      return op.output.succeeded ? op.output.revision - 1 : op.output.revision;
  }
}

/** Why an operation cannot run on the store as it is; spelled out only when an explanation asks. */
export type Refusal = () => string;

function describeKey(kv: KeyValue | undefined): string {
  return kv === undefined ? 'absent' : `${JSON.stringify(kv.value)} (mod ${kv.modRevision})`;
}

/**
 * Runs `op` on the store if the store, as it is, could have given `op`'s output: returns
 * the undo, or why not (a search refuses far more often than it explains). An operation of
 * unknown outcome runs with the effect it would have; one that would change nothing is
 * refused, since leaving it out is the same history.
 */
export function step(store: KvStore, op: KvOperation): Undo | Refusal {
  const rev = store.revision;
  const key = op.input.key;
  const cur = store.get(key);
  const made = (r: number): Refusal | undefined =>
    r === rev + 1 ? undefined : () => `it made revision ${r}, but the store is at ${rev}`;
  const saw = (r: number): Refusal | undefined =>
    r === rev ? undefined : () => `it saw revision ${r}, but the store is at ${rev}`;
  const is = (): string => `the key is ${describeKey(cur)} at revision ${rev}`;
  switch (op.type) {
    case 'put': {
      const why = op.output && made(op.output.revision);
      return why ?? store.change(key, { value: op.input.value, modRevision: rev + 1 });
    }
    case 'get': {
      if (op.output === undefined) return () => 'a get of unknown outcome observes nothing';
      const { value, modRevision, revision } = op.output;
      const why = saw(revision);
      if (why !== undefined) return why;
      if (value !== cur?.value || modRevision !== (cur?.modRevision ?? 0)) return is;
      return store.unchanged(key);
    }
    case 'delete': {
      if (op.output === undefined)
        return cur === undefined ? () => 'it would delete nothing' : store.change(key, undefined);
      if (op.output.deleted !== (cur === undefined ? 0 : 1)) return is;
      const why = cur === undefined ? saw(op.output.revision) : made(op.output.revision);
      return why ?? (cur === undefined ? store.unchanged(key) : store.change(key, undefined));
    }
    case 'putIf': {
      const holds = (cur?.modRevision ?? 0) === op.input.modRevision;
      if (op.output !== undefined) {
        if (op.output.succeeded !== holds) return () => `${is()}: the compare ${holds ? 'holds' : 'fails'}`;
        const why = holds ? made(op.output.revision) : saw(op.output.revision);
        if (why !== undefined) return why;
      } else if (!holds) return () => 'its compare would fail: it would change nothing';
      return holds
        ? store.change(key, { value: op.input.value, modRevision: rev + 1 })
        : store.unchanged(key);
    }
  }
}
