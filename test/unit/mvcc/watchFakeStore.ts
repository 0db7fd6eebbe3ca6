import { Subject } from 'rxjs';
import { Event_EventType, type Event, type KeyValue } from '../../../src/proto/mvccpb.js';
import type { RevisionChanges, WatchSource } from '../../../src/mvcc/watchableStore.js';

/**
 * A small in-memory key-value store with etcd's revision rules, for watch
 * tests: each write is one revision, history is kept per revision, compaction
 * drops history below the compact revision, and history reads can be slowed
 * down to let writes race them.
 */
export class FakeKvStore implements WatchSource {
  currentRevision = 1;
  compactRevision = 0;
  readonly changes$ = new Subject<RevisionChanges>();
  /** Every revision ever written (the test's oracle; compaction does not touch it). */
  readonly history: RevisionChanges[] = [];
  private readonly state = new Map<string, KeyValue>();
  /** Whether emitted events carry prevKv (a store may leave it to the watch layer). */
  fillPrevKv = true;
  /** Milliseconds each history read waits before answering. */
  readDelayMs = 0;
  historyReads = 0;

  put(key: string, value: string | Uint8Array): number {
    return this.txn([{ put: key, value }]);
  }

  del(key: string): number {
    return this.txn([{ del: key }]);
  }

  /** Applies ops as one revision; returns the revision (unchanged when nothing changed). */
  txn(ops: ({ put: string; value: string | Uint8Array } | { del: string })[]): number {
    const rev = this.currentRevision + 1;
    const events: Event[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const prev = this.state.get(op.put);
        const kv: KeyValue = {
          key: bytes(op.put),
          createRevision: prev === undefined ? rev : prev.createRevision,
          modRevision: rev,
          version: prev === undefined ? 1 : prev.version + 1,
          value: typeof op.value === 'string' ? bytes(op.value) : op.value,
          lease: 0n,
        };
        this.state.set(op.put, kv);
        events.push(this.event(Event_EventType.PUT, kv, prev));
      } else {
        const prev = this.state.get(op.del);
        if (prev === undefined) continue;
        this.state.delete(op.del);
        const kv: KeyValue = {
          key: bytes(op.del),
          createRevision: 0,
          modRevision: rev,
          version: 0,
          value: new Uint8Array(0),
          lease: 0n,
        };
        events.push(this.event(Event_EventType.DELETE, kv, prev));
      }
    }
    if (events.length === 0) return this.currentRevision;
    this.currentRevision = rev;
    const rc = { revision: rev, events };
    this.history.push(rc);
    this.changes$.next(rc);
    return rev;
  }

  compact(rev: number): void {
    if (rev > this.compactRevision) this.compactRevision = rev;
  }

  async eventsBetween(
    fromRev: number,
    toRev: number,
    opts?: { key?: Uint8Array; rangeEnd?: Uint8Array },
  ): Promise<RevisionChanges[]> {
    this.historyReads++;
    if (this.readDelayMs > 0) await new Promise((r) => setTimeout(r, this.readDelayMs));
    else await Promise.resolve();
    if (fromRev < this.compactRevision) throw new Error('mvcc: required revision has been compacted');
    const out: RevisionChanges[] = [];
    for (const rc of this.history) {
      if (rc.revision < fromRev || rc.revision > toRev) continue;
      const events = rc.events
        .filter((ev) => opts?.key === undefined || inRange(ev.kv!.key, opts.key, opts.rangeEnd))
        .map((ev) => (this.fillPrevKv ? ev : { type: ev.type, kv: ev.kv }));
      out.push({ revision: rc.revision, events });
    }
    return out;
  }

  /** The pair of key at revision rev, from the oracle history. */
  async kvAt(key: Uint8Array, rev: number): Promise<KeyValue | undefined> {
    await Promise.resolve();
    let found: KeyValue | undefined;
    const k = Buffer.from(key).toString('latin1');
    for (const rc of this.history) {
      if (rc.revision > rev) break;
      for (const ev of rc.events) {
        if (Buffer.from(ev.kv!.key).toString('latin1') !== k) continue;
        found = ev.type === Event_EventType.PUT ? ev.kv : undefined;
      }
    }
    return found;
  }

  private event(type: Event_EventType, kv: KeyValue, prev: KeyValue | undefined): Event {
    return this.fillPrevKv && prev !== undefined ? { type, kv, prevKv: prev } : { type, kv };
  }
}

export function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

export function str(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

export function inRange(key: Uint8Array, start: Uint8Array, end: Uint8Array | undefined): boolean {
  if (end === undefined || end.length === 0) return Buffer.compare(key, start) === 0;
  if (Buffer.compare(key, start) < 0) return false;
  if (end.length === 1 && end[0] === 0) return true;
  return Buffer.compare(key, end) < 0;
}

/** Lets queued microtasks, timers of 0 ms and immediate callbacks run. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Key, revision and type of each event: the shape most assertions compare. */
export function summary(events: Event[]): string[] {
  return events.map(
    (ev) => `${ev.type === Event_EventType.PUT ? 'PUT' : 'DEL'} ${str(ev.kv!.key)}@${ev.kv!.modRevision}`,
  );
}

/**
 * Simulates a snapshot install: the store jumps ahead by `revisions` writes
 * that are never announced on changes$ (as when a member's backend is
 * replaced), optionally compacting at the end.
 */
export function installSnapshot(kv: FakeKvStore, revisions: number, compactAt = 0): void {
  const subject = kv.changes$;
  const silent = { next: () => undefined } as unknown as typeof subject;
  (kv as { changes$: typeof subject }).changes$ = silent;
  try {
    for (let i = 0; i < revisions; i++) kv.put(`snap${i % 3}`, `s${i}`);
  } finally {
    (kv as { changes$: typeof subject }).changes$ = subject;
  }
  if (compactAt > 0) kv.compact(compactAt);
}
