import type { Logger } from 'pino';
import { filter, type Observable } from 'rxjs';
import {
  LeaseLeasesResponse,
  LeaseTimeToLiveResponse,
  type InternalRaftRequest,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type ResponseHeader,
} from '../proto/etcdserverpb.js';
import type { KvStore } from '../mvcc/kvStore.js';
import { MAX_LEASE_TTL, type Lessor } from '../lease/lessor.js';
import { ErrLeaseNotFound, ErrLeaseTTLTooLarge, ErrNotLeader, ErrTimeoutWaitAppliedIndex } from './errors.js';
import { LEASE_COST_BYTES, type Quota } from './quota.js';
import type { AppliedResponses } from './requestApplier.js';
import { INTERNAL, type RequestContext } from './requestContext.js';
import type { RequestIdGenerator } from './requestId.js';
import { PeerRequest, type PeerResponse } from '../proto/xetcdpb.js';

/** Leases expired in one sweep at most (etcd's leaseRevokeRate per tick). */
const LEASE_REVOKE_RATE_PER_TICK = 1000;
/** etcd's applyTimeout: how long a lease renewal waits for the leader to apply what it committed. */
const APPLY_WAIT_MS = 1_000;

export interface LeaseRequestsDeps {
  kv: KvStore;
  lessor: Lessor;
  quota: Quota;
  ids: RequestIdGenerator;
  applied$: Observable<number>;
  committedIndex(): number;
  isLeader(): boolean;
  /**
   * Asks the leader what only it can answer (etcd forwards renewals and TTLs
   * to the leader over peer HTTP); its error comes back as thrown.
   */
  askLeader(request: PeerRequest): Promise<PeerResponse>;
  isStopped(): boolean;
  header(): ResponseHeader;
  /** Proposes a lease grant or revoke and answers with its response, the header filled. */
  proposeWrite<K extends 'leaseGrant' | 'leaseRevoke'>(
    kind: K,
    request: InternalRaftRequest[K],
    ctx: RequestContext,
  ): Promise<AppliedResponses[K]>;
  linearizableRead(ctx: RequestContext): Promise<void>;
  waitForLeader(): Promise<void>;
  /** The first value of `source`, or `onTimeout`'s error, or ErrStopped. */
  waitFor<T>(source: Observable<T>, timeoutMs: number, onTimeout: () => Error): Promise<T>;
  logger: Logger;
  /** Renewals this leader answered and leases it found expired, for the lease metrics. */
  counted?: { renewed(): void; expired(): void };
}

/** The lease requests (etcd's v3_server.go Lease*): grants and revokes go through Raft, renewals only on the leader. */
export class LeaseRequests {
  constructor(private readonly deps: LeaseRequestsDeps) {}

  async grant(req: LeaseGrantRequest, ctx: RequestContext): Promise<LeaseGrantResponse> {
    const { deps } = this;
    if (req.ttl > MAX_LEASE_TTL) throw ErrLeaseTTLTooLarge;
    await deps.quota.assert(LEASE_COST_BYTES);
    // etcd makes an ID when the client leaves it 0: positive, so clients never see it negative.
    const id = req.id !== 0n ? req.id : BigInt.asIntN(64, deps.ids.next() & 0x7fff_ffff_ffff_ffffn);
    return deps.proposeWrite('leaseGrant', { id, ttl: req.ttl }, ctx);
  }

  revoke(id: bigint, ctx: RequestContext): Promise<LeaseRevokeResponse> {
    return this.deps.proposeWrite('leaseRevoke', { id }, ctx);
  }

  /**
   * Keep-alive: only the leader renews (a follower asks it), after it has
   * applied everything it committed so that a revoke already agreed on is
   * seen (etcd #13675). Returns the TTL, or throws ErrLeaseNotFound.
   */
  async renew(id: bigint, ctx: RequestContext): Promise<number> {
    const { deps } = this;
    await deps.waitForLeader();
    if (!deps.isLeader()) {
      const answer = await deps.askLeader(PeerRequest.create({ leaseRenew: { id } }));
      if (answer.leaseRenew === undefined) throw ErrNotLeader;
      if (answer.leaseRenew.ttl <= 0) throw ErrLeaseNotFound;
      return answer.leaseRenew.ttl;
    }
    return this.renewHere(id, ctx);
  }

