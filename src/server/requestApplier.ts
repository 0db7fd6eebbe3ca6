// The request appliers as etcd stacks them (etcdserver/apply.go and its
// uber applier): one interface, the backend that applies to the key space
// and the lessor, and wrappers that refuse what an alarm forbids. Every
// member builds the same stack from the same alarms, so every member refuses
// the same entries.
import type { Logger } from 'pino';
import {
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmResponse,
  AlarmType,
  LeaseCheckpointResponse,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  type AlarmRequest,
  type ClusterMemberAttrSetRequest,
  type ClusterVersionSetRequest,
  type CompactionRequest,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type InternalRaftRequest,
  type LeaseCheckpointRequest,
  type LeaseGrantRequest,
  type LeaseRevokeRequest,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
} from '../proto/etcdserverpb.js';
import type { ConfState } from '../proto/raftpb.js';
import { applyCompaction, applyDeleteRange, applyPut, applyRange, applyTxn } from '../mvcc/kvRequests.js';
import type { KvStore } from '../mvcc/kvStore.js';
import type { Lessor } from '../lease/lessor.js';
import {
  AUTH_CHANGE_KINDS,
  type AuthChangeKind,
  type AuthChanges,
  type AuthStore,
} from '../auth/authStore.js';
import type { Alarms } from './alarms.js';
import { ErrCorrupt, ErrLeaseExist, ErrLeaseNotFound, ErrNoSpace, ErrUnsupportedRequest } from './errors.js';
import type { Membership } from './membership.js';

/** A compaction's answer, and the physical compaction its proposer may wait for (the apply loop never does). */
export interface CompactionApplied {
  readonly response: CompactionResponse;
  readonly physicalDone: Promise<void>;
}

/** Every auth change answers with a bare header, which the server fills. */
type AuthChangeResponses = { [K in AuthChangeKind]: undefined };

/** What applying each kind of entry answers its proposer. */
export interface AppliedResponses extends AuthChangeResponses {
  range: RangeResponse;
  put: PutResponse;
  deleteRange: DeleteRangeResponse;
  txn: TxnResponse;
  compaction: CompactionApplied;
  leaseGrant: LeaseGrantResponse;
  leaseRevoke: LeaseRevokeResponse;
  leaseCheckpoint: LeaseCheckpointResponse;
  alarm: AlarmResponse;
  clusterMemberAttrSet: undefined;
  clusterVersionSet: undefined;
  /** A membership change: the configuration it left. */
  confChange: ConfState;
}

export type AppliedKind = keyof AppliedResponses;
/** The kinds of InternalRaftRequest this server applies. */
export type RequestKind = Exclude<AppliedKind, 'confChange'>;

/** One applied entry's answer of kind K. */
export interface AppliedOf<K extends AppliedKind> {
  readonly kind: K;
  readonly response: AppliedResponses[K];
}
/** One applied entry's answer, tagged with its kind. */
export type Applied = { [K in AppliedKind]: AppliedOf<K> }[AppliedKind];

/** What the proposer of an entry gets once it is applied: the answer, or why it was refused. */
export type ApplyResult = { readonly applied: Applied } | { readonly error: Error };

/**
 * etcd's applierV3: one method per request. A method that refuses throws; the
 * entry applier turns that into the proposer's error. Entries carry their raft
 * index to what keeps cluster state, whose replay must not count an entry twice.
 */
export interface RequestApplier {
  range(req: RangeRequest): Promise<RangeResponse>;
  put(req: PutRequest): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse>;
  txn(req: TxnRequest): Promise<TxnResponse>;
  compaction(req: CompactionRequest): Promise<CompactionApplied>;
  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse>;
  leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse>;
  leaseCheckpoint(req: LeaseCheckpointRequest): Promise<LeaseCheckpointResponse>;
  alarm(req: AlarmRequest, index: number): Promise<AlarmResponse>;
  clusterMemberAttrSet(req: ClusterMemberAttrSetRequest, index: number): Promise<undefined>;
  clusterVersionSet(req: ClusterVersionSetRequest): Promise<undefined>;
  /** A change of users, roles, permissions, or of auth being on (etcd's applier's Auth* methods). */
  authChange<K extends AuthChangeKind>(kind: K, req: AuthChanges[K]): Promise<undefined>;
}

