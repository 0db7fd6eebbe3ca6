import type { Logger } from 'pino';
import {
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmResponse,
  AlarmType,
  InternalRaftRequest,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  type AlarmRequest,
  type TxnRequest,
} from '../proto/etcdserverpb.js';
import { ConfChange, ConfChangeType, EntryType, type ConfState, type Entry, type Snapshot } from '../proto/raftpb.js';
import { applyCompaction, applyDeleteRange, applyPut, applyRange, applyTxn } from '../mvcc/kvRequests.js';
import type { KvStore } from '../mvcc/kvStore.js';
import type { Lessor } from '../lease/lessor.js';
import { ErrCorrupt, ErrLeaseExist, ErrLeaseNotFound, ErrNoSpace } from '../api/rpcErrors.js';
import type { Alarms } from './alarms.js';
import type { Membership } from './membership.js';
import type { WaitRegistry } from './wait.js';

/** What a proposer gets back once its entry is applied. */
export interface ApplyResult {
  response?: unknown;
  error?: Error;
  /** A physical compaction's completion, awaited by the proposer, never by the apply loop. */
  physicalDone?: Promise<void>;
}

export interface ApplierDeps {
  kv: KvStore;
  lessor: Lessor;
  alarms: Alarms;
  membership: Membership;
  waits: WaitRegistry<ApplyResult>;
  /** Applies a conf change to the Raft core and returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState;
  /** Raft index the stored member list and alarms reflect; replayed entries at or below it leave them alone. */
  stateIndex: number;
  /** Stores the member list and alarms as of `index`; awaited before the batch's applied index is written. */
  persistClusterState(index: number): Promise<void>;
  logger: Logger;
  /** Called after every applied batch with the new applied index and its conf state. */
  onApplied(index: number, confState: ConfState | undefined): void;
}

/**
 * Applies committed entries to the state machine (etcd's applierV3 and
 * applyEntries). Deterministic: every member applies the same entries to the
 * same state and reaches the same result, whoever proposed them. The effects
 * of a batch and its applied index reach disk in one atomic write.
 */
export class Applier {
  private appliedIndex: number;
  private stateIndex: number;
  /** Index of the newest entry of the current batch that changed the member list or alarms, if any. */
  private stateChangedAt = 0;

  constructor(private readonly deps: ApplierDeps) {
    this.appliedIndex = deps.kv.consistentIndex;
    this.stateIndex = deps.stateIndex;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  async applySnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata?.index ?? 0;
    if (index <= this.appliedIndex) return;
    // A snapshot carries another member's state machine; restoring it needs the
    // peer snapshot transfer of a multi-member cluster, which a one-member
    // cluster never receives.
    throw new Error(
      `received a raft snapshot at index ${index} but applied is ${this.appliedIndex}; restoring member state from a peer snapshot is not supported`,
    );
  }

