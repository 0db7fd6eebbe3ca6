import { Event_EventType, type Event, type KeyValue } from '../proto/mvccpb.js';
import { MvccError } from './errors.js';
import type { RevisionChanges } from './kvStoreHistory.js';
import type { ReadView } from './kvStoreTxn.js';
import { keyString } from './watcherRanges.js';

/**
 * prev_kv for watchers. The store emits events without it (as etcd's does:
 * etcd's watch server reads it per event at mod_revision - 1); the watch layer
 * fills it from what it remembers, from the history window it replays, or by
 * a point read at rev - 1, which may find nothing only when rev - 1 is compacted.
 */

/** Looks up the pair of key as it was at revision rev (undefined when absent or compacted). */
export type PrevKvLookup = (key: Uint8Array, rev: number) => Promise<KeyValue | undefined>;

/** The prev_kv lookup over a KvStore: a point read at rev, nothing when compacted. */
export function prevKvFromStore(store: { readView(): ReadView }): PrevKvLookup {
  return async (key, rev) => {
    try {
      const r = await store.readView().range(key, undefined, { revision: rev });
      return r.kvs[0];
    } catch (err) {
      if (err instanceof MvccError && err.kind === 'compacted') return undefined;
      throw err;
    }
  };
}

export function hasReadView(source: object): source is { readView(): ReadView } {
  return typeof (source as { readView?: unknown }).readView === 'function';
}

/** A prev_kv the event should carry but does not: deletes, and puts that are not creations. */
export function missingPrev(ev: Event): boolean {
  if (ev.prevKv !== undefined || ev.kv === undefined) return false;
  return ev.type === Event_EventType.DELETE || ev.kv.version > 1;
}

/**
 * Fills prevKv where it is missing: from earlier events of the same key in
 * this window when there are some, else with one lookup per key at the
 * revision before its first event here (the lookups run concurrently).
 */
export async function fillPrevKv(
  changes: RevisionChanges[],
  lookup: PrevKvLookup | undefined,
): Promise<RevisionChanges[]> {
  const seen = new Set<string>();
  const firstLookups = new Map<string, Promise<KeyValue | undefined>>();
  for (const rc of changes) {
    for (const ev of rc.events) {
      if (ev.kv === undefined) continue;
      const k = keyString(ev.kv.key);
      if (!seen.has(k)) {
        seen.add(k);
        if (missingPrev(ev) && lookup !== undefined) firstLookups.set(k, lookup(ev.kv.key, rc.revision - 1));
      }
    }
  }
  const found = new Map<string, KeyValue | undefined>();
  await Promise.all([...firstLookups].map(async ([k, p]) => found.set(k, await p)));
  // The pair after the latest event of each key so far in the window (undefined: deleted).
  const latest = new Map<string, KeyValue | undefined>();
  return changes.map((rc) => ({
    revision: rc.revision,
    events: rc.events.map((ev) => {
      if (ev.kv === undefined) return ev;
      const k = keyString(ev.kv.key);
      let out = ev;
      if (missingPrev(ev)) {
        const prev = latest.has(k) ? latest.get(k) : found.get(k);
        if (prev !== undefined) out = { type: ev.type, kv: ev.kv, prevKv: prev };
      }
      latest.set(k, ev.type === Event_EventType.PUT ? ev.kv : undefined);
      return out;
    }),
  }));
}
