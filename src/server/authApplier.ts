/**
 * etcd's authApplierV3 (etcdserver/apply_auth.go): the request applier that
 * checks, at apply time, that the user an entry's header names may do what
 * the entry asks. The check reads only the entry and the auth store as of
 * the entry's index, so every member answers it alike, after a restart and
 * after a snapshot install too (etcd #11651, #14571 were about checks that
 * were not made this way).
 */
import type { AuthChangeKind, AuthChanges, AuthStore } from '../auth/authStore.js';
import { ErrUserEmpty } from '../auth/errors.js';
import type { AuthInfo } from '../auth/tokenProvider.js';
import type {
  CompactionRequest,
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestHeader,
  RequestOp,
  TxnRequest,
  TxnResponse,
} from '../proto/etcdserverpb.js';
import { RequestApplierWrapper, type CompactionApplied, type RequestApplier } from './requestApplier.js';

/** The keys attached to a lease, as the key space has them at apply time. */
export type LeaseKeys = (id: bigint) => readonly Uint8Array[];

export class AuthApplier extends RequestApplierWrapper {
  /** The user the entry being applied acts as (etcd's aa.authInfo). */
  private who: AuthInfo | undefined;

  constructor(
    next: RequestApplier,
    private readonly store: AuthStore,
    private readonly leaseKeys: LeaseKeys,
  ) {
    super(next);
  }

  /** Applies one entry as the user its header names; entries are applied one at a time. */
  async as<T>(header: RequestHeader | undefined, apply: () => Promise<T>): Promise<T> {
    this.who =
      header === undefined || (header.username === '' && header.authRevision === 0)
        ? undefined
        : { username: header.username, revision: header.authRevision };
    try {
      return await apply();
    } finally {
      this.who = undefined;
    }
  }

  override range(req: RangeRequest): Promise<RangeResponse> {
    this.store.isRangePermitted(this.who, req.key, req.rangeEnd);
    return this.next.range(req);
  }

  override put(req: PutRequest): Promise<PutResponse> {
    checkPut(this.store, this.who, req, this.leaseKeys);
    return this.next.put(req);
  }

  override deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    checkDeleteRange(this.store, this.who, req);
    return this.next.deleteRange(req);
  }

  override txn(req: TxnRequest): Promise<TxnResponse> {
    checkTxn(this.store, this.who, req, this.leaseKeys);
    return this.next.txn(req);
  }

  /** Revoking deletes the lease's keys: the user must be allowed to write each of them. */
  override leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    checkLeaseKeys(this.store, this.who, req.id, this.leaseKeys);
    return this.next.leaseRevoke(req);
  }

  /**
   * etcd 3.4 lets anyone compact, even without a user while auth is on;
   * here compaction needs a user (any user, so a non-root client such as an
   * API server keeps compacting as it does against etcd).
   */
  override compaction(req: CompactionRequest): Promise<CompactionApplied> {
    if (this.store.isEnabled && this.who === undefined) throw ErrUserEmpty;
    return this.next.compaction(req);
  }

  /** Every auth change is the root role's business (etcd's needAdminPermission). */
  override authChange<K extends AuthChangeKind>(kind: K, req: AuthChanges[K]): Promise<undefined> {
    this.store.isAdminPermitted(this.who);
    return this.next.authChange(kind, req);
  }
}

function checkPut(store: AuthStore, who: AuthInfo | undefined, req: PutRequest, leaseKeys: LeaseKeys): void {
  store.isPutPermitted(who, req.key);
  // Attaching a key to a lease the user could not revoke would let it outlive the user's rights.
  checkLeaseKeys(store, who, req.lease, leaseKeys);
  if (req.prevKv) store.isRangePermitted(who, req.key);
}

function checkDeleteRange(store: AuthStore, who: AuthInfo | undefined, req: DeleteRangeRequest): void {
  store.isDeleteRangePermitted(who, req.key, req.rangeEnd);
  if (req.prevKv) store.isRangePermitted(who, req.key, req.rangeEnd);
}

function checkLeaseKeys(store: AuthStore, who: AuthInfo | undefined, id: bigint, leaseKeys: LeaseKeys): void {
  if (id === 0n) return;
  for (const key of leaseKeys(id)) store.isPutPermitted(who, key);
}

/**
 * etcd's checkTxnAuth: read on every compare's range, and what each op of
 * both branches needs, whichever branch runs, nested txns included.
 */
export function checkTxn(
  store: AuthStore,
  who: AuthInfo | undefined,
  txn: TxnRequest,
  leaseKeys: LeaseKeys,
): void {
  for (const c of txn.compare) store.isRangePermitted(who, c.key, c.rangeEnd);
  for (const op of [...txn.success, ...txn.failure]) checkOp(store, who, op, leaseKeys);
}

function checkOp(store: AuthStore, who: AuthInfo | undefined, op: RequestOp, leaseKeys: LeaseKeys): void {
  if (op.requestRange) store.isRangePermitted(who, op.requestRange.key, op.requestRange.rangeEnd);
  else if (op.requestPut) checkPut(store, who, op.requestPut, leaseKeys);
  else if (op.requestDeleteRange) checkDeleteRange(store, who, op.requestDeleteRange);
  else if (op.requestTxn) checkTxn(store, who, op.requestTxn, leaseKeys);
}
