// etcd's v3election server (etcdserver/api/v3election + clientv3/concurrency
// election.go) on top of the EtcdServer: a campaign is a key
// `<name>/<lease hex>` bound to the caller's lease; the leader is the key with
// the smallest create revision; a candidate waits for every older key to go.
import { Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
import { ClientGoneFlag, type ClientGone, type RequestContext } from '../../server/requestContext.js';
import {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
  type ResponseHeader,
  type TxnResponse,
} from '../../proto/etcdserverpb.js';
import { Event_EventType, type KeyValue } from '../../proto/mvccpb.js';
import {
  CampaignResponse,
  LeaderKey,
  LeaderResponse,
  ProclaimResponse,
  ResignResponse,
  type CampaignRequest,
  type LeaderRequest,
  type ProclaimRequest,
  type ResignRequest,
} from '../../proto/v3electionpb.js';
import { GrpcCode, RpcError } from '../rpcErrors.js';
import {
  RecipeAbortedError,
  createRevisionIs,
  firstCreated,
  forCleanUp,
  headerOf,
  keyPrefix,
  prefixEnd,
  putSessionKey,
  sessionLease,
  sessionOf,
  throwIfAborted,
  waitDeletes,
  watchReplies,
} from './waitDeletes.js';

// Plain Go errors in etcd, so clients see them as code Unknown with this text.
export const ErrElectionNotLeader = new RpcError(GrpcCode.Unknown, 'election: not leader');
export const ErrElectionNoLeader = new RpcError(GrpcCode.Unknown, 'election: no leader');
export const ErrMissingLeaderKey = new RpcError(GrpcCode.Unknown, '"leader" field must be provided');
/**
 * The campaign key vanished while the candidate waited (its lease expired or
 * was revoked): etcd 3.4 would still answer "elected" here, the stale-leader
 * hazard Jepsen reported (etcd #11456); xetcd refuses instead.
 */
export const ErrElectionSessionExpired = new RpcError(GrpcCode.Unknown, 'election: session expired');

export class Election {
  constructor(
    private readonly server: EtcdServer,
    private readonly logger: Logger,
  ) {}

  /** Blocks until the caller leads `name`; the header is that of the campaign's own write. */
  async campaign(req: CampaignRequest, ctx: RequestContext): Promise<CampaignResponse> {
    const session = await sessionOf(this.server, req.name, req.lease, ctx);
    const { lease, prefix, key } = session;
    const resp = await putSessionKey(this.server, session, req.value, ctx);
    const header = headerOf(this.server, resp);
    let rev = header.revision;
    if (!resp.succeeded) {
      // Campaigning again with the same lease resumes the existing candidacy.
      const kv = resp.responses[0]?.responseRange?.kvs[0];
      // The compare and the read are one atomic txn, so the key is there; this only narrows the type.
      if (kv === undefined) throw ErrElectionNotLeader;
      rev = kv.createRevision;
      if (Buffer.compare(kv.value, req.value) !== 0) {
        try {
          await this.proclaimAt(key, rev, lease, req.value, ctx);
        } catch (err) {
          await this.resignAt(key, rev, forCleanUp(ctx)).catch(() => undefined);
          throw err;
        }
      }
    }
    try {
      await waitDeletes(this.server, prefix, rev - 1, ctx);
    } catch (err) {
      // A candidate that gives up takes its key with it; one whose wait broke otherwise keeps it, as etcd does.
      if (err instanceof RecipeAbortedError)
        await this.resignAt(key, rev, forCleanUp(ctx)).catch(() => undefined);
      throw err;
    }
    await this.assertStillCandidate(key, rev, ctx);
    return CampaignResponse.create({
      header,
      leader: LeaderKey.create({ name: req.name, key, rev, lease }),
    });
  }

  async proclaim(req: ProclaimRequest, ctx: RequestContext): Promise<ProclaimResponse> {
    const leader = req.leader;
    if (leader === undefined) throw ErrMissingLeaderKey;
    const lease = await sessionLease(this.server, leader.lease, ctx);
    const resp = await this.proclaimAt(leader.key, leader.rev, lease, req.value, ctx);
    return ProclaimResponse.create({ header: headerOf(this.server, resp) });
  }

  /** Deletes the leader key if it is still the one created at `rev`; resigning twice is not an error. */
  async resign(req: ResignRequest, ctx: RequestContext): Promise<ResignResponse> {
    const leader = req.leader;
    if (leader === undefined) throw ErrMissingLeaderKey;
    // etcd opens (and orphans) a session here too: a lease of 0 grants one.
    await sessionLease(this.server, leader.lease, ctx);
    const resp = await this.resignAt(leader.key, leader.rev, ctx);
    return ResignResponse.create({ header: headerOf(this.server, resp) });
  }

  async leader(req: LeaderRequest, ctx: RequestContext): Promise<LeaderResponse> {
    const resp = await this.server.range(firstCreated(keyPrefix(req.name)), ctx);
    const kv = resp.kvs[0];
    if (kv === undefined) throw ErrElectionNoLeader;
    return LeaderResponse.create({ header: headerOf(this.server, resp), kv });
  }

  /**
   * The leader's announcements as they change (concurrency Election.observe):
   * the current leader first (or the first one to appear), then each new value
   * it proclaims; when its key is deleted, the next leader. Like etcd, the
   * stream simply completes when a read or a watch fails.
   */
  observe(req: LeaderRequest, ctx: RequestContext): Observable<LeaderResponse> {
    return new Observable<LeaderResponse>((subscriber) => {
      const unsubscribed = new ClientGoneFlag();
      const emit = (header: ResponseHeader, kv: KeyValue): void => {
        if (!unsubscribed.happened) subscriber.next(LeaderResponse.create({ header, kv }));
      };
      this.observeLoop(keyPrefix(req.name), emit, { ...ctx, clientGone: unsubscribed }).then(
        () => subscriber.complete(),
        (err: unknown) => {
          if (!(err instanceof RecipeAbortedError)) this.logger.debug({ err }, 'election observe ended');
          subscriber.complete();
        },
      );
      return () => unsubscribed.declare();
    });
  }

  private async observeLoop(
    prefix: Uint8Array,
    emit: (header: ResponseHeader, kv: KeyValue) => void,
    ctx: RequestContext & { clientGone: ClientGone },
  ): Promise<void> {
    const { clientGone } = ctx;
    for (;;) {
      throwIfAborted(clientGone);
      const resp = await this.server.range(firstCreated(prefix), ctx);
      let kv = resp.kvs[0];
      let header = headerOf(this.server, resp);
      if (kv === undefined) {
        // No leader yet: the first key put under the prefix is the leader.
        const found = await this.firstPut(prefix, header.revision, clientGone);
        if (found === undefined) return;
        kv = found;
        header = this.server.header(kv.modRevision);
      }
      emit(header, kv);
      let deleted = false;
      for await (const reply of watchReplies(
        this.server,
        { key: kv.key, startRevision: header.revision + 1 },
        clientGone,
      )) {
        for (const ev of reply.events) {
          if (ev.type === Event_EventType.DELETE) {
            deleted = true;
            break;
          }
          if (ev.kv) emit(this.server.header(reply.revision), ev.kv);
        }
        if (deleted) break;
      }
      if (!deleted) return;
    }
  }

  private async firstPut(
    prefix: Uint8Array,
    revision: number,
    clientGone: ClientGone,
  ): Promise<KeyValue | undefined> {
    for await (const reply of watchReplies(
      this.server,
      { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: revision, filters: { noDelete: true } },
      clientGone,
    )) {
      const put = reply.events.find((ev) => ev.type === Event_EventType.PUT && ev.kv !== undefined);
      if (put?.kv) return put.kv;
    }
    return undefined;
  }

  private async proclaimAt(
    key: Uint8Array,
    rev: number,
    lease: bigint,
    value: Uint8Array,
    ctx: RequestContext,
  ): Promise<TxnResponse> {
    const resp = await this.server.txn(
      TxnRequest.create({
        compare: [createRevisionIs(key, rev)],
        success: [{ requestPut: PutRequest.create({ key, value, lease }) }],
      }),
      ctx,
    );
    if (!resp.succeeded) throw ErrElectionNotLeader;
    return resp;
  }

  private resignAt(key: Uint8Array, rev: number, ctx: RequestContext): Promise<TxnResponse> {
    return this.server.txn(
      TxnRequest.create({
        compare: [createRevisionIs(key, rev)],
        success: [{ requestDeleteRange: DeleteRangeRequest.create({ key }) }],
      }),
      ctx,
    );
  }

  /** The Jepsen check (etcd #11456): leadership is only real if our key outlived the wait. */
  private async assertStillCandidate(key: Uint8Array, rev: number, ctx: RequestContext): Promise<void> {
    const resp = await this.server.range(RangeRequest.create({ key }), ctx);
    const kv = resp.kvs[0];
    if (kv === undefined || kv.createRevision !== rev) throw ErrElectionSessionExpired;
  }
}
