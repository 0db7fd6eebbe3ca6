// A store's state taken at one moment and put in another store's place (a
// snapshot from the leader installed on a follower), and the swap finished or
// undone when a crash cut it short.
import { cp, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KvStore } from '../../../src/mvcc/kvStore.js';
import { StoreFixture, b, str } from './storeFixture.js';

const fx = new StoreFixture();
afterEach(() => fx.cleanup());

async function dump(store: KvStore): Promise<string[]> {
  const r = await store.range(b('\0'), b('\0'));
  return r.kvs.map((kv) => `${str(kv.key)}=${str(kv.value)}@${kv.modRevision}`);
}

describe('KvStore.recordsAsOfNow and replaceWith', () => {
  it('the view holds the store as it was at the call, whatever is written after', async () => {
    const { store: leader } = await fx.open();
    await leader.put(b('a'), b('1'));
    await leader.put(b('b'), b('2'));
    leader.leaseGrant(7n, 60);
    await leader.commit({ consistentIndex: 12 });
    const view = leader.recordsAsOfNow();
    const expected = await dump(leader);
    await leader.put(b('c'), b('3'));
    await leader.deleteRange(b('a'));
    await leader.commit({ consistentIndex: 14 });

    const { store: follower } = await fx.open();
    await follower.put(b('stale'), b('x'));
    await follower.commit({ consistentIndex: 3 });
    await follower.put(b('uncommitted'), b('y'));
    await follower.replaceWith(view.records);
    await view.release();

    expect(await dump(follower)).toEqual(expected);
    expect(follower.consistentIndex).toBe(12);
    expect(follower.currentRevision).toBe(3);
    expect(follower.leases().map((l) => l.id)).toEqual([7n]);
    // It goes on from there: new writes and commits follow the installed index.
    await follower.put(b('d'), b('4'));
    await follower.commit({ consistentIndex: 13 });
    expect((await follower.range(b('d'))).kvs[0]!.modRevision).toBe(4);
  });

  it('a replaced store reopens with the new state and no leftovers beside it', async () => {
    const { store: leader } = await fx.open();
    await leader.put(b('k'), b('v'));
    await leader.commit({ consistentIndex: 5 });
    const view = leader.recordsAsOfNow();
    const { store: follower, dir } = await fx.open();
    await follower.replaceWith(view.records);
    await view.release();
    await follower.close();
    const { store: reopened } = await fx.open(dir);
    expect(await dump(reopened)).toEqual(['k=v@2']);
    expect(reopened.consistentIndex).toBe(5);
    const parent = join(dir, '..');
    const base = dir.slice(parent.length + 1);
    expect((await readdir(parent)).filter((n) => n.startsWith(`${base}.`))).toEqual([]);
  });

  it('open finishes a swap cut short after the old store was moved aside', async () => {
    const { store: source, dir: sourceDir } = await fx.open();
    await source.put(b('new'), b('state'));
    await source.commit({ consistentIndex: 9, sync: true });
    await source.close();
    const { store: old, dir } = await fx.open();
    await old.put(b('old'), b('state'));
    await old.commit({ consistentIndex: 2, sync: true });
    await old.close();
    // The crash came between the two renames: the old store aside, the new one whole beside it.
    await cp(sourceDir, `${dir}.incoming`, { recursive: true });
    await rename(dir, `${dir}.replaced`);
    const { store } = await fx.open(dir);
    expect(await dump(store)).toEqual(['new=state@2']);
    expect(store.consistentIndex).toBe(9);
  });

  it('open keeps the old store when the new one never got swapped in', async () => {
    const { store: old, dir } = await fx.open();
    await old.put(b('old'), b('state'));
    await old.commit({ consistentIndex: 2, sync: true });
    await old.close();
    const { store: partial, dir: partialDir } = await fx.open();
    await partial.close();
    await cp(partialDir, `${dir}.incoming`, { recursive: true });
    const { store } = await fx.open(dir);
    expect(await dump(store)).toEqual(['old=state@2']);
    const parent = join(dir, '..');
    const base = dir.slice(parent.length + 1);
    expect((await readdir(parent)).filter((n) => n.startsWith(`${base}.`))).toEqual([]);
  });
});