/** Hands a decoded entry to the method for its request (etcd's applierV3backend.Apply). */
export async function applyRequest(
  a: RequestApplier,
  req: InternalRaftRequest,
  index: number,
): Promise<Applied> {
  if (req.put) return { kind: 'put', response: await a.put(req.put) };
  if (req.deleteRange) return { kind: 'deleteRange', response: await a.deleteRange(req.deleteRange) };
  if (req.txn) return { kind: 'txn', response: await a.txn(req.txn) };
  if (req.range) return { kind: 'range', response: await a.range(req.range) };
  if (req.compaction) return { kind: 'compaction', response: await a.compaction(req.compaction) };
  if (req.leaseGrant) return { kind: 'leaseGrant', response: await a.leaseGrant(req.leaseGrant) };
  if (req.leaseRevoke) return { kind: 'leaseRevoke', response: await a.leaseRevoke(req.leaseRevoke) };
  if (req.leaseCheckpoint)
    return { kind: 'leaseCheckpoint', response: await a.leaseCheckpoint(req.leaseCheckpoint) };
  if (req.alarm) return { kind: 'alarm', response: await a.alarm(req.alarm, index) };
  if (req.clusterMemberAttrSet)
    return {
      kind: 'clusterMemberAttrSet',
      response: await a.clusterMemberAttrSet(req.clusterMemberAttrSet, index),
    };
  if (req.clusterVersionSet)
    return { kind: 'clusterVersionSet', response: await a.clusterVersionSet(req.clusterVersionSet) };
  const kind = authChangeOf(req);
  if (kind !== undefined) return applyAuthChange(a, kind, req);
  throw ErrUnsupportedRequest;
}

/** The auth change an entry carries, if it is one. */
export function authChangeOf(req: InternalRaftRequest): AuthChangeKind | undefined {
  return AUTH_CHANGE_KINDS.find((kind) => req[kind] !== undefined);
}

async function applyAuthChange<K extends AuthChangeKind>(
  a: RequestApplier,
  kind: K,
  req: InternalRaftRequest,
): Promise<Applied> {
  // authChangeOf found this field set.
  const change = req[kind] as AuthChanges[K];
  return { kind, response: await a.authChange(kind, change) } as Applied;
}

/**
 * The member list and alarms kept beside the key space (clusterRecord.ts):
 * an entry at or below `index()` is already in the stored state (a crash cut
 * its batch short after the state was saved), so it changes nothing there.
 */
export interface ClusterStateIndex {
  index(): number;
  /** The member list or alarms changed and must be stored again. */
  changed(): void;
}

export interface BackendApplierDeps {
  kv: KvStore;
  lessor: Lessor;
  auth: AuthStore;
  alarms: Alarms;
  membership: Membership;
  clusterState: ClusterStateIndex;
  logger: Logger;
  leaseEvents?: LeaseEvents;
}

/** What the lease metrics count of applied requests (etcd's lessor Grant and Revoke). */
export interface LeaseEvents {
  granted(ttl: number): void;
  revoked(): void;
}

/** etcd's applierV3backend: applies to the key space, the lessor, the alarms and the member list. */
export class BackendApplier implements RequestApplier {
  constructor(private readonly deps: BackendApplierDeps) {}

  range(req: RangeRequest): Promise<RangeResponse> {
    return applyRange(this.deps.kv, req);
  }

  put(req: PutRequest): Promise<PutResponse> {
    return applyPut(this.deps.kv, req);
  }

  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return applyDeleteRange(this.deps.kv, req);
  }

  txn(req: TxnRequest): Promise<TxnResponse> {
    return applyTxn(this.deps.kv, req);
  }

  compaction(req: CompactionRequest): Promise<CompactionApplied> {
    return applyCompaction(this.deps.kv, req);
  }

  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const { kv, lessor } = this.deps;
    if (kv.lease(req.id)) return Promise.reject(ErrLeaseExist);
    const granted = lessor.effectiveTtl(req.ttl);
    kv.leaseGrant(req.id, granted);
    lessor.grant(req.id, granted);
    this.deps.leaseEvents?.granted(granted);
    return Promise.resolve(LeaseGrantResponse.create({ id: req.id, ttl: granted }));
  }

  async leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    const { kv, lessor } = this.deps;
    if (!kv.lease(req.id)) throw ErrLeaseNotFound;
    await kv.leaseRevoke(req.id);
    lessor.revoke(req.id);
    this.deps.leaseEvents?.revoked();
    return LeaseRevokeResponse.create();
  }

  leaseCheckpoint(req: LeaseCheckpointRequest): Promise<LeaseCheckpointResponse> {
    for (const cp of req.checkpoints) {
      this.deps.kv.leaseCheckpoint(cp.id, cp.remainingTtl);
      this.deps.lessor.checkpoint(cp.id, cp.remainingTtl);
    }
    return Promise.resolve(LeaseCheckpointResponse.create());
  }

  alarm(req: AlarmRequest, index: number): Promise<AlarmResponse> {
    return Promise.resolve(this.applyAlarm(req, index));
  }

  clusterMemberAttrSet(req: ClusterMemberAttrSetRequest, index: number): Promise<undefined> {
    if (index > this.deps.clusterState.index()) {
      this.deps.membership.setAttributes(
        req.memberId,
        req.memberAttributes?.name ?? '',
        req.memberAttributes?.clientUrls ?? [],
      );
      this.deps.clusterState.changed();
    }
    return Promise.resolve(undefined);
  }

  clusterVersionSet(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  authChange<K extends AuthChangeKind>(kind: K, req: AuthChanges[K]): Promise<undefined> {
    this.deps.auth.apply(kind, req);
    return Promise.resolve(undefined);
  }

  private applyAlarm(req: AlarmRequest, index: number): AlarmResponse {
    const { alarms, clusterState, logger } = this.deps;
    const member = { memberId: req.memberId, alarm: req.alarm };
    if (req.action !== AlarmAction.GET) {
      if (index <= clusterState.index()) return AlarmResponse.create();
      clusterState.changed();
    }
    switch (req.action) {
      case AlarmAction.GET:
        return AlarmResponse.create({ alarms: alarms.list(req.alarm) });
      case AlarmAction.ACTIVATE: {
        const raised = alarms.activate(member);
        if (raised)
          logger.warn(
            { alarm: AlarmType[raised.alarm], 'member-id': raised.memberId.toString(16) },
            'alarm raised',
          );
        return AlarmResponse.create({ alarms: raised ? [raised] : [] });
      }
      case AlarmAction.DEACTIVATE: {
        const cleared = alarms.deactivate(member);
        if (cleared) logger.info({ alarm: AlarmType[cleared.alarm] }, 'alarm disarmed');
        return AlarmResponse.create({ alarms: cleared ? [cleared] : [] });
      }
    }
    return AlarmResponse.create();
  }
}

