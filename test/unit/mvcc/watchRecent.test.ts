import { describe, expect, it } from 'vitest';
import { RecentChanges } from '../../../src/mvcc/watcherRecent.js';
import { Event_EventType, type Event } from '../../../src/proto/mvccpb.js';
import type { RevisionChanges } from '../../../src/mvcc/kvStore.js';
import { bytes, str } from './watchFakeStore.js';

let versions = new Map<string, number>();
function rev(revision: number, ...keys: string[]): RevisionChanges {
  const events: Event[] = keys.map((k) => {
    if (k.startsWith('-')) {
      versions.delete(k.slice(1));
      return {
        type: Event_EventType.DELETE,
        kv: {
          key: bytes(k.slice(1)),
          createRevision: 0,
          modRevision: revision,
          version: 0,
          value: new Uint8Array(0),
          lease: 0n,
        },
      };
    }
    const version = (versions.get(k) ?? 0) + 1;
    versions.set(k, version);
    return {
      type: Event_EventType.PUT,
      kv: {
        key: bytes(k),
        createRevision: revision,
        modRevision: revision,
        version,
        value: bytes(`${k}@${revision}`),
        lease: 0n,
      },
    };
  });
  return { revision, events };
}
const prevs = (rc: RevisionChanges) => rc.events.map((e) => (e.prevKv ? str(e.prevKv.value) : '-'));

describe('RecentChanges (what the watchable store remembers)', () => {
  it('keeps contiguous revisions up to the event limit, and always the newest', () => {
    versions = new Map();
    const r = new RecentChanges(3, 100);
    r.add(rev(2, 'a'));
    r.add(rev(3, 'b', 'c'));
    expect(r.oldest(99)).toBe(2);
    r.add(rev(4, 'd'));
    expect(r.oldest(99)).toBe(3);
    expect(r.range(3, 4).map((x) => x.revision)).toEqual([3, 4]);
    r.add(rev(5, 'a', 'b', 'c', 'd', 'e'));
    expect(r.oldest(99)).toBe(5);
    r.add(rev(7, 'a')); // a gap: nothing before it can be served from memory
    expect(r.oldest(99)).toBe(7);
  });

  it('gives later changes of a remembered key their prev_kv; a gap or eviction forgets it', () => {
    versions = new Map();
    const r = new RecentChanges(0, 2);
    expect(prevs(r.add(rev(2, 'a', 'b')))).toEqual(['-', '-']);
    expect(prevs(r.add(rev(3, 'a', '-b')))).toEqual(['a@2', 'b@2']);
    expect(prevs(r.add(rev(4, 'c')))).toEqual(['-']);
    // 'a' was the least recently changed of the three and fell out (limit 2).
    expect(prevs(r.add(rev(5, 'a', 'c')))).toEqual(['-', 'c@4']);
    expect(r.oldest(99)).toBe(99); // no revisions kept with an event limit of 0
    expect(prevs(r.add(rev(9, 'c')))).toEqual(['-']);
  });
});
