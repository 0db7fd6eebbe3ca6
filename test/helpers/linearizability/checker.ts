// Is a history of etcd KV operations linearizable? A depth-first search for a total order
// that respects real time (an operation that returned before another was called comes
// first) and that the KV model (kvModel.ts) accepts: Wing & Gong's search, with Lowe's
// memo of (operations placed, state) pairs already explored, over a list of call and return
// events from which placed operations are unlinked and relinked on backtrack.
//
// The history cannot be split per key as P-compositionality would: the revision is global.
// Revisions narrow the search instead. First, what the outputs prove on their own is checked
// (revisionEvidence.ts): most real violations are found there, with the two operations that
// disagree. Then every known outcome names the revision the store was at when it ran, so:
// - the store moves from revision R to R+1 only when no other unplaced known operation
//   still needs R (it could never be placed after);
// - an operation of unknown outcome may change the store only into a revision no known
//   change made, not above the last revision anything observed, not where a get proves its
//   key unchanged, and, when a get saw its (unique) value, exactly at that get's mod
//   revision; and the later operations on its key must agree with it (laterOnKey).
// Operations of unknown outcome need not be placed at all (they may not have happened); the
// search succeeds once every operation with a known outcome is placed.
//
// The memo keys on 64-bit hashes of the placed set and of the store: a collision could only
// prune a branch, i.e. report a violation that is none, never accept a bad history, and the
// order returned for a good one is a full witness (the tests replay it).
import { Rng } from '../../../src/raft/rng.js';
import { describeOperation, isUnknown, type KvOperation, type Time } from './history.js';
import { KvStore, step, type KvSnapshot, type Refusal, type Undo } from './kvModel.js';
import { RevisionEvidence } from './revisionEvidence.js';

export interface CheckOptions {
  /** The store where the history starts; default etcd's fresh store (revision 1, empty). */
  readonly initial?: KvSnapshot;
  /** Search steps before giving up with `undecided`; default 50,000,000 (about half a minute). */
  readonly maxSteps?: number;
}

export interface SearchStats {
  readonly operations: number;
  readonly unknownOutcomes: number;
  readonly steps: number;
  readonly statesExplored: number;
  readonly ms: number;
}

export type CheckResult =
  | {
      readonly verdict: 'linearizable';
      /** Indices into the history, in a linearization order; unknown outcomes left out did not happen. */
      readonly order: readonly number[];
      readonly stats: SearchStats;
    }
  | {
      /** `violation`: no linearization exists. `undecided`: the search ran out of steps. */
      readonly verdict: 'violation' | 'undecided';
      readonly explanation: string;
      readonly stats: SearchStats;
    };

interface Event {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: Time;
  /** A call's return event. */
  match: Event | undefined;
  prev: Event | undefined;
  next: Event | undefined;
}

interface Placed {
  readonly call: Event;
  readonly undo: Undo;
  /** The store's revision after it. */
  readonly revision: number;
}

/** The furthest point the search reached: what an explanation shows. */
interface Stuck {
  readonly knownPlaced: number;
  readonly revision: number;
  readonly recent: readonly { readonly op: number; readonly revision: number }[];
  readonly mustComeNext: number;
  readonly candidates: readonly { readonly op: number; readonly why: string }[];
}

const RECENT = 6;
const CANDIDATES = 6;

/**
 * Validates the history and builds the time-ordered event list (a head sentinel first). A get
 * of unknown outcome observed nothing and changed nothing: it gets no events.
 */
