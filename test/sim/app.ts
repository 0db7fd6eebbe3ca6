import { ConfState, type Entry, EntryType } from '../../src/proto/raftpb.js';
import { chainOfEntry } from './logView.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the application keeps in its snapshots (JSON; small, and readable in a failure dump). */
interface AppSnapshotBody {
  applied: number;
  term: number;
  chain: number;
  values: string[];
  removed: number[];
}

/**
 * The replicated application: an append-only list of the proposals it has
 * applied, and a hash chain over every entry it applied (normal, empty and
 * configuration entries alike). Its state is on the simulated disk: applying
 * an entry and recording the applied index happen in one step, as the design
 * requires of the real backend (the applied index is written in the same
 * atomic batch as the effects it covers), so a crash never tears them apart.
 */
export class App {
  applied: number;
  /** Term of the entry at `applied` (needed to create snapshots). */
  appliedTerm: number;
  chain: number;
  values: string[];
  /** Members removed by an applied configuration change: their messages are refused (etcd's ErrIDRemoved). */
  removed: Set<number>;
  /** The configuration as of the last applied (or re-applied) configuration entry; derived, not on disk. */
  confState: ConfState;

  constructor(
    applied: number,
    appliedTerm: number,
    chain: number,
    values: string[],
    removed: Iterable<number>,
    confState: ConfState,
  ) {
    this.applied = applied;
    this.appliedTerm = appliedTerm;
    this.chain = chain;
    this.values = values;
    this.removed = new Set(removed);
    this.confState = confState;
  }

  /** Applies one committed entry that is new to the application. */
  apply(e: Entry): void {
    if (e.index !== this.applied + 1) throw new RangeError(`apply ${e.index} after ${this.applied}`);
    this.chain = chainOfEntry(this.chain, e);
    this.applied = e.index;
    this.appliedTerm = e.term;
    if (e.type === EntryType.EntryNormal && e.data.length > 0) this.values.push(decoder.decode(e.data));
  }

  /** The snapshot payload for the state at `applied`. */
  snapshotData(): Uint8Array {
    const body: AppSnapshotBody = {
      applied: this.applied,
      term: this.appliedTerm,
      chain: this.chain,
      values: this.values,
      removed: [...this.removed].sort((a, b) => a - b),
    };
    return encoder.encode(JSON.stringify(body));
  }

  /** Replaces the state with a snapshot's (received from the leader, or found on disk at restart). */
  restore(data: Uint8Array, confState: ConfState): void {
    const body = JSON.parse(decoder.decode(data)) as AppSnapshotBody;
    this.applied = body.applied;
    this.appliedTerm = body.term;
    this.chain = body.chain;
    this.values = body.values.slice();
    this.removed = new Set(body.removed);
    this.confState = confState;
  }

  static fromSnapshot(data: Uint8Array, confState: ConfState): App {
    const app = new App(0, 0, 0, [], [], ConfState.create());
    app.restore(data, confState);
    return app;
  }

  static snapshotChain(data: Uint8Array): { applied: number; chain: number } {
    const body = JSON.parse(decoder.decode(data)) as AppSnapshotBody;
    return { applied: body.applied, chain: body.chain };
  }
}
