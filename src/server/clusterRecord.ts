import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../storage/syncDir.js';
import type { AlarmMember, Member } from '../proto/etcdserverpb.js';

/**
 * Who this member is and which cluster it was born into, written when a member
 * is bootstrapped (etcd keeps the same in its WAL metadata). A restart takes
 * its identity from here, never from the flags: --initial-cluster and the peer
 * URLs matter only to a new member, as in etcd.
 *
 * The member list and the raised alarms are rewritten whenever an applied
 * entry changes them (etcd keeps both in its backend): the log behind a
 * snapshot is compacted away, so the conf changes, attributes and alarms it
 * held cannot be replayed on restart. `stateIndex` is the raft index they
 * reflect; replay leaves entries at or below it out of them.
 */
export interface ClusterRecord {
  memberId: bigint;
  clusterId: bigint;
  members: Member[];
  /** Raised alarms (etcd's alarm bucket). */
  alarms?: AlarmMember[];
  /** Members removed from the cluster (etcd's members_removed bucket): their messages are refused. */
  removed?: bigint[];
  /** Raft index of the last entry reflected in `members` and `alarms` (0: only the initial cluster). */
  stateIndex?: number;
}

const FILE = 'cluster.json';

interface StoredRecord {
  version: 1;
  memberId: string;
  clusterId: string;
  members: Array<{ id: string; name: string; peerUrls: string[]; clientUrls?: string[]; isLearner: boolean }>;
  alarms?: Array<{ memberId: string; alarm: number }>;
  removed?: string[];
  stateIndex?: number;
}

/** The write under way per member dir: writes go one after another, in the order they were asked for. */
const writing = new Map<string, Promise<void>>();

/**
 * Replaces the record. Writes of one member dir are serialized: the applier and
 * a snapshot install may ask at once, and two writers sharing the temp file
 * made the second rename fail (ENOENT) and the member stop.
 */
export function writeClusterRecord(memberDir: string, record: ClusterRecord): Promise<void> {
  const previous = writing.get(memberDir) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(() => replaceRecord(memberDir, record));
  writing.set(memberDir, mine);
  const forget = (): void => {
    if (writing.get(memberDir) === mine) writing.delete(memberDir);
  };
  mine.then(forget, forget);
  return mine;
}

async function replaceRecord(memberDir: string, record: ClusterRecord): Promise<void> {
  const stored: StoredRecord = {
    version: 1,
    memberId: record.memberId.toString(16),
    clusterId: record.clusterId.toString(16),
    members: record.members.map((m) => ({
      id: m.id.toString(16),
      name: m.name,
      peerUrls: m.peerUrls,
      clientUrls: m.clientUrls,
      isLearner: m.isLearner,
    })),
    alarms: (record.alarms ?? []).map((a) => ({ memberId: a.memberId.toString(16), alarm: a.alarm })),
    removed: (record.removed ?? []).map((id) => id.toString(16)),
    stateIndex: record.stateIndex ?? 0,
  };
  // Written beside its place, synced, then renamed in: a crash leaves the old state or the new, never half.
  const tmp = join(memberDir, `${FILE}.tmp`);
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(JSON.stringify(stored, null, 2));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, join(memberDir, FILE));
  await syncDir(memberDir);
}

/** The record, or undefined when the member was never bootstrapped. Throws on a record that cannot be read. */
export async function readClusterRecord(memberDir: string): Promise<ClusterRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(memberDir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const path = join(memberDir, FILE);
  let stored: StoredRecord;
  try {
    stored = JSON.parse(text) as StoredRecord;
    if (stored.version !== 1 || !/^[0-9a-f]+$/.test(stored.memberId) || !Array.isArray(stored.members))
      throw new Error('bad shape');
    if (
      stored.stateIndex !== undefined &&
      !(Number.isSafeInteger(stored.stateIndex) && stored.stateIndex >= 0)
    ) {
      throw new Error('bad state index');
    }
    if (
      stored.alarms !== undefined &&
      !stored.alarms.every((a) => /^[0-9a-f]+$/.test(a.memberId) && Number.isInteger(a.alarm))
    ) {
      throw new Error('bad alarms');
    }
    if (stored.removed !== undefined && !stored.removed.every((id) => /^[0-9a-f]+$/.test(id))) {
      throw new Error('bad removed members');
    }
  } catch {
    throw new Error(
      `${path} is corrupt; restore the data dir from a snapshot or remove the member and re-add it`,
    );
  }
  return {
    memberId: BigInt(`0x${stored.memberId}`),
    clusterId: BigInt(`0x${stored.clusterId}`),
    members: stored.members.map((m) => ({
      id: BigInt(`0x${m.id}`),
      name: m.name,
      peerUrls: m.peerUrls,
      clientUrls: m.clientUrls ?? [],
      isLearner: m.isLearner,
    })),
    alarms: (stored.alarms ?? []).map((a) => ({ memberId: BigInt(`0x${a.memberId}`), alarm: a.alarm })),
    removed: (stored.removed ?? []).map((id) => BigInt(`0x${id}`)),
    stateIndex: stored.stateIndex ?? 0,
  };
}