function events(ops: readonly KvOperation[]): Event {
  const all: Event[] = [];
  const event = (op: number, isCall: boolean, time: Time): Event => ({
    op,
    isCall,
    time,
    match: undefined,
    prev: undefined,
    next: undefined,
  });
  ops.forEach((op, i) => {
    if (!Number.isFinite(op.call)) throw new Error(`history: ${describeOperation(op, i)} has no call time`);
    if ((op.output === undefined) !== (op.return === undefined))
      throw new Error(
        `history: ${describeOperation(op, i)} needs both a return time and an output, or neither`,
      );
    if (op.return !== undefined && op.return < op.call)
      throw new Error(`history: ${describeOperation(op, i)} returns before it is called`);
    if (op.type === 'get' && isUnknown(op)) return;
    const call = event(i, true, op.call);
    call.match = event(i, false, op.return ?? Infinity);
    all.push(call, call.match);
  });
  // At equal times a call goes first: the two operations then overlap, the lenient reading.
  all.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall));
  const head = event(-1, false, -Infinity);
  let last = head;
  for (const e of all) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function unlink(call: Event): void {
  for (const e of [call, call.match!]) {
    e.prev!.next = e.next;
    if (e.next !== undefined) e.next.prev = e.prev;
  }
}

function relink(call: Event): void {
  for (const e of [call.match!, call]) {
    e.prev!.next = e;
    if (e.next !== undefined) e.next.prev = e;
  }
}

class Search {
  private readonly store: KvStore;
  /** Unplaced known operations by the revision they need the store at. */
  private readonly waiting = new Map<number, Set<number>>();
  /** Per key, its unpinned writes of unknown outcome, by call time. */
  private readonly looseOnKey = new Map<string, number[]>();
  private readonly loosePlaced = new Set<number>();
  private readonly zobrist: Uint32Array;
  private placedA = 0;
  private placedB = 0;
  private knownPlaced = 0;
  private readonly memo = new Set<string>();
  private readonly placed: Placed[] = [];
  steps = 0;
  stuck: Stuck | undefined;

  constructor(
    private readonly ops: readonly KvOperation[],
    private readonly evidence: RevisionEvidence,
    initial: KvSnapshot,
  ) {
    this.store = new KvStore(initial);
    evidence.required.forEach((r, i) => {
      if (r === undefined) return;
      let set = this.waiting.get(r);
      if (set === undefined) this.waiting.set(r, (set = new Set()));
      set.add(i);
    });
    const loose = ops
      .flatMap((_, i) => (this.isLoose(i) ? [i] : []))
      .sort((a, b) => ops[a]!.call - ops[b]!.call);
    for (const i of loose) {
      const key = ops[i]!.input.key;
      const list = this.looseOnKey.get(key);
      if (list === undefined) this.looseOnKey.set(key, [i]);
      else list.push(i);
    }
    const rng = new Rng(0x11ea7);
    this.zobrist = Uint32Array.from({ length: 2 * ops.length }, () => rng.u32());
  }

  /** Why the store may not move from revision `from` to the next by operation `i`, if it may not. */
  private revisionTaken(i: number, from: number): Refusal | undefined {
    const waiting = this.waiting.get(from);
    if (waiting !== undefined && waiting.size > (waiting.has(i) ? 1 : 0)) {
      return () => {
        const other = [...waiting].find((o) => o !== i)!;
        return `the store must stay at revision ${from} for ${describeOperation(this.ops[other]!, other)}`;
      };
    }
    const { required, lastObserved, pins, pinnedAt } = this.evidence;
    if (required[i] !== undefined) return undefined;
    const made = from + 1;
    if (made > lastObserved) return () => `nothing known observes revision ${made} or later`;
    const pin = pins.get(i);
    if (pin !== undefined && pin !== made) return () => `a get saw its value with mod revision ${pin}`;
    const owner = pinnedAt.get(made);
    if (owner !== undefined && owner !== i) return () => `a get saw revision ${made} made by #${owner}`;
    if (this.evidence.quietAt(this.ops[i]!.input.key, made))
      return () => `a get proves the key unchanged at revision ${made}`;
    return undefined;
  }

  /** An operation of unknown outcome that no get pins to a revision. */
  private isLoose(i: number): boolean {
    const op = this.ops[i]!;
    return isUnknown(op) && op.type !== 'get' && !this.evidence.pins.has(i);
  }

