import {
  BACKEND_FORMAT,
  LEASE_PREFIX,
  decodeCounter,
  describeBackendKey,
  metaKey,
  parseLeaseKey,
  parseRevisionKey,
  revisionKeyBounds,
  type MetaName,
} from '../storage/backend/layout.js';
import { CorruptDataError } from '../storage/corruptDataError.js';
import { keyName } from './keyIndexTree.js';
import type { KeySpace } from './keySpace.js';

/** What restoring read beside the key space itself. */
export interface RestoredMeta {
  /** The applied index of the last commit. */
  consistentIndex: number;
  /** The newest compaction scheduled, and the newest whose physical pass finished. */
  scheduledCompact: number;
  finishedCompact: number;
}

/**
 * Rebuilds the key index and the lease table of a KvStore being opened from
 * its backend, and sets its current and compact revisions, as etcd's
 * store.restore does. Every record is verified; anything that cannot be the
 * result of the writes the store makes is a CorruptDataError.
 */
export async function restoreKeySpace(space: KeySpace): Promise<RestoredMeta> {
  const dir = space.backend.dir;
  const format = await readMeta(space, 'format');
  if (format !== 0 && format !== BACKEND_FORMAT) {
    throw new Error(`xetcd: ${dir} has backend format ${format}, this version reads ${BACKEND_FORMAT}`);
  }
  const consistentIndex = await readMeta(space, 'consistentIndex');
  const metaRevision = await readMeta(space, 'currentRevision');
  const scheduledCompact = await readMeta(space, 'scheduledCompact');
  const finishedCompact = await readMeta(space, 'finishedCompact');

  const contiguousFrom = Math.max(scheduledCompact, finishedCompact, 1);
  const { maxMain, keyLease } = await restoreIndex(space, contiguousFrom);
  if (metaRevision > Math.max(maxMain, contiguousFrom)) {
    throw new CorruptDataError({
      dir,
      record: `key-space revision ${metaRevision}`,
      detail: `missing (the newest record is at revision ${maxMain})`,
    });
  }
  await restoreLeases(space);
  for (const [name, lease] of keyLease) space.leases.attach(lease, name);

  space.currentRevision = Math.max(1, metaRevision, maxMain);
  space.compactRevision = Math.max(scheduledCompact, finishedCompact);
  if (space.compactRevision > space.currentRevision) {
    throw new CorruptDataError({
      dir,
      record: 'meta record scheduledCompact',
      detail: 'compact revision above the current revision',
    });
  }
  return { consistentIndex, scheduledCompact, finishedCompact };
}

async function readMeta(space: KeySpace, name: MetaName): Promise<number> {
  const v = await space.backend.get(metaKey(name));
  if (v === undefined) return 0;
  if (v.length !== 8)
    throw new CorruptDataError({
      dir: space.backend.dir,
      record: `meta record ${name}`,
      detail: 'bad length',
    });
  return decodeCounter(v);
}

/**
 * Replays every key-space record into the key index, in revision order, and
 * returns the newest revision and each key's lease as its newest record has it.
 */
async function restoreIndex(
  space: KeySpace,
  contiguousFrom: number,
): Promise<{ maxMain: number; keyLease: Map<string, bigint> }> {
  let maxMain = 0;
  const keyLease = new Map<string, bigint>();
  const { gte, lte } = revisionKeyBounds(0, 2 ** 48 - 1);
  for await (const page of space.backend.scan(gte, lte)) {
    for (const { key, payload } of page) {
      const { rev, tombstone } = parseRevisionKey(key);
      const kv = space.decodeRecord(key, payload, rev);
      const name = keyName(kv.key);
      const ki = space.tree.getOrCreate(name);
      keyLease.delete(name);
      if (tombstone) {
        ki.restoreTombstone(rev);
      } else {
        // A new life although the previous one has no tombstone on disk: close it.
        if (kv.createRevision === rev.main && ki.live) ki.closeLife();
        ki.restorePut(rev, kv.createRevision, kv.version);
        if (kv.lease !== 0n) keyLease.set(name, kv.lease);
      }
      if (rev.main > maxMain) {
        // Every write creates at least one record, and compaction removes none
        // above the compact revision: a hole there means LevelDB lost a whole
        // batch (it skips a damaged log record and carries on).
        if (rev.main > contiguousFrom && rev.main !== Math.max(maxMain, contiguousFrom) + 1) {
          throw new CorruptDataError({
            dir: space.backend.dir,
            record: `key-space revision ${Math.max(maxMain, contiguousFrom) + 1}`,
            detail: `missing (next record is at revision ${rev.main})`,
          });
        }
        maxMain = rev.main;
      }
    }
  }
  return { maxMain, keyLease };
}

async function restoreLeases(space: KeySpace): Promise<void> {
  for await (const page of space.backend.scan(
    Buffer.of(LEASE_PREFIX),
    Buffer.of(LEASE_PREFIX, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
  )) {
    for (const { key, payload } of page) {
      space.leases.restore(
        parseLeaseKey(key),
        payload,
        () =>
          new CorruptDataError({
            dir: space.backend.dir,
            record: describeBackendKey(key),
            detail: 'bad lease record',
          }),
      );
    }
  }
}
