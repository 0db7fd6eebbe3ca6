// HashKV must equal etcd's for the same history, so that members (and an xetcd
// next to an etcd) can be compared. The expected numbers were read from a real
// etcd 3.4.23 given the same requests (etcdctl endpoint hashkv [--rev]).
import { afterEach, describe, expect, it } from 'vitest';
import { StoreFixture, b } from './storeFixture.js';

const fx = new StoreFixture();
afterEach(() => fx.cleanup());

describe('HashKV as etcd 3.4 computes it', () => {
  it('matches etcd before and after a compaction that leaves a tombstone and a superseded value', async () => {
    const { store } = await fx.open();
    await store.put(b('a'), b('1')); // rev 2
    await store.put(b('b'), b('2')); // rev 3
    expect((await store.hashKV()).hash).toBe(1827592406);
    await store.deleteRange(b('a')); // rev 4
    await store.put(b('c'), b('3')); // rev 5
    await store.put(b('b'), b('4')); // rev 6
    expect((await store.hashKV()).hash).toBe(2563944494);
    const { physicalDone } = await store.compact(4);
    await store.commit({ consistentIndex: 1 });
    await physicalDone;
    // Below the compact revision etcd hashes only what Keep(rev) keeps: b@3 counts at rev 5, not at rev 6.
    expect(await store.hashKV()).toMatchObject({ hash: 2347218661, compactRevision: 4 });
    expect((await store.hashKV(5)).hash).toBe(4196123440);
  });
});