  /**
   * After an unknown-outcome change of a key, the operations on that key whose place is
   * known must agree with it, up to the key's next known change, or until another unknown
   * write of the key could have come in between. Checking this now, instead of when the
   * search reaches them, keeps a wrong guess from being extended for thousands of steps
   * (and every guess made meanwhile from being retried under it).
   */
  private laterOnKey(i: number): Refusal | undefined {
    const key = this.ops[i]!.input.key;
    const made = this.store.revision;
    const kv = this.store.get(key);
    // Another unknown write of the key may come between this one and an operation that
    // returned at t only if it was called before t, at a revision no one else made.
    let otherCall = Infinity;
    for (const j of this.looseOnKey.get(key) ?? []) {
      if (j !== i && !this.loosePlaced.has(j)) {
        otherCall = this.ops[j]!.call;
        break;
      }
    }
    const gap = 2 * this.evidence.nextGapAfter(made) - 1;
    const scratch = new KvStore({ revision: made, keys: kv === undefined ? {} : { [key]: kv } });
    for (const { place, op } of this.evidence.onKey(key)) {
      if (place <= 2 * made - 1) continue;
      const later = this.ops[op]!;
      if (place > gap && otherCall <= (later.return ?? Infinity)) return undefined;
      scratch.revision = place % 2 === 0 ? place / 2 : (place - 1) / 2;
      const r = step(scratch, later);
      if (typeof r === 'function') return () => `then ${describeOperation(later, op)} could not be: ${r()}`;
      if (place % 2 === 1) return undefined;
    }
    return undefined;
  }

  /** Places operation `i` on the store if the model and the revision rules allow it. */
  private attempt(i: number): Undo | Refusal {
    const from = this.store.revision;
    const known = this.evidence.required[i] !== undefined;
    // An unknown outcome is placed only as a change: the rules can refuse it before the
    // store is touched, which is most of the time (it stays a candidate until the end).
    const early = known ? undefined : this.revisionTaken(i, from);
    if (early !== undefined) return early;
    const undo = step(this.store, this.ops[i]!);
    if (typeof undo === 'function' || this.store.revision === from) return undo;
    const why = known ? this.revisionTaken(i, from) : this.laterOnKey(i);
    if (why === undefined) return undo;
    this.store.undo(undo);
    return why;
  }

  private togglePlaced(i: number): void {
    this.placedA ^= this.zobrist[2 * i]!;
    this.placedB ^= this.zobrist[2 * i + 1]!;
    if (this.isLoose(i) && !this.loosePlaced.delete(i)) this.loosePlaced.add(i);
    const r = this.evidence.required[i];
    if (r === undefined) return;
    const set = this.waiting.get(r)!;
    if (set.delete(i)) this.knownPlaced++;
    else {
      set.add(i);
      this.knownPlaced--;
    }
  }

  /** Runs the search: the placed order on success, undefined when there is none or steps ran out. */
  run(head: Event, maxSteps: number): number[] | undefined {
    let e = head.next;
    for (;;) {
      if (e === undefined || (!e.isCall && e.time === Infinity)) return this.placed.map((p) => p.call.op);
      if (!e.isCall) {
        // An operation returned that is not placed yet: nothing later may go first. Back up.
        this.noteStuck(head, e);
        const top = this.placed.pop();
        if (top === undefined) return undefined;
        this.store.undo(top.undo);
        this.togglePlaced(top.call.op);
        relink(top.call);
        e = top.call.next;
        continue;
      }
      if (++this.steps > maxSteps) {
        let ret = e.next;
        while (ret?.isCall) ret = ret.next;
        if (ret !== undefined) this.noteStuck(head, ret);
        return undefined;
      }
      const undo = this.attempt(e.op);
      if (typeof undo !== 'function') {
        this.togglePlaced(e.op);
        const key = `${this.placedA}:${this.placedB}:${this.store.fingerprint()}`;
        if (!this.memo.has(key)) {
          this.memo.add(key);
          this.placed.push({ call: e, undo, revision: this.store.revision });
          unlink(e);
          e = head.next;
          continue;
        }
        this.togglePlaced(e.op);
        this.store.undo(undo);
      }
      e = e.next;
    }
  }

