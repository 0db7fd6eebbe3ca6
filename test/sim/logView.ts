import type { Entry } from '../../src/proto/raftpb.js';

/**
 * Hash chains over logs: chain(i) = mix(chain(i-1), term_i, type_i, data_i).
 * Two logs with the same chain value at index i hold the same entries 1..i
 * (up to a 2^-52 chance), which turns the Log Matching check into one number
 * comparison per entry.
 */

const TWO_32 = 4294967296;

function mix32(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  return (h ^ (h >>> 15)) >>> 0;
}

/** A 52-bit hash of one entry's content (term, type, data). */
export function entryHash(term: number, type: number, data: Uint8Array): number {
  let lo = mix32(0x811c9dc5, term);
  let hi = mix32(0x01000193, term ^ 0x9e3779b9);
  lo = mix32(lo, type);
  hi = mix32(hi, type + 7);
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    lo = mix32(lo, b);
    hi = mix32(hi, b ^ 0xa5);
  }
  lo = mix32(lo, data.length);
  return (hi & 0xfffff) * TWO_32 + lo;
}

/** Extends a chain by one entry hash. */
export function chainNext(prev: number, eh: number): number {
  const lo = mix32(mix32(prev >>> 0, eh >>> 0), (eh / TWO_32) >>> 0);
  const hi = mix32(mix32(Math.floor(prev / TWO_32) >>> 0, lo), eh >>> 0);
  return (hi & 0xfffff) * TWO_32 + lo;
}

export function chainOfEntry(prev: number, e: Entry): number {
  return chainNext(prev, entryHash(e.term, e.type, e.data));
}

/**
 * The simulator's picture of one log: the point it starts from (a snapshot:
 * index, term and chain value there) and, for each later index, the term and
 * chain value. It holds no entry data, so keeping several per node is cheap.
 */
export class LogView {
  snapIndex: number;
  snapTerm: number;
  snapChain: number;
  private terms: number[] = [];
  private chains: number[] = [];
  /** Types of the entries (to find configuration changes without the data). */
  private types: number[] = [];

  constructor(snapIndex = 0, snapTerm = 0, snapChain = 0) {
    this.snapIndex = snapIndex;
    this.snapTerm = snapTerm;
    this.snapChain = snapChain;
  }

  get lastIndex(): number {
    return this.snapIndex + this.terms.length;
  }

  get lastTerm(): number {
    return this.terms.length === 0 ? this.snapTerm : (this.terms[this.terms.length - 1] as number);
  }

  /** Term at i, or undefined if i is outside [snapIndex, lastIndex]. */
  term(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex) return undefined;
    return this.terms[i - this.snapIndex - 1];
  }

  chain(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapChain;
    if (i < this.snapIndex || i > this.lastIndex) return undefined;
    return this.chains[i - this.snapIndex - 1];
  }

  type(i: number): number | undefined {
    if (i <= this.snapIndex || i > this.lastIndex) return undefined;
    return this.types[i - this.snapIndex - 1];
  }

  /** Replaces everything with the state of a snapshot. */
  resetTo(index: number, term: number, chain: number): void {
    this.snapIndex = index;
    this.snapTerm = term;
    this.snapChain = chain;
    this.terms = [];
    this.chains = [];
    this.types = [];
  }

  /**
   * Appends entries that start at entries[0].index <= lastIndex + 1, dropping
   * whatever the view held from that index on (etcd's unstable.truncateAndAppend).
   * Returns the index of the first entry removed, or undefined if nothing was.
   */
  append(entries: readonly Entry[]): number | undefined {
    if (entries.length === 0) return undefined;
    const first = (entries[0] as Entry).index;
    let removedFrom: number | undefined;
    if (first <= this.snapIndex)
      throw new RangeError(`append at ${first} at or below the snapshot ${this.snapIndex}`);
    if (first > this.lastIndex + 1)
      throw new RangeError(`append at ${first} leaves a gap after ${this.lastIndex}`);
    let replaced: number[] = [];
    if (first <= this.lastIndex) {
      const keep = first - this.snapIndex - 1;
      replaced = this.chains.slice(keep);
      this.terms.length = keep;
      this.chains.length = keep;
      this.types.length = keep;
    }
    let prev = this.chain(first - 1) as number;
    for (const e of entries) {
      if (e.index !== this.lastIndex + 1) throw new RangeError(`entries not contiguous at ${e.index}`);
      prev = chainOfEntry(prev, e);
      this.terms.push(e.term);
      this.chains.push(prev);
      this.types.push(e.type);
    }
    // Rewriting an entry with identical content removes nothing; report the first real change.
    for (let k = 0; k < replaced.length; k++) {
      if (k >= entries.length || replaced[k] !== this.chains[first - this.snapIndex - 1 + k]) {
        removedFrom = first + k;
        break;
      }
    }
    return removedFrom;
  }

  clone(): LogView {
    const v = new LogView(this.snapIndex, this.snapTerm, this.snapChain);
    v.terms = this.terms.slice();
    v.chains = this.chains.slice();
    v.types = this.types.slice();
    return v;
  }
}
