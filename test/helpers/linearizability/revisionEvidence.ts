// What the outputs of a history prove about revisions, before any search. Each known change
// names the revision it made; each get that found a key names the revision that last
// changed it (its mod revision) and proves the key unchanged from there to the get's own
// revision. Most violations a real cluster can show contradict these facts directly (a
// stale read, a lost acknowledged write, a revision going backwards in real time), and are
// reported from here with the two operations that disagree. The search then uses the same
// facts to narrow where an operation of unknown outcome may have happened.
import { describeOperation, type KvOperation } from './history.js';
import { requiredRevision, type KvSnapshot } from './kvModel.js';

/**
 * Where an operation sits in revision order: a change that made revision r at 2r - 1, an
 * outcome that saw revision r (and changed nothing) at 2r.
 */
export interface Placement {
  readonly place: number;
  readonly op: number;
}

/** Who proves a change of a key at a revision: an operation of the history, or the initial store. */
type Source = number | 'initial';

interface Change {
  readonly revision: number;
  readonly key: string;
  /** undefined: a delete. */
  readonly value: string | undefined;
  readonly source: Source;
}

/** The revision a known change made, or undefined for a read-only outcome or an unknown one. */
function madeRevision(op: KvOperation): number | undefined {
  if (op.output === undefined) return undefined;
  switch (op.type) {
    case 'put':
      return op.output.revision;
    case 'get':
      return undefined;
    case 'delete':
      return op.output.deleted > 0 ? op.output.revision : undefined;
    case 'putIf':
      return op.output.succeeded ? op.output.revision : undefined;
  }
}

/** Sorted, merged (lo, hi] intervals with a membership test. */
class Intervals {
  private los: number[] = [];
  private his: number[] = [];

  constructor(spans: [number, number][]) {
    spans.sort((a, b) => a[0] - b[0]);
    for (const [lo, hi] of spans) {
      const last = this.his.length - 1;
      if (last >= 0 && lo <= this.his[last]!) this.his[last] = Math.max(this.his[last]!, hi);
      else {
        this.los.push(lo);
        this.his.push(hi);
      }
    }
  }