  /** A renewal this member answers as the leader, its own client's or a follower's. */
  async renewHere(id: bigint, ctx: RequestContext): Promise<number> {
    const { deps } = this;
    if (!deps.isLeader()) throw ErrNotLeader;
    await deps.waitFor(
      deps.applied$.pipe(filter((a) => a >= deps.committedIndex())),
      APPLY_WAIT_MS,
      () => ErrTimeoutWaitAppliedIndex,
    );
    // A leader cut off (or paused) may not know it was deposed: a quorum must
    // confirm it still leads before it promises a TTL (etcd's ensureLeadership).
    await deps.linearizableRead(ctx);
    if (!deps.isLeader()) throw ErrNotLeader;
    if (deps.lessor.hasExpired(id)) {
      // Its time ran out: the leader is revoking it (or will at the next sweep). etcd's
      // Renew waits for that revoke rather than revive it; a keep-alive answered with a
      // TTL here would promise keys that are about to be deleted.
      await this.revoke(id, ctx).catch((err: unknown) => {
        if (err !== ErrLeaseNotFound) throw err;
      });
      throw ErrLeaseNotFound;
    }
    const ttl = deps.lessor.renew(id);
    if (ttl === undefined) throw ErrLeaseNotFound;
    deps.counted?.renewed();
    return ttl;
  }

  /** The lease's TTL as the leader's lessor counts it (a follower's never expires a lease, so it asks). */
  async timeToLive(req: LeaseTimeToLiveRequest, ctx: RequestContext): Promise<LeaseTimeToLiveResponse> {
    const { deps } = this;
    await deps.waitForLeader();
    if (!deps.isLeader()) {
      const answer = await deps.askLeader(PeerRequest.create({ leaseTimeToLive: req }));
      if (answer.leaseTimeToLive === undefined) throw ErrNotLeader;
      return LeaseTimeToLiveResponse.create({ ...answer.leaseTimeToLive, header: deps.header() });
    }
    return this.timeToLiveHere(req, ctx);
  }

  async timeToLiveHere(req: LeaseTimeToLiveRequest, ctx: RequestContext): Promise<LeaseTimeToLiveResponse> {
    const { deps } = this;
    await deps.linearizableRead(ctx);
    const ttl = deps.lessor.timeToLive(req.id);
    if (!ttl) return LeaseTimeToLiveResponse.create({ header: deps.header(), id: req.id, ttl: -1 });
    return LeaseTimeToLiveResponse.create({
      header: deps.header(),
      id: req.id,
      ttl: ttl.remainingTtl,
      grantedTtl: ttl.grantedTtl,
      keys: req.keys ? deps.kv.keysOfLease(req.id) : [],
    });
  }

  async leases(ctx: RequestContext): Promise<LeaseLeasesResponse> {
    const { deps } = this;
    await deps.linearizableRead(ctx);
    return LeaseLeasesResponse.create({
      header: deps.header(),
      leases: deps.kv.leases().map((l) => ({ id: l.id })),
    });
  }

  /** The leader's expiry sweep (etcd's revokeExpiredLeases): each expired lease is revoked through Raft. */
  revokeExpired(): void {
    const { deps } = this;
    if (!deps.isLeader() || deps.isStopped()) return;
    for (const id of deps.lessor.expired(LEASE_REVOKE_RATE_PER_TICK)) {
      deps.logger.info({ lease: id.toString(16) }, 'lease expired; revoking');
      deps.counted?.expired();
      this.revoke(id, INTERNAL).catch((err: unknown) => {
        if (err !== ErrLeaseNotFound)
          deps.logger.warn({ err, lease: id.toString(16) }, 'revoking an expired lease failed');
      });
    }
  }
}