  get statesExplored(): number {
    return this.memo.size;
  }

  private noteStuck(head: Event, ret: Event): void {
    if (this.stuck !== undefined && this.stuck.knownPlaced >= this.knownPlaced) return;
    const candidates: { op: number; why: string }[] = [];
    for (let e = head.next; e !== undefined && e !== ret; e = e.next) {
      if (!e.isCall) continue;
      const undo = this.attempt(e.op);
      let why: string;
      if (typeof undo === 'function') why = undo();
      else {
        this.store.undo(undo);
        why = 'placing it here leads to a dead end further on';
      }
      candidates.push({ op: e.op, why });
    }
    const recent = this.placed.slice(-RECENT).map((p) => ({ op: p.call.op, revision: p.revision }));
    this.stuck = {
      knownPlaced: this.knownPlaced,
      revision: this.store.revision,
      recent,
      mustComeNext: ret.op,
      candidates,
    };
  }
}

function explain(ops: readonly KvOperation[], stuck: Stuck, known: number, verdict: string): string {
  const line = (i: number): string => describeOperation(ops[i]!, i);
  const blocked = stuck.candidates.find((c) => c.op === stuck.mustComeNext);
  // Known outcomes first: writes of unknown outcome stay candidates to the end and are
  // rarely the story.
  const others = stuck.candidates
    .filter((c) => c.op !== stuck.mustComeNext)
    .sort((a, b) => Number(isUnknown(ops[a.op]!)) - Number(isUnknown(ops[b.op]!)));
  const shown = others.slice(0, CANDIDATES);
  const hidden = others.length - shown.length;
  return [
    `${verdict}: the longest order found places ${stuck.knownPlaced} of ${known} operations with a known outcome, up to revision ${stuck.revision}.`,
    'Last operations placed (store revision after each):',
    ...(stuck.recent.length > 0
      ? stuck.recent.map((r) => `  ${line(r.op)}   ⇒ rev ${r.revision}`)
      : ['  (none)']),
    `Must come next (it returned before anything still unplaced was called):`,
    `  ${line(stuck.mustComeNext)}`,
    `    cannot: ${blocked?.why ?? 'it is not placeable here'}`,
    ...(shown.length > 0 ? ['Other operations that could have come next:'] : []),
    ...shown.flatMap((c) => [`  ${line(c.op)}`, `    cannot: ${c.why}`]),
    ...(hidden > 0 ? [`  ... and ${hidden} more`] : []),
  ].join('\n');
}

export function checkLinearizable(history: readonly KvOperation[], opts: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const maxSteps = opts.maxSteps ?? 50_000_000;
  const initial = opts.initial ?? { revision: 1 };
  const head = events(history);
  const evidence = new RevisionEvidence(history, initial);
  const search = new Search(history, evidence, initial);
  const order = evidence.contradiction === undefined ? search.run(head, maxSteps) : undefined;
  const stats: SearchStats = {
    operations: history.length,
    unknownOutcomes: history.filter(isUnknown).length,
    steps: search.steps,
    statesExplored: search.statesExplored,
    ms: performance.now() - started,
  };
  if (order !== undefined) return { verdict: 'linearizable', order, stats };
  if (evidence.contradiction !== undefined)
    return { verdict: 'violation', explanation: evidence.contradiction, stats };
  const verdict = search.steps > maxSteps ? 'undecided' : 'violation';
  const known = history.filter((op) => !isUnknown(op)).length;
  const title = verdict === 'violation' ? 'not linearizable' : `undecided after ${maxSteps} steps`;
  return { verdict, explanation: explain(history, search.stuck!, known, title), stats };
}