  has(x: number): boolean {
    let lo = 0;
    let hi = this.los.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (x <= this.los[mid]!) hi = mid - 1;
      else if (x > this.his[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/** How many elements of a sorted array are <= x. */
function rank(sorted: readonly number[], x: number): number {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (sorted[mid]! <= x) a = mid + 1;
    else b = mid;
  }
  return a;
}

function writeId(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

export class RevisionEvidence {
  /** Per operation: the revision the store must be at just before it (known outcomes only). */
  readonly required: readonly (number | undefined)[];
  /** The highest revision any known outcome needs: a change above it is unobservable. */
  readonly lastObserved: number;
  /** Unknown-outcome writes whose (unique) value a get saw: the revision they must make. */
  readonly pins = new Map<number, number>();
  /** The inverse of `pins`. */
  readonly pinnedAt = new Map<number, number>();
  /** The first contradiction the outputs prove on their own, spelled out; undefined if none. */
  readonly contradiction: string | undefined;

  /** Known changes by the revision they made. */
  private readonly made = new Map<number, Change>();
  /** Per key, every change known or seen by a get. */
  private readonly byKey = new Map<string, Change[]>();
  /** Per (key, value), who may have written it. */
  private readonly writers = new Map<string, Source[]>();
  /** Per key, the revisions at which a get proves it unchanged. */
  private readonly quiet = new Map<string, Intervals>();
  /** Revisions only an unpinned operation of unknown outcome can have made, ascending. */
  private readonly gaps: number[] = [];
  /** Per key, the operations whose place in revision order is known, by place. */
  private readonly placesOnKey = new Map<string, Placement[]>();

  constructor(
    private readonly ops: readonly KvOperation[],
    initial: KvSnapshot,
  ) {
    this.required = ops.map(requiredRevision);
    this.lastObserved = this.required.reduce<number>((m, r) => Math.max(m, r ?? m), initial.revision);
    this.contradiction =
      this.knownChanges(initial) ??
      this.seenWrites(initial) ??
      this.readsAgree() ??
      this.realTimeOrder() ??
      this.gapsFillable(initial.revision);
  }

  /** The first revision above `revision` that only an unpinned unknown outcome can make. */
  nextGapAfter(revision: number): number {
    return this.gaps[rank(this.gaps, revision)] ?? Infinity;
  }

  /** The operations on `key` whose place is known (known outcomes, pinned ones), by place. */
  onKey(key: string): readonly Placement[] {
    return this.placesOnKey.get(key) ?? [];
  }

  /** Where operation `i` sits in revision order, when its outputs (or a pin) say. */
  private placeOf(i: number): number | undefined {
    const made = madeRevision(this.ops[i]!);
    if (made !== undefined) return 2 * made - 1;
    const seen = this.required[i];
    if (seen !== undefined) return 2 * seen;
    const pin = this.pins.get(i);
    return pin === undefined ? undefined : 2 * pin - 1;
  }

  /**
   * Every revision that no known change made and no get pinned is a gap: some write of
   * unknown outcome made it, one called before every operation placed after it returned.
   */
  private gapsFillable(start: number): string | undefined {
    const claimed = new Set(this.pinnedAt.keys());
    const placed: { place: number; ret: number; i: number }[] = [];
    for (const [i, op] of this.ops.entries()) {
      const made = madeRevision(op);
      if (made !== undefined) claimed.add(made);
      const place = this.placeOf(i);
      if (place === undefined) continue;
      push(this.placesOnKey, op.input.key, { place, op: i });
      if (op.return !== undefined) placed.push({ place, ret: op.return, i });
    }
    for (const list of this.placesOnKey.values()) list.sort((a, b) => a.place - b.place);
    for (let r = start + 1; r <= this.lastObserved; r++) if (!claimed.has(r)) this.gaps.push(r);

    placed.sort((a, b) => a.place - b.place);
    // firstReturnFrom[k]: the operation that returned first among placed[k..].
    const firstReturnFrom: number[] = new Array<number>(placed.length + 1).fill(-1);
    for (let k = placed.length - 1; k >= 0; k--) {
      const next = firstReturnFrom[k + 1]!;
      firstReturnFrom[k] = next >= 0 && placed[next]!.ret <= placed[k]!.ret ? next : k;
    }
    const places = placed.map((p) => p.place);
    const loose = this.ops
      .flatMap((op, i) => (op.output === undefined && op.type !== 'get' && !this.pins.has(i) ? [op] : []))
      .sort((a, b) => a.call - b.call);
    for (const gap of this.gaps) {
      const first = firstReturnFrom[rank(places, 2 * gap - 1)]!;
      const bound = first >= 0 ? placed[first]!.ret : Infinity;
      const fillable = loose.some((u) => u.call <= bound && !this.quietAt(u.input.key, gap));
      if (!fillable)
        return [
          `not linearizable: no operation made revision ${gap}: no known outcome did, and no write of unknown outcome can`,
          ...(first >= 0
            ? [
                `have (each is either proven not to touch its key there, or was called after this returned):`,
                `  ${this.line(placed[first]!.i)}`,
              ]
            : []),
        ].join('\n');
    }
    return undefined;
  }

  /** True when some get proves `key` unchanged at `revision`. */
  quietAt(key: string, revision: number): boolean {
    return this.quiet.get(key)?.has(revision) ?? false;
  }

  private line(s: Source): string {
    return s === 'initial' ? 'the initial store' : describeOperation(this.ops[s]!, s);
  }

  /**
   * An operation that returned before another was called comes first, so its place in
   * revision order (a change at 2r - 1, a read-only outcome at 2r) must not be later.
   */
  private realTimeOrder(): string | undefined {
    const placed = this.ops.flatMap((op, i) => {
      const pos = this.placeOf(i);
      // A pinned write of unknown outcome has a place and a call, and no return.
      return pos === undefined ? [] : [{ i, call: op.call, ret: op.return ?? Infinity, pos }];
    });
    const byReturn = [...placed].sort((a, b) => a.ret - b.ret);
    let k = 0;
    let latest: (typeof placed)[number] | undefined;
    for (const b of [...placed].sort((x, y) => x.call - y.call)) {
      while (k < byReturn.length && byReturn[k]!.ret < b.call) {
        const a = byReturn[k++]!;
        if (latest === undefined || a.pos > latest.pos) latest = a;
      }
      if (latest !== undefined && (latest.pos > b.pos || (latest.pos === b.pos && b.pos % 2 === 1)))
        return [
          'not linearizable: revisions go backwards in real time.',
          `  ${this.line(latest.i)}`,
          `returned before this was called, yet comes after it by revision:`,
          `  ${this.line(b.i)}`,
        ].join('\n');
    }
    return undefined;
  }

  /** Known changes against each other: one revision, one change. */
  private knownChanges(initial: KvSnapshot): string | undefined {
    for (const [key, kv] of Object.entries(initial.keys ?? {})) {
      this.noteChange({ revision: kv.modRevision, key, value: kv.value, source: 'initial' });
      push(this.writers, writeId(key, kv.value), 'initial');
    }
    for (const [i, op] of this.ops.entries()) {
      if (op.type === 'put' || (op.type === 'putIf' && op.output?.succeeded !== false))
        push(this.writers, writeId(op.input.key, op.input.value), i);
      const revision = madeRevision(op);
      if (revision === undefined) continue;
      const value = op.type === 'put' || op.type === 'putIf' ? op.input.value : undefined;
      const other = this.made.get(revision);
      if (other !== undefined)
        return `not linearizable: two operations made revision ${revision}.\n  ${this.line(other.source)}\n  ${this.line(i)}`;
      const change = { revision, key: op.input.key, value, source: i };
      this.made.set(revision, change);
      this.noteChange(change);
    }
    return undefined;
  }

  /**
   * A get that found a value proves that value was written at its mod revision: by the
   * known change of that revision, or (values being unique) by the one write of it, which
   * is then pinned there if its outcome is unknown.
   */
  private seenWrites(initial: KvSnapshot): string | undefined {
    for (const [i, op] of this.ops.entries()) {
      if (op.type !== 'get' || op.output?.value === undefined) continue;
      const { value, modRevision, revision } = op.output;
      const key = op.input.key;
      const bad = (why: string, other?: Source): string =>
        [
          `not linearizable: ${why}`,
          `  ${this.line(i)}`,
          ...(other === undefined ? [] : [`  ${this.line(other)}`]),
        ].join('\n');
      if (modRevision < 1 || modRevision > revision)
        return bad(`a get saw mod revision ${modRevision} at revision ${revision}.`);
      const w = this.writers.get(writeId(key, value)) ?? [];
      if (w.length === 0) return bad(`a get saw a value no operation wrote.`);
      const claimed = this.made.get(modRevision);
      if (claimed !== undefined && (claimed.key !== key || claimed.value !== value))
        return bad(
          `a get saw revision ${modRevision} write its value, but another operation made that revision.`,
          claimed.source,
        );
      this.noteChange({ revision: modRevision, key, value, source: i });
      if (w.length > 1) continue;
      const writer = w[0]!;
      const wrote = writer === 'initial' ? initial.keys![key]!.modRevision : madeRevision(this.ops[writer]!);
      if (wrote !== undefined && wrote !== modRevision)
        return bad(
          `a get saw the value at mod revision ${modRevision}, but it was written at revision ${wrote}.`,
          writer,
        );
      if (typeof writer === 'number' && wrote === undefined) {
        const pinned = this.pins.get(writer);
        if (pinned !== undefined && pinned !== modRevision)
          return bad(
            `gets saw one write of unknown outcome at mod revisions ${pinned} and ${modRevision}.`,
            writer,
          );
        this.pins.set(writer, modRevision);
        this.pinnedAt.set(modRevision, writer);
      }
    }
    return undefined;
  }

  /**
   * Every get against the changes known or seen: one that found the key proves it unchanged
   * from its mod revision to its own revision; one that found it absent needs a delete after
   * the key's last write, at a revision no other change took.
   */
  private readsAgree(): string | undefined {
    const revisions = new Map<string, number[]>();
    for (const [key, cs] of this.byKey)
      revisions.set(
        key,
        [...new Set(cs.map((c) => c.revision))].sort((a, b) => a - b),
      );
    const changedAt = (key: string, revision: number): Change =>
      this.byKey.get(key)!.find((c) => c.revision === revision)!;
    const everyChange = [...new Set([...this.byKey.values()].flat().map((c) => c.revision))].sort(
      (a, b) => a - b,
    );
    const spans = new Map<string, [number, number][]>();
    for (const [i, op] of this.ops.entries()) {
      if (op.type !== 'get' || op.output === undefined) continue;
      const out = op.output;
      const key = op.input.key;
      const changes = revisions.get(key) ?? [];
      if (out.value !== undefined) {
        push(spans, key, [out.modRevision, out.revision]);
        const later = changes[rank(changes, out.modRevision)];
        if (later !== undefined && later <= out.revision)
          return [
            `not linearizable: a stale read: this get saw the key as of revision ${out.modRevision} at revision ${out.revision},`,
            `  ${this.line(i)}`,
            `but the key changed at revision ${later}:`,
            `  ${this.line(changedAt(key, later).source)}`,
          ].join('\n');
        continue;
      }
      const at = changes[rank(changes, out.revision) - 1];
      const last = at === undefined ? undefined : changedAt(key, at);
      if (last === undefined || last.value === undefined) continue;
      const unclaimed =
        out.revision - last.revision - (rank(everyChange, out.revision) - rank(everyChange, last.revision));
      if (unclaimed === 0)
        return [
          `not linearizable: a lost write: this get found the key absent at revision ${out.revision},`,
          `  ${this.line(i)}`,
          `but it was written at revision ${last.revision} and every revision since was made by other changes:`,
          `  ${this.line(last.source)}`,
        ].join('\n');
    }
    for (const [key, s] of spans) this.quiet.set(key, new Intervals(s));
    return undefined;
  }

  private noteChange(c: Change): void {
    push(this.byKey, c.key, c);
  }
}
