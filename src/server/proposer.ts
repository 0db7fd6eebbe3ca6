import { InternalRaftRequest } from '../proto/etcdserverpb.js';
import { ConfChange, type ConfChangeType } from '../proto/raftpb.js';
import { ProposalDroppedError } from '../raft/errors.js';
import type { RaftNode } from '../raft/raftNode.js';
import { ErrCanceled, ErrNoLeader, ErrRequestTooLarge, ErrStopped, ErrTimeout } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type {
  Applied,
  AppliedKind,
  AppliedOf,
  AppliedResponses,
  ApplyResult,
  RequestKind,
} from './requestApplier.js';
import type { AuthInfo } from '../auth/tokenProvider.js';
import type { RequestContext } from './requestContext.js';
import type { RequestIdGenerator } from './requestId.js';
import type { WaitRegistry } from './wait.js';

export interface ProposerDeps {
  raft(): RaftNode;
  /** Hands what was proposed to the Raft loop. */
  kick(): void;
  waits: WaitRegistry<ApplyResult>;
  ids: RequestIdGenerator;
  metrics: Pick<ServerMetrics, 'proposalsPending' | 'proposalsFailed'>;
  maxRequestBytes: number;
  timeoutMs: number;
  isStopped(): boolean;
  hasLeader(): boolean;
  /** Who the request acts as (its token, certificate, or the member itself); throws for a bad token. */
  authInfo(ctx: RequestContext): Promise<AuthInfo | undefined>;
}

/**
 * Puts requests into the Raft log and waits for what applying them gave (etcd's
 * processInternalRaftRequestOnce and configure): the wait is registered under
 * the request's ID before the entry enters Raft, so the applier's answer never
 * arrives for nobody, and it ends with the answer, the request timeout, or the stop.
 */
export class Proposer {
  constructor(private readonly deps: ProposerDeps) {}

  /** One request of a known kind; resolves with what applying it answered. */
  async proposeRequest<K extends RequestKind>(
    kind: K,
    request: InternalRaftRequest[K],
    ctx: RequestContext,
  ): Promise<AppliedResponses[K]> {
    const applied = await this.propose(requestOf(kind, request), ctx);
    if (!isKind(applied, kind)) throw new Error(`a ${kind} proposal was answered for a ${applied.kind}`);
    return applied.response;
  }

  /** A request as the client sent it, with who sent it in its header (etcd's RequestHeader). */
  async propose(req: Partial<InternalRaftRequest>, ctx: RequestContext): Promise<Applied> {
    const { deps } = this;
    if (deps.isStopped()) throw ErrStopped;
    const who = await deps.authInfo(ctx);
    const id = deps.ids.next();
    // Every member checks the entry's permissions as this user, at this auth revision.
    const header = { id, username: who?.username ?? '', authRevision: who?.revision ?? 0 };
    const full = InternalRaftRequest.create({ ...req, id, header });
    const data = InternalRaftRequest.encode(full);
    if (data.length > deps.maxRequestBytes) throw ErrRequestTooLarge;
    deps.metrics.proposalsPending.inc();
    try {
      const result = await this.enter(
        id,
        () => deps.raft().propose(data),
        () => (deps.hasLeader() ? ErrTimeout : ErrNoLeader),
        ctx,
      );
      if ('error' in result) {
        deps.metrics.proposalsFailed.inc();
        throw result.error;
      }
      return result.applied;
    } finally {
      deps.metrics.proposalsPending.dec();
    }
  }

  /** A membership change; `member` is the conf change's context, as etcd's membership.Member in JSON. */
  async proposeConfChange(
    type: ConfChangeType,
    nodeId: bigint,
    member: object | undefined,
    ctx: RequestContext,
  ): Promise<void> {
    const { deps } = this;
    if (deps.isStopped()) throw ErrStopped;
    const cc = ConfChange.create({
      type,
      nodeId,
      // The ID travels as a uint64 in the entry but is read back as a JS number: keep it exact.
      id: Number(deps.ids.next() & 0x1f_ffff_ffff_ffffn),
      context: member ? Buffer.from(JSON.stringify(member)) : new Uint8Array(0),
    });
    const result = await this.enter(
      BigInt(cc.id),
      () => deps.raft().proposeConfChange(cc),
      () => ErrTimeout,
      ctx,
    );
    if ('error' in result) throw result.error;
  }

  /**
   * Registers the wait, hands the entry to Raft, and waits for the applier, the
   * timeout, the stop, or the client going away (the entry may still be applied).
   */
  private async enter(
    id: bigint,
    propose: () => void,
    dropped: () => Error,
    { clientGone }: RequestContext,
  ): Promise<ApplyResult> {
    const { waits } = this.deps;
    const done = waits.register(id);
    try {
      propose();
    } catch (err) {
      waits.fail(
        id,
        err instanceof ProposalDroppedError ? dropped() : err instanceof Error ? err : new Error(String(err)),
      );
      return done;
    }
    this.deps.kick();
    const timer = setTimeout(() => waits.fail(id, ErrTimeout), this.deps.timeoutMs);
    const cancel = (): void => waits.fail(id, ErrCanceled);
    const forget = clientGone?.subscribe(cancel);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
      forget?.();
    }
  }
}

function requestOf<K extends RequestKind>(
  kind: K,
  request: InternalRaftRequest[K],
): Partial<InternalRaftRequest> {
  const req: Partial<InternalRaftRequest> = {};
  req[kind] = request;
  return req;
}

/** Ties an answer to the kind proposed; the parameter also admits AppliedOf<K> so that the guard type-checks for a generic K. */
function isKind<K extends AppliedKind>(applied: Applied | AppliedOf<K>, kind: K): applied is AppliedOf<K> {
  return applied.kind === kind;
}
