// A member's start before Raft runs, in the steps of the lifecycle chart
// (machines/memberLifecycle.ts), as etcd's bootstrap.go has them: open the two
// stores, bootstrap (a new member's initial configuration, or a restarted
// member's identity and state from its data dir), then check that the stores
// agree and that every record reads back whole. A new member writes nothing
// here (its initial state reaches the disk when its Raft starts, in
// EtcdServer.start), so a start refused on the way leaves the data dir as it
// found it; a restarting one only finishes a snapshot install a crash cut short.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { BootMode } from '../../machines/memberLifecycle.js';
import type { AlarmMember } from '../proto/etcdserverpb.js';
import type { ClusterMembers } from '../proto/xetcdpb.js';
import { ConfChange, ConfChangeType, EntryType, type Entry } from '../proto/raftpb.js';
import type { MemoryStorage } from '../raft/memoryStorage.js';
import { RaftNode } from '../raft/raftNode.js';
import { restoreMemoryStorage } from './raftLogRestore.js';
import { RaftLogStore, type RaftLogState } from '../storage/raftlog/store.js';
import { KvStore } from '../mvcc/kvStore.js';
import { readClusterRecord, writeClusterRecord } from './clusterRecord.js';
import { recoverSnapshotState } from './peerSnapshots.js';
import type { ServerConfig } from './serverConfig.js';

/** The member's two stores, open (etcd's WAL and backend). */
export class MemberStorage {
  private constructor(
    readonly memberDir: string,
    readonly raftLog: RaftLogStore,
    /** What the raft log held when it was opened. */
    readonly raftState: RaftLogState,
    readonly kv: KvStore,
  ) {}

  /** Opens (creating if needed) `member/raft` (or --wal-dir) and `member/kv` under the data dir. */
  static async open(
    dataDir: string,
    logger: Logger,
    options: { walDir?: string; compactionBatchLimit?: number } = {},
  ): Promise<MemberStorage> {
    const memberDir = join(dataDir, 'member');
    await mkdir(memberDir, { recursive: true });
    const raftDir = options.walDir ?? join(memberDir, 'raft');
    const { store: raftLog, state } = await RaftLogStore.open(raftDir, { logger });
    try {
      const kv = await KvStore.open(join(memberDir, 'kv'), {
        logger,
        ...(options.compactionBatchLimit !== undefined
          ? { compactionBatchLimit: options.compactionBatchLimit }
          : {}),
      });
      return new MemberStorage(memberDir, raftLog, state, kv);
    } catch (err) {
      await raftLog.close();
      throw err;
    }
  }

  /** Where snapshots' state from the leader waits to be installed (etcd's member/snap). */
  get snapshotDir(): string {
    return join(this.memberDir, 'snap');
  }

  /** The raft log holds a member already (etcd: the WAL exists): its data wins over the flags. */
  get hasData(): boolean {
    const s = this.raftState;
    return s.entries.length > 0 || s.snapshotMetadata !== undefined || s.hardState.term !== 0;
  }

