/**
 * Snapshots between members (etcd's createMergedSnapshotMessage on the
 * leader, applySnapshot and recoverSnapshotBackend on the follower). Raft
 * decides that a follower needs a snapshot; what it sends is the member's
 * state as it is now, at the applied index, which is committed and so at or
 * past the snapshot Raft had in mind. The follower's transport keeps the state
 * in a file named by the index, and applying the snapshot swaps it in.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Message, type ConfState, type Snapshot } from '../proto/raftpb.js';
import type { SnapshotState } from '../proto/xetcdpb.js';
import type { KvStore } from '../mvcc/kvStore.js';
import type { WatchableStore } from '../mvcc/watchableStore.js';
import type { Lessor } from '../lease/lessor.js';
import { pathExists } from '../storage/pathExists.js';
import { snapshotStatePath } from '../transport/snapshotReceiver.js';
import type { OutgoingSnapshot, Transport } from '../transport/transport.js';
import type { Alarms } from './alarms.js';
import type { ClusterState } from './applier.js';
import type { Membership } from './membership.js';
import { encodeSnapshotState, readSnapshotState } from './peerSnapshot.js';

export interface PeerSnapshotsDeps {
  readonly snapshotDir: string;
  readonly kv: KvStore;
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  readonly membership: Membership;
  readonly alarms: Alarms;
  readonly transport: Pick<Transport, 'sendSnapshot' | 'addPeer' | 'removePeer'>;
  /** Runs `capture` when everything applied is durable and nothing is being applied. */
  atRest<T>(capture: () => T): Promise<T>;
  appliedIndex(): number;
  /** The Raft configuration as of the applied index, and the term of an index still in the log. */
  confState(): ConfState;
  termOf(index: number): number;
  persistClusterState(index: number, state: ClusterState): Promise<void>;
  /** The auth store reads its state again from the key space's backend, which the snapshot replaced. */
  reloadAuth(): Promise<void>;
  /** Raft could not be given the snapshot it asked for. */
  reportFailure(to: bigint): void;
  readonly logger: Logger;
}

export class PeerSnapshots {
  constructor(private readonly deps: PeerSnapshotsDeps) {}

  /** A MsgSnap from Raft: sent with the member's state as of now. */
  send(m: Message): void {
    this.prepare(m).then(
      (snapshot) => this.deps.transport.sendSnapshot(snapshot),
      (err: unknown) => {
        this.deps.logger.warn({ err, to: m.to.toString(16) }, 'preparing a snapshot for a peer failed');
        this.deps.reportFailure(m.to);
      },
    );
  }

  /**
   * Puts the state that came with `snapshot` in place of the member's own,
   * durably: the key space (with its leases and the auth store), the members and the alarms;
   * watchers catch up from the new key space. The state file goes once it is in.
   */
  async restore(snapshot: Snapshot): Promise<void> {
    const { deps } = this;
    const index = snapshot.metadata?.index ?? 0;
    const started = performance.now();
    const state = await installState(deps.kv, deps.snapshotDir, index);
    const before = new Set(deps.membership.list().map((m) => m.id));
    deps.lessor.recover(deps.kv.leases());
    await deps.reloadAuth();
    deps.membership.replaceAll(state.members, state.removedMemberIds);
    deps.alarms.replaceAll(state.alarms);
    for (const m of deps.membership.list()) {
      before.delete(m.id);
      deps.transport.addPeer({ id: m.id, peerUrls: m.peerUrls });
    }
    for (const gone of before) deps.transport.removePeer(gone);
    await deps.persistClusterState(index, {
      members: deps.membership.list(),
      removed: deps.membership.removedIds(),
      alarms: deps.alarms.list(),
    });
    deps.watchable.resync();
    await removeStateFiles(deps.snapshotDir, index);
    deps.logger.info(
      {
        index,
        revision: deps.kv.currentRevision,
        members: deps.membership.list().length,
        'took-ms': Math.round(performance.now() - started),
      },
      'installed a snapshot from the leader',
    );
  }

  private async prepare(m: Message): Promise<OutgoingSnapshot> {
    const { deps } = this;
    const captured = await deps.atRest(() => ({
      index: deps.appliedIndex(),
      confState: deps.confState(),
      view: deps.kv.recordsAsOfNow(),
      state: {
        members: deps.membership.list(),
        removedMemberIds: deps.membership.removedIds(),
        alarms: deps.alarms.list(),
      },
    }));
    const { index, confState, view } = captured;
    try {
      const message = Message.create({
        ...m,
        snapshot: { data: new Uint8Array(0), metadata: { index, term: deps.termOf(index), confState } },
      });
      const state: SnapshotState = { index, ...captured.state };
      return { message, body: encodeSnapshotState(state, view.records), close: () => view.release() };
    } catch (err) {
      await view.release();
      throw err;
    }
  }
}

/**
 * A member whose raft log holds a snapshot its key space is behind (a crash
 * cut an install short) finishes the install from the state file before it
 * starts (etcd's recoverSnapshotBackend). Returns the cluster state the file
 * carried, or undefined when the key space was not behind.
 */
export async function recoverSnapshotState(
  kv: KvStore,
  snapshotDir: string,
  snapshotIndex: number,
  logger: Logger,
): Promise<SnapshotState | undefined> {
  if (kv.consistentIndex >= snapshotIndex) {
    await removeStateFiles(snapshotDir, kv.consistentIndex);
    return undefined;
  }
  const path = snapshotStatePath(snapshotDir, snapshotIndex);
  if (!(await pathExists(path))) {
    throw new Error(
      `the key space is at applied index ${kv.consistentIndex} but the raft log holds a snapshot at ${snapshotIndex}, and the snapshot's state (${path}) is missing; remove the member's data dir and re-add it`,
    );
  }
  logger.warn(
    { 'applied-index': kv.consistentIndex, 'snapshot-index': snapshotIndex },
    'finishing the install of a snapshot a crash interrupted',
  );
  const state = await installState(kv, snapshotDir, snapshotIndex);
  await removeStateFiles(snapshotDir, snapshotIndex);
  return state;
}

async function installState(kv: KvStore, snapshotDir: string, index: number): Promise<SnapshotState> {
  const path = snapshotStatePath(snapshotDir, index);
  const { state, records } = await readSnapshotState(path);
  if (state.index !== index) {
    throw new Error(`snapshot state ${path} is at index ${state.index}, not ${index}`);
  }
  await kv.replaceWith(records);
  if (kv.consistentIndex !== index) {
    throw new Error(
      `snapshot state ${path} holds a key space at applied index ${kv.consistentIndex}, not ${index}`,
    );
  }
  return state;
}

/** State files at or below `index` are applied or superseded. */
async function removeStateFiles(snapshotDir: string, index: number): Promise<void> {
  let names: string[];
  try {
    names = await readdir(snapshotDir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /^([0-9a-f]{16})\.snap\.db$/.exec(name);
    if (match && Number.parseInt(match[1]!, 16) <= index) await rm(join(snapshotDir, name), { force: true });
  }
}
