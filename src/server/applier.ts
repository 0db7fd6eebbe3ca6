import type { Logger } from 'pino';
import { InternalRaftRequest, type AlarmMember, type Member } from '../proto/etcdserverpb.js';
import {
  ConfChange,
  ConfChangeType,
  EntryType,
  type ConfState,
  type Entry,
  type Snapshot,
} from '../proto/raftpb.js';
import type { KvStore } from '../mvcc/kvStore.js';
import type { Lessor } from '../lease/lessor.js';
import type { AuthStore } from '../auth/authStore.js';
import type { Alarms } from './alarms.js';
import { AuthApplier } from './authApplier.js';
import type { Membership } from './membership.js';
import {
  BackendApplier,
  applyRequest,
  stackFor,
  type Applied,
  type ApplyResult,
  type LeaseEvents,
  type RequestApplier,
} from './requestApplier.js';
import type { Transport } from '../transport/transport.js';
import type { WaitRegistry } from './wait.js';

export interface ApplierDeps {
  kv: KvStore;
  lessor: Lessor;
  alarms: Alarms;
  auth: AuthStore;
  membership: Membership;
  waits: WaitRegistry<ApplyResult>;
  /** Applies a conf change to the Raft core and returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState;
  /** Who the transport reaches: a member added or updated is (re)added, a removed one removed. */
  peers: Pick<Transport, 'addPeer' | 'removePeer'>;
  /** Raft index the stored member list and alarms reflect; replayed entries at or below it leave them alone. */
  stateIndex: number;
  /**
   * Stores the member list and alarms as they were at applied index `index`, once the key
   * space holds that index: the stored state never runs ahead of the key space a restart
   * replays from (else a replayed put could meet an alarm raised after it).
   */
  persistClusterState(index: number, state: ClusterState): Promise<void>;
  /**
   * Puts a snapshot's application state in place of the member's own (the key
   * space, leases, members, alarms), durably; the applier then goes on from
   * the snapshot's index.
   */
  restoreSnapshot(snapshot: Snapshot): Promise<void>;
  logger: Logger;
  /** The key space could not be committed: the member cannot go on. */
  onCommitFailed(err: unknown): void;
  /** Called after every applied batch with the new applied index and its conf state. */
  onApplied(index: number, confState: ConfState | undefined): void;
  /** Called after a snapshot from the leader was installed: applying goes on from its index. */
  onSnapshotInstalled(index: number, confState: ConfState): void;
  /** Applied lease grants (with their TTL) and revokes, for the lease metrics. */
  leaseEvents?: LeaseEvents;
  /** etcd's "apply request took too long": a request slower than the threshold is logged and recorded. */
  slowApply?: { readonly thresholdMs: number; record(): void };
}

/** The member list, removed members and alarms as one applied index has them. */
export interface ClusterState {
  members: Member[];
  removed: bigint[];
  alarms: AlarmMember[];
}

/** Applied entries held in memory at most before the key space is committed (etcd: 10,000). */
const COMMIT_BATCH_ENTRIES = 10_000;
/** How long applied effects wait at most for their commit (etcd's backend batch interval: 100 ms). */
const COMMIT_INTERVAL_MS = 100;

/**
 * Applies committed entries to the state machine (etcd's applyEntries, with
 * the request appliers of requestApplier.ts). Deterministic: every member
 * applies the same entries to the same state and reaches the same result,
 * whoever proposed them. The effects of a batch and its applied index reach
 * disk in one atomic write.
 */
export class Applier {
  private appliedIndex: number;
  private stateIndex: number;
  /** The member list or alarms changed since they were last handed to persistClusterState. */
  private stateDirty = false;
  private readonly backend: BackendApplier;
  /** Checks each entry as the user its header names, above the backend (etcd's authApplierV3). */
  private readonly auth: AuthApplier;
  /** The request appliers for the alarms raised now. */
  private requests: RequestApplier;

