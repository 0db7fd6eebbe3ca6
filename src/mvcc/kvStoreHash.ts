import { KeyValue } from '../proto/mvccpb.js';
import type { Backend } from '../storage/backend/backend.js';
import { crc32c } from '../storage/backend/crc32c.js';
import { KEY_PREFIX, LEASE_PREFIX } from '../storage/backend/layout.js';
import { ErrCompacted, ErrFutureRev } from './errors.js';
import type { KeyIndexTree } from './keyIndexTree.js';
import { keyName } from './keyIndexTree.js';
import type { KeySpace } from './keySpace.js';
import { compareRevisions, type Revision } from './revision.js';

export interface HashKVResult {
  hash: number;
  /** The compact revision at the time of hashing. */
  compactRevision: number;
  /** The revision the key space was hashed at. */
  hashRevision: number;
}

/**
 * etcd's HashKV: CRC-32C over the revision keys and KeyValue records up to
 * `revision` (0 = current), skipping what compaction superseded, so members
 * with equal histories agree whether or not their physical compaction is done.
 */
export async function hashKV(space: KeySpace, revision: number): Promise<HashKVResult> {
  const rev = revision === 0 ? space.currentRevision : revision;
  if (revision > 0 && revision <= space.compactRevision) throw ErrCompacted();
  if (rev > space.currentRevision) throw ErrFutureRev();
  const compactRevision = space.compactRevision;
  // etcd hashes its bolt bucket "key": the bucket name, then each record's
  // 17-byte revision key (18 with the tombstone mark) and KeyValue bytes, up
  // to `rev`. At or below the compact revision it hashes only what
  // kvindex.Keep(rev) keeps, each key's live record as of `rev`, unless Keep
  // is empty. Our backend key is etcd's behind a one-byte prefix, and our
  // tombstone value also records its revision, which etcd's does not.
  const keepAt = (kv: KeyValue, r: Revision): boolean => {
    const state = space.tree.get(keyName(kv.key))?.get(rev);
    return state !== undefined && compareRevisions(state.modified, r) === 0;
  };
  let keepIsEmpty: boolean | undefined;
  let h = crc32c(Buffer.from('key'));
  await space.forRecords(0, rev, (r, tomb, decode, dbKey, payload) => {
    if (r.main <= compactRevision) {
      keepIsEmpty ??= !anyKeyLiveAt(space.tree, rev);
      if (!keepIsEmpty && (tomb || !keepAt(decode(), r))) return true;
    }
    const value = tomb ? KeyValue.encode(KeyValue.create({ key: decode().key })) : payload;
    h = crc32c(value, crc32c(dbKey.subarray(1), h));
    return true;
  });
  return { hash: h, compactRevision, hashRevision: rev };
}

/** etcd's Hash: CRC-32C of every record of the backend's key space and lease table, as on disk. */
export async function hashBackend(backend: Backend): Promise<number> {
  let h = 0;
  for (const prefix of [KEY_PREFIX, LEASE_PREFIX]) {
    for await (const page of backend.scan(
      Buffer.of(prefix),
      Buffer.of(prefix, ...new Array<number>(20).fill(0xff)),
    )) {
      for (const { key, payload } of page) h = crc32c(payload, crc32c(key, h));
    }
  }
  return h;
}

function anyKeyLiveAt(tree: KeyIndexTree, rev: number): boolean {
  let found = false;
  tree.forRange('', undefined, (ki) => {
    found = ki.get(rev) !== undefined;
    return !found;
  });
  return found;
}
