import { join } from 'node:path';
import type { Logger } from 'pino';
import { KvStore } from '../mvcc/kvStore.js';
import type { Member } from '../proto/etcdserverpb.js';
import { pathExists } from '../storage/pathExists.js';
import {
  etcdSnapshotMembers,
  etcdSnapshotRecords,
  openEtcdSnapshot,
} from '../storage/bolt/snapshotImport.js';

export interface RestoreDataDirOptions {
  /** An etcd 3.4 snapshot file (`etcdctl snapshot save` of etcd or of xetcd). */
  snapshot: string;
  /** The new member's data dir; it must not exist. */
  dataDir: string;
  logger: Logger;
}

export interface RestoreSummary {
  revision: number;
  compactRevision: number;
  /** Keys that exist at the snapshot's revision (deleted ones are not counted). */
  keys: number;
  leases: number;
  /** The members of the cluster the snapshot came from (the new cluster takes its own from its flags). */
  snapshotMembers: Member[];
}

/** Key and range end "\0": every key. */
const ALL_KEYS = Buffer.from([0]);

/** Where a member keeps its key space under its data dir (as EtcdServer.open opens it). */
const KV_DIR = ['member', 'kv'];

/**
 * xetcd's `etcdctl snapshot restore`: builds a data dir whose key space is
 * the snapshot's, so that a member started on it with `--initial-cluster`
 * bootstraps a new cluster serving that data. As etcd's restore does, the old
 * cluster's Raft state is not carried over: the applied index starts at 0
 * (a new Raft log begins), membership comes from the new member's flags, and
 * keys, revisions, compaction and leases come from the snapshot. The
 * snapshot's SHA-256 trailer (if it has one) and bbolt's page check are
 * verified first; the data is written beside its place and renamed in.
 */
export async function restoreDataDirFromSnapshot(opts: RestoreDataDirOptions): Promise<RestoreSummary> {
  if (await pathExists(opts.dataDir)) throw new Error(`snapshot restore: data-dir ${opts.dataDir} exists`);
  const reader = await openEtcdSnapshot(opts.snapshot);
  const store = await KvStore.restoreFromRecords(
    join(opts.dataDir, ...KV_DIR),
    etcdSnapshotRecords(reader, { consistentIndex: 0 }),
    { logger: opts.logger },
  );
  try {
    const summary: RestoreSummary = {
      revision: store.currentRevision,
      compactRevision: store.compactRevision,
      // Live keys, as `etcdctl get --prefix ''` would count them, not every key the history still holds.
      keys: (await store.range(ALL_KEYS, ALL_KEYS, { countOnly: true })).count,
      leases: store.leases().length,
      snapshotMembers: etcdSnapshotMembers(reader),
    };
    opts.logger.info(
      {
        snapshot: opts.snapshot,
        'data-dir': opts.dataDir,
        revision: summary.revision,
        'compact-revision': summary.compactRevision,
        keys: summary.keys,
        leases: summary.leases,
        'snapshot-members': summary.snapshotMembers.length,
      },
      'restored snapshot',
    );
    return summary;
  } finally {
    await store.close();
  }
}