  /** The applied index the key space has on disk; effects past it are in memory only. */
  private durableIndex: number;
  private applying = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private commitAfterApply = false;
  private lastCommit: Promise<void> = Promise.resolve();
  private batchDone: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ApplierDeps) {
    this.appliedIndex = deps.kv.consistentIndex;
    this.durableIndex = this.appliedIndex;
    this.stateIndex = deps.stateIndex;
    this.backend = new BackendApplier({
      kv: deps.kv,
      lessor: deps.lessor,
      alarms: deps.alarms,
      auth: deps.auth,
      membership: deps.membership,
      clusterState: { index: () => this.stateIndex, changed: () => (this.stateDirty = true) },
      logger: deps.logger,
      ...(deps.leaseEvents !== undefined ? { leaseEvents: deps.leaseEvents } : {}),
    });
    this.auth = new AuthApplier(this.backend, deps.auth, (id) => deps.kv.keysOfLease(id));
    this.requests = stackFor(this.auth, deps.alarms);
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /**
   * Installs a snapshot from the leader: its state replaces the member's, and
   * applying goes on after its index (etcd's applySnapshot). One the member
   * already holds is skipped.
   */
  async applySnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata?.index ?? 0;
    if (index <= this.appliedIndex) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.lastCommit;
    await this.deps.restoreSnapshot(snapshot);
    this.appliedIndex = index;
    this.durableIndex = index;
    this.stateIndex = index;
    this.stateDirty = false;
    this.requests = stackFor(this.auth, this.deps.alarms);
    this.deps.onSnapshotInstalled(index, snapshot.metadata!.confState!);
  }

  /**
   * Runs `capture` at a moment when everything applied is durable and no
   * batch is being applied, so what it reads (the key space on disk, the
   * members, the applied index) is one consistent state: the state a
   * snapshot sent to a peer stands for.
   */
  async atRest<T>(capture: () => T): Promise<T> {
    for (;;) {
      await this.flush();
      // No await between the check and the capture: nothing can be applied in between.
      if (!this.applying && this.appliedIndex === this.durableIndex) return capture();
    }
  }

  async applyEntries(entries: Entry[]): Promise<void> {
    this.applying = true;
    const batch = this.applyBatch(entries);
    this.batchDone = batch.then(
      () => undefined,
      () => undefined,
    );
    try {
      await batch;
    } finally {
      this.applying = false;
    }
    if (this.commitAfterApply || this.appliedIndex - this.durableIndex >= COMMIT_BATCH_ENTRIES) this.commit();
    else if (this.appliedIndex > this.durableIndex)
      this.flushTimer ??= setTimeout(() => this.onFlushTimer(), COMMIT_INTERVAL_MS);
  }

  /**
   * Writes every applied effect and the applied index to disk now (before the
   * raft log is compacted, and on stop). Resolves once they are durable.
   */
  async flush(): Promise<void> {
    // Called from inside a batch (a snapshot taken on apply): wait for the batch to end first.
    while (this.applying) await this.batchDone;
    if (this.appliedIndex > this.durableIndex) this.commit();
    await this.lastCommit;
  }

  /** Drops the pending timer; the member is stopping. */
  stop(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private onFlushTimer(): void {
    this.flushTimer = undefined;
    // A commit in the middle of a batch would write effects beyond the applied index it records.
    if (this.applying) this.commitAfterApply = true;
    else this.commit();
  }

  /**
   * Called only between batches: the key space then holds exactly the effects
   * of the entries up to appliedIndex, which commit() takes at once and writes
   * in one atomic batch with that index (etcd's backend batch interval: the
   * raft log is the durable record, and a restart replays what is not here).
   */
  private commit(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.commitAfterApply = false;
    const index = this.appliedIndex;
    // Members and alarms as of `index`, stored only once the key space holds `index`.
    const state = this.stateDirty
      ? {
          members: this.deps.membership.list(),
          removed: this.deps.membership.removedIds(),
          alarms: this.deps.alarms.list(),
        }
      : undefined;
    this.stateDirty = false;
    const done = this.deps.kv.commit({ consistentIndex: index }).then(async () => {
      this.durableIndex = Math.max(this.durableIndex, index);
      if (state) await this.deps.persistClusterState(index, state);
    });
    this.lastCommit = done;
    done.catch((err: unknown) => this.deps.onCommitFailed(err));
  }

  private async applyBatch(entries: Entry[]): Promise<void> {
    let confState: ConfState | undefined;
    const results: Array<[bigint, ApplyResult]> = [];
    let last = this.appliedIndex;
    for (const entry of entries) {
      if (entry.index <= this.appliedIndex) {
        // Replayed after a restart: its effects are in the key space already,
        // but the Raft configuration is rebuilt only from the snapshot and so
        // must see every conf change after it again. A change the core refused
        // the first time is refused again, and that is no reason to stop.
        if (entry.type === EntryType.EntryConfChange) {
          try {
            confState = this.applyConfChange(ConfChange.decode(entry.data), entry.index);
          } catch {
            // Refused alike on every member, then and now.
          }
        } else if (
          entry.type === EntryType.EntryNormal &&
          entry.index > this.stateIndex &&
          entry.data.length > 0
        ) {
          // The stored members and alarms may lag the key space (a crash between the two
          // writes): bring them up to it.
          await this.replayClusterState(InternalRaftRequest.decode(entry.data), entry.index);
        }
        continue;
      }
      last = entry.index;
      if (entry.type === EntryType.EntryNormal) {
        if (entry.data.length === 0) continue; // a new leader's empty entry
        const req = InternalRaftRequest.decode(entry.data);
        results.push([req.header?.id ?? req.id, await this.applyRequest(req, entry.index)]);
        if (req.alarm) this.requests = stackFor(this.auth, this.deps.alarms);
      } else if (entry.type === EntryType.EntryConfChange) {
        const cc = ConfChange.decode(entry.data);
        try {
          confState = this.applyConfChange(cc, entry.index);
          results.push([BigInt(cc.id), { applied: { kind: 'confChange', response: confState } }]);
        } catch (err) {
          // The core refused the change and left its configuration as it was; so does every member.
          results.push([BigInt(cc.id), { error: err instanceof Error ? err : new Error(String(err)) }]);
        }
      } else {
        this.deps.logger.warn(
          { index: entry.index },
          'ConfChangeV2 entries are not proposed by this server; skipped',
        );
      }
    }
    if (last === this.appliedIndex) {
      // Only replayed entries: the configuration they rebuilt is the one the next snapshot must record.
      if (confState) this.deps.onApplied(last, confState);
      return;
    }
    this.appliedIndex = last;
    for (const [id, result] of results) this.deps.waits.trigger(id, result);
    this.deps.onApplied(last, confState);
  }

  private async applyRequest(req: InternalRaftRequest, index: number): Promise<ApplyResult> {
    const started = performance.now();
    try {
      const applied: Applied = await this.auth.as(req.header, () => applyRequest(this.requests, req, index));
      return { applied };
    } catch (err) {
      return { error: err instanceof Error ? err : new Error(String(err)) };
    } finally {
      this.noteSlow(performance.now() - started, req, index);
    }
  }

  private noteSlow(tookMs: number, req: InternalRaftRequest, index: number): void {
    const slow = this.deps.slowApply;
    if (slow === undefined || tookMs <= slow.thresholdMs) return;
    slow.record();
    this.deps.logger.warn(
      {
        took: `${tookMs.toFixed(1)}ms`,
        'expected-duration': `${slow.thresholdMs}ms`,
        index,
        request: Object.keys(InternalRaftRequest.toJSON(req)).filter((k) => k !== 'header'),
      },
      'apply request took too long',
    );
  }

  /**
   * The member-list and alarm effects of a replayed entry whose key-space effects are on disk
   * already (the stored state lagged the key space: a crash between the two writes).
   */
  private async replayClusterState(req: InternalRaftRequest, index: number): Promise<void> {
    if (req.alarm) {
      await this.backend.alarm(req.alarm, index);
      this.requests = stackFor(this.auth, this.deps.alarms);
    }
    if (req.clusterMemberAttrSet) await this.backend.clusterMemberAttrSet(req.clusterMemberAttrSet, index);
  }

  private applyConfChange(cc: ConfChange, index: number): ConfState {
    const confState = this.deps.applyConfChange(cc);
    // The stored list already holds this change (it was saved before a crash cut the batch short).
    if (index <= this.stateIndex) return confState;
    this.stateDirty = true;
    const { membership } = this.deps;
    switch (cc.type) {
      case ConfChangeType.ConfChangeRemoveNode:
        membership.remove(cc.nodeId);
        this.deps.peers.removePeer(cc.nodeId);
        break;
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode:
      case ConfChangeType.ConfChangeUpdateNode:
        if (cc.context.length > 0) {
          // etcd's conf change context: the member as JSON (membership.Member).
          const member = JSON.parse(Buffer.from(cc.context).toString('utf8')) as {
            peerURLs?: string[];
            isLearner?: boolean;
            name?: string;
          };
          if (membership.has(cc.nodeId)) {
            if (cc.type === ConfChangeType.ConfChangeAddNode && member.isLearner === false)
              membership.promote(cc.nodeId);
            membership.updatePeerUrls(cc.nodeId, member.peerURLs ?? []);
          } else {
            membership.add({
              id: cc.nodeId,
              name: member.name ?? '',
              peerUrls: member.peerURLs ?? [],
              clientUrls: [],
              isLearner: cc.type === ConfChangeType.ConfChangeAddLearnerNode,
            });
          }
          this.deps.peers.addPeer({ id: cc.nodeId, peerUrls: member.peerURLs ?? [] });
        }
        break;
    }
    return confState;
  }
}