/** A wrapper passes every request on to the applier below it, but those it overrides (Go's embedding). */
export class RequestApplierWrapper implements RequestApplier {
  constructor(protected readonly next: RequestApplier) {}

  range(req: RangeRequest): Promise<RangeResponse> {
    return this.next.range(req);
  }

  put(req: PutRequest): Promise<PutResponse> {
    return this.next.put(req);
  }

  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return this.next.deleteRange(req);
  }

  txn(req: TxnRequest): Promise<TxnResponse> {
    return this.next.txn(req);
  }

  compaction(req: CompactionRequest): Promise<CompactionApplied> {
    return this.next.compaction(req);
  }

  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    return this.next.leaseGrant(req);
  }

  leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    return this.next.leaseRevoke(req);
  }

  leaseCheckpoint(req: LeaseCheckpointRequest): Promise<LeaseCheckpointResponse> {
    return this.next.leaseCheckpoint(req);
  }

  alarm(req: AlarmRequest, index: number): Promise<AlarmResponse> {
    return this.next.alarm(req, index);
  }

  clusterMemberAttrSet(req: ClusterMemberAttrSetRequest, index: number): Promise<undefined> {
    return this.next.clusterMemberAttrSet(req, index);
  }

  clusterVersionSet(req: ClusterVersionSetRequest): Promise<undefined> {
    return this.next.clusterVersionSet(req);
  }

  authChange<K extends AuthChangeKind>(kind: K, req: AuthChanges[K]): Promise<undefined> {
    return this.next.authChange(kind, req);
  }
}

/** etcd's applierV3Capped: with NOSPACE raised, nothing that grows the key space is applied. */
export class CappedApplier extends RequestApplierWrapper {
  override put(): Promise<PutResponse> {
    return Promise.reject(ErrNoSpace);
  }

  override txn(req: TxnRequest): Promise<TxnResponse> {
    if (txnHasPut(req)) return Promise.reject(ErrNoSpace);
    return this.next.txn(req);
  }

  override leaseGrant(): Promise<LeaseGrantResponse> {
    return Promise.reject(ErrNoSpace);
  }
}

/** etcd's applierV3Corrupt: with CORRUPT raised, nothing touches the key space or the leases. */
export class CorruptApplier extends RequestApplierWrapper {
  override range(): Promise<RangeResponse> {
    return Promise.reject(ErrCorrupt);
  }

  override put(): Promise<PutResponse> {
    return Promise.reject(ErrCorrupt);
  }

  override deleteRange(): Promise<DeleteRangeResponse> {
    return Promise.reject(ErrCorrupt);
  }

  override txn(): Promise<TxnResponse> {
    return Promise.reject(ErrCorrupt);
  }

  override compaction(): Promise<CompactionApplied> {
    return Promise.reject(ErrCorrupt);
  }

  override leaseGrant(): Promise<LeaseGrantResponse> {
    return Promise.reject(ErrCorrupt);
  }

  override leaseRevoke(): Promise<LeaseRevokeResponse> {
    return Promise.reject(ErrCorrupt);
  }
}

/**
 * The stack for the alarms raised now (etcd's restoreAlarms), rebuilt whenever
 * an applied alarm changes them. Auth's applier goes right above the backend
 * (etcd's authApplierV3), below the alarms. NOSPACE is outermost: a growing
 * write with both alarms raised hears about the space first. The quota is
 * checked before a request is proposed (quota.ts), not here.
 */
export function stackFor(backend: RequestApplier, alarms: Alarms): RequestApplier {
  let applier = backend;
  if (alarms.has(AlarmType.CORRUPT)) applier = new CorruptApplier(applier);
  if (alarms.has(AlarmType.NOSPACE)) applier = new CappedApplier(applier);
  return applier;
}

function txnHasPut(txn: TxnRequest): boolean {
  return [...txn.success, ...txn.failure].some(
    (op) => op.requestPut !== undefined || (op.requestTxn !== undefined && txnHasPut(op.requestTxn)),
  );
}