  async applyEntries(entries: Entry[]): Promise<void> {
    let confState: ConfState | undefined;
    const results: Array<[bigint, ApplyResult]> = [];
    let last = this.appliedIndex;
    this.stateChangedAt = 0;
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
        }
        continue;
      }
      last = entry.index;
      if (entry.type === EntryType.EntryNormal) {
        if (entry.data.length === 0) continue; // a new leader's empty entry
        const req = InternalRaftRequest.decode(entry.data);
        results.push([req.header?.id ?? req.id, await this.applyRequest(req, entry.index)]);
      } else if (entry.type === EntryType.EntryConfChange) {
        const cc = ConfChange.decode(entry.data);
        try {
          confState = this.applyConfChange(cc, entry.index);
          results.push([BigInt(cc.id), {}]);
        } catch (err) {
          // The core refused the change and left its configuration as it was; so does every member.
          results.push([BigInt(cc.id), { error: err instanceof Error ? err : new Error(String(err)) }]);
        }
      } else {
        this.deps.logger.warn({ index: entry.index }, 'ConfChangeV2 entries are not proposed by this server; skipped');
      }
    }
    if (this.stateChangedAt > 0) {
      // Before the applied index: a crash in between replays the batch, and the
      // stored state's index keeps the replay from applying its changes twice.
      await this.deps.persistClusterState(this.stateChangedAt);
      this.stateIndex = this.stateChangedAt;
    }
    if (last === this.appliedIndex) {
      // Only replayed entries: the configuration they rebuilt is the one the next snapshot must record.
      if (confState) this.deps.onApplied(last, confState);
      return;
    }
    await this.deps.kv.commit({ consistentIndex: last });
    this.appliedIndex = last;
    for (const [id, result] of results) this.deps.waits.trigger(id, result);
    this.deps.onApplied(last, confState);
  }

  private async applyRequest(req: InternalRaftRequest, index: number): Promise<ApplyResult> {
    const { kv } = this.deps;
    try {
      // As etcd stacks its appliers: NOSPACE refuses growing writes first, then CORRUPT refuses
      // every key-space and lease request that goes through the log.
      const capped = this.spaceExceeded() && (req.put !== undefined || req.leaseGrant !== undefined || (req.txn !== undefined && txnHasPut(req.txn)));
      if (capped) return { error: ErrNoSpace };
      if (this.deps.alarms.has(AlarmType.CORRUPT) && touchesKeySpace(req)) return { error: ErrCorrupt };
      if (req.put) return { response: await applyPut(kv, req.put) };
      if (req.deleteRange) return { response: await applyDeleteRange(kv, req.deleteRange) };
      if (req.txn) return { response: await applyTxn(kv, req.txn) };
      if (req.range) return { response: await applyRange(kv, req.range) };
      if (req.compaction) {
        const { response, physicalDone } = await applyCompaction(kv, req.compaction);
        return { response, physicalDone };
      }
      if (req.leaseGrant) {
        const { id, ttl } = req.leaseGrant;
        if (kv.lease(id)) return { error: ErrLeaseExist };
        const granted = this.deps.lessor.effectiveTtl(ttl);
        kv.leaseGrant(id, granted);
        this.deps.lessor.grant(id, granted);
        return { response: LeaseGrantResponse.create({ id, ttl: granted }) };
      }
      if (req.leaseRevoke) {
        const { id } = req.leaseRevoke;
        if (!kv.lease(id)) return { error: ErrLeaseNotFound };
        await kv.leaseRevoke(id);
        this.deps.lessor.revoke(id);
        return { response: LeaseRevokeResponse.create() };
      }
      if (req.leaseCheckpoint) {
        for (const cp of req.leaseCheckpoint.checkpoints) {
          kv.leaseCheckpoint(cp.id, cp.remainingTtl);
          this.deps.lessor.checkpoint(cp.id, cp.remainingTtl);
        }
        return { response: {} };
      }
      if (req.alarm) return { response: this.applyAlarm(req.alarm, index) };
      if (req.clusterMemberAttrSet) {
        const { memberId, memberAttributes } = req.clusterMemberAttrSet;
        if (index > this.stateIndex) {
          this.deps.membership.setAttributes(memberId, memberAttributes?.name ?? '', memberAttributes?.clientUrls ?? []);
          this.stateChangedAt = index;
        }
        return { response: {} };
      }
      if (req.clusterVersionSet) return { response: {} };
      return { error: new Error('etcdserver: unsupported request in raft log') };
    } catch (err) {
      return { error: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  private applyAlarm(req: AlarmRequest, index: number): AlarmResponse {
    const { alarms } = this.deps;
    const member = { memberId: req.memberId, alarm: req.alarm };
    // Already in the stored alarms (a crash cut the batch short after they were saved).
    if (index <= this.stateIndex && req.action !== AlarmAction.GET) return AlarmResponse.create();
    if (req.action !== AlarmAction.GET) this.stateChangedAt = index;
    switch (req.action) {
      case AlarmAction.GET:
        return AlarmResponse.create({ alarms: alarms.list(req.alarm) });
      case AlarmAction.ACTIVATE: {
        const raised = alarms.activate(member);
        if (raised) this.deps.logger.warn({ alarm: AlarmType[raised.alarm], memberId: raised.memberId.toString(16) }, 'alarm raised');
        return AlarmResponse.create({ alarms: raised ? [raised] : [] });
      }
      case AlarmAction.DEACTIVATE: {
        const cleared = alarms.deactivate(member);
        if (cleared) this.deps.logger.info({ alarm: AlarmType[cleared.alarm] }, 'alarm disarmed');
        return AlarmResponse.create({ alarms: cleared ? [cleared] : [] });
      }
    }
    return AlarmResponse.create();
  }

  private applyConfChange(cc: ConfChange, index: number): ConfState {
    const confState = this.deps.applyConfChange(cc);
    // The stored list already holds this change (it was saved before a crash cut the batch short).
    if (index <= this.stateIndex) return confState;
    this.stateChangedAt = index;
    const { membership } = this.deps;
    switch (cc.type) {
      case ConfChangeType.ConfChangeRemoveNode:
        membership.remove(cc.nodeId);
        break;
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode:
      case ConfChangeType.ConfChangeUpdateNode:
        if (cc.context.length > 0) {
          // etcd's conf change context: the member as JSON (membership.Member).
          const member = JSON.parse(Buffer.from(cc.context).toString('utf8')) as { peerURLs?: string[]; isLearner?: boolean; name?: string };
          if (membership.has(cc.nodeId)) {
            if (cc.type === ConfChangeType.ConfChangeAddNode && member.isLearner === false) membership.promote(cc.nodeId);
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
        }
        break;
    }
    return confState;
  }

  private spaceExceeded(): boolean {
    return this.deps.alarms.has(AlarmType.NOSPACE);
  }
}

/** The requests etcd's corrupt applier refuses. */
function touchesKeySpace(req: InternalRaftRequest): boolean {
  return (
    req.put !== undefined ||
    req.range !== undefined ||
    req.deleteRange !== undefined ||
    req.txn !== undefined ||
    req.compaction !== undefined ||
    req.leaseGrant !== undefined ||
    req.leaseRevoke !== undefined
  );
}

function txnHasPut(txn: TxnRequest): boolean {
  return [...txn.success, ...txn.failure].some((op) => op.requestPut !== undefined || (op.requestTxn !== undefined && txnHasPut(op.requestTxn)));
}