  /** Closes both stores; a failure of one does not keep the other open. */
  async close(): Promise<void> {
    const closed = await Promise.allSettled([this.kv.close(), this.raftLog.close()]);
    const failed = closed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** A bootstrapped member: who it is, and the Raft state and cluster state it starts from. */
export interface Bootstrapped {
  readonly storage: MemberStorage;
  /** The config with the identity the member really has (a restart's comes from its data dir). */
  readonly config: ServerConfig;
  readonly memory: MemoryStorage;
  /** A new member: its identity and initial configuration are still to be written. */
  readonly fresh: boolean;
  /** Raft index the stored member list and alarms reflect (0: only the initial cluster). */
  readonly stateIndex: number;
  readonly alarms: AlarmMember[];
  /** Members removed from the cluster: their messages are refused. */
  readonly removed: bigint[];
}

/**
 * A new member takes its identity and voters from the config; a joining one
 * from the cluster it joins (what a member named in --initial-cluster told
 * it); a restarted one from its data dir, whatever the flags say (as in etcd).
 */
export async function bootstrap(
  storage: MemberStorage,
  config: ServerConfig,
  mode: BootMode,
  logger: Logger,
  joined?: ClusterMembers,
): Promise<Bootstrapped> {
  const memory = restoreMemoryStorage(storage.raftState);
  const fresh = !storage.hasData;
  let member: Bootstrapped;
  if (mode === 'joining') {
    if (joined === undefined) throw new Error('joining a cluster needs its member list');
    member = joinedMember(storage, config, memory, joined);
  } else if (fresh) {
    RaftNode.bootstrap(
      memory,
      config.initialMembers.map((m) => m.id),
    );
    // etcd's raft bootstraps a new cluster as a follower of term 1 (it writes
    // the initial conf changes at that term), so its first election makes
    // term 2 and `endpoint status` reads the same here. Kept in memory only:
    // until the first Ready is written the member has no data, and a restart
    // bootstraps again. A term only moves forward, so starting at 1 is safe.
    memory.setHardState({ term: 1, vote: 0n, commit: 0 });
    member = { storage, config, memory, fresh, stateIndex: 0, alarms: [], removed: [] };
  } else {
    const record = await readClusterRecord(storage.memberDir);
    if (!record) {
      throw new Error(
        `data dir ${config.dataDir} holds a raft log but no member/cluster.json: the member's identity is lost. Restore the data dir from a snapshot or remove the member and re-add it.`,
      );
    }
    // A snapshot from the leader whose install a crash cut short is finished first (its state wins).
    const snapshotIndex = storage.raftState.snapshotMetadata?.index ?? 0;
    const recovered = await recoverSnapshotState(storage.kv, storage.snapshotDir, snapshotIndex, logger);
    if (recovered !== undefined) {
      record.members = recovered.members;
      record.removed = recovered.removedMemberIds;
      record.alarms = recovered.alarms;
      record.stateIndex = snapshotIndex;
      await writeClusterRecord(storage.memberDir, record);
    }
    if (record.memberId !== config.memberId) {
      logger.warn(
        { 'stored-member-id': record.memberId.toString(16), 'flags-member-id': config.memberId.toString(16) },
        'restarting with the member ID stored in the data dir; --initial-cluster and peer URL flags only matter to a new member',
      );
    }
    member = {
      storage,
      config: {
        ...config,
        memberId: record.memberId,
        clusterId: record.clusterId,
        initialMembers: record.members,
      },
      memory,
      fresh,
      stateIndex: record.stateIndex ?? 0,
      alarms: record.alarms ?? [],
      removed: record.removed ?? [],
    };
  }
  if (config.forceNewCluster && !member.fresh) await forceNewCluster(member, logger);
  const { kv } = storage;
  logger.info(
    {
      name: member.config.name,
      'local-member-id': member.config.memberId.toString(16),
      'cluster-id': member.config.clusterId.toString(16),
      'data-dir': config.dataDir,
      'applied-index': kv.consistentIndex,
      revision: kv.currentRevision,
      fresh,
    },
    fresh ? 'starting a new member' : 'restarting member from existing data',
  );
  return member;
}

/**
 * A member joining a running cluster (etcd's --initial-cluster-state=existing)
 * finds itself in the cluster's member list by its peer URLs: it must have
 * been added (member add) and never started. It starts from the cluster's
 * initial configuration when the log still begins at index 1, else from
 * nothing, and the leader sends it a snapshot.
 */
function joinedMember(
  storage: MemberStorage,
  config: ServerConfig,
  memory: MemoryStorage,
  joined: ClusterMembers,
): Bootstrapped {
  const list = joined.memberList!;
  const ownUrls = config.initialMembers.find((m) => m.id === config.memberId)?.peerUrls ?? [];
  const self = list.members.find((m) => sameUrls(m.peerUrls, ownUrls));
  if (self === undefined) {
    const members = list.members.map((m) => `${m.name || m.id.toString(16)}=${m.peerUrls.join(',')}`);
    throw new Error(
      `peer URLs ${ownUrls.join(',')} are not a member of the cluster (its members: ${members.join(' ')}); add this member first: etcdctl member add ${config.name} --peer-urls=${ownUrls.join(',')}`,
    );
  }
  if (self.name !== '') {
    throw new Error(
      `member ${self.id.toString(16)} (${self.name}) with peer URLs ${ownUrls.join(',')} has already started in this cluster and its data dir is not here; remove it (etcdctl member remove ${self.id.toString(16)}) and add it again`,
    );
  }
  const initial = joined.initialConfState;
  if (initial !== undefined) RaftNode.bootstrap(memory, initial.voters, initial.learners);
  return {
    storage,
    config: { ...config, memberId: self.id, clusterId: list.header!.clusterId, initialMembers: list.members },
    memory,
    fresh: true,
    stateIndex: 0,
    alarms: [],
    removed: [],
  };
}

function sameUrls(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');
}

/**
 * etcd's --force-new-cluster (restartAsStandaloneNode): a member whose cluster
 * lost its quorum for good restarts as the only member of it, keeping its key
 * space. Entries not known to be committed are dropped, and conf changes that
 * remove every other member (and add this one, if the log does not know it)
 * are appended and committed at once, so applying them leaves a cluster of one.
 */
async function forceNewCluster(member: Bootstrapped, logger: Logger): Promise<void> {
  const { memory, storage, config } = member;
  const hardState = memory.initialState().hardState;
  const self = config.memberId;
  const ids = membersAsOf(memory, hardState.commit);
  const changes: ConfChange[] = [...ids]
    .filter((id) => id !== self)
    .map((id) => ConfChange.create({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: id }));
  if (!ids.has(self)) {
    const own = config.initialMembers.find((m) => m.id === self);
    const context = { id: self.toString(), peerURLs: own?.peerUrls ?? [], isLearner: false };
    changes.push(
      ConfChange.create({
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: self,
        context: Buffer.from(JSON.stringify(context)),
      }),
    );
  }
  const entries: Entry[] = changes.map((cc, i) => ({
    term: hardState.term,
    index: hardState.commit + 1 + i,
    type: EntryType.EntryConfChange,
    data: ConfChange.encode(cc),
  }));
  const forced = { ...hardState, commit: hardState.commit + entries.length };
  await storage.raftLog.save({ hardState: forced, entries }, { sync: true });
  memory.append(entries);
  memory.setHardState(forced);
  logger.warn(
    {
      'commit-index': hardState.commit,
      removed: [...ids].filter((id) => id !== self).map((id) => id.toString(16)),
      'cluster-id': config.clusterId.toString(16),
    },
    "forcing a new one-member cluster from this member's data (--force-new-cluster): uncommitted entries are dropped, the other members removed",
  );
}

/** The members (voters and learners) as the log has them at `index`: its snapshot's, then its conf changes'. */
function membersAsOf(memory: MemoryStorage, index: number): Set<bigint> {
  const conf = memory.snapshot().metadata?.confState;
  const ids = new Set<bigint>([...(conf?.voters ?? []), ...(conf?.learners ?? [])]);
  const first = memory.firstIndex();
  if (index < first) return ids;
  for (const e of memory.entries(first, index + 1, Number.MAX_SAFE_INTEGER)) {
    if (e.type !== EntryType.EntryConfChange) continue;
    const cc = ConfChange.decode(e.data);
    if (cc.type === ConfChangeType.ConfChangeRemoveNode) ids.delete(cc.nodeId);
    else if (cc.type !== ConfChangeType.ConfChangeUpdateNode) ids.add(cc.nodeId);
  }
  return ids;
}

/**
 * Refuses data that cannot be trusted: a key space ahead of the raft log (the
 * log lost entries, or all of them), or a record that fails its checksum
 * (reading every record once verifies them all before anything is served).
 */
export async function checkIntegrity(member: Bootstrapped, logger: Logger): Promise<void> {
  const { kv } = member.storage;
  const { dataDir } = member.config;
  const applied = kv.consistentIndex;
  if (member.fresh && applied > 0) {
    throw new Error(
      `data dir ${dataDir}: the key space has applied index ${applied} but the raft log is empty; the raft log was lost or deleted. Restore from a snapshot or remove the data dir and re-add the member.`,
    );
  }
  const lastIndex = member.memory.lastIndex();
  const snapIndex = member.storage.raftState.snapshotMetadata?.index ?? 0;
  if (applied > lastIndex && applied > snapIndex) {
    throw new Error(
      `data dir ${dataDir}: the key space has applied index ${applied} but the raft log ends at ${lastIndex}; the raft log lost entries. Restore from a snapshot or remove the member and re-add it.`,
    );
  }
  const started = performance.now();
  const { hash, hashRevision } = await kv.hashKV();
  logger.info(
    { revision: hashRevision, hash, 'took-ms': Math.round(performance.now() - started) },
    'key space verified',
  );
}

/**
 * Writes a new member's identity and initial configuration (etcd writes them
 * when it creates the WAL): identity first, since a log without it could not
 * be restarted while an identity without a log is a fresh member.
 */
export async function persistBootstrap(member: Bootstrapped): Promise<void> {
  const { storage, config, memory } = member;
  await writeClusterRecord(storage.memberDir, {
    memberId: config.memberId,
    clusterId: config.clusterId,
    members: config.initialMembers,
  });
  // The initial configuration is snapshot 0: persisted so that a restart knows the voters.
  await storage.raftLog.saveSnapshot(memory.snapshot().metadata!);
}
