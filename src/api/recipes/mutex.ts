// etcd's v3lock server (etcdserver/api/v3lock + clientv3/concurrency
// mutex.go) on top of the EtcdServer: waiters queue as keys
// `<name>/<lease hex>` ordered by create revision; the oldest holds the lock.
import type { EtcdServer } from '../../server/etcdServer.js';
import type { RequestContext } from '../../server/requestContext.js';
import { DeleteRangeRequest, RangeRequest } from '../../proto/etcdserverpb.js';
import { LockResponse, UnlockResponse, type LockRequest, type UnlockRequest } from '../../proto/v3lockpb.js';
import { GrpcCode, RpcError } from '../rpcErrors.js';
import { firstCreated, forCleanUp, headerOf, putSessionKey, sessionOf, waitDeletes } from './waitDeletes.js';

/** concurrency.ErrSessionExpired: a plain Go error, so code Unknown. */
export const ErrMutexSessionExpired = new RpcError(GrpcCode.Unknown, 'mutex: session is expired');

export class Mutex {
  constructor(private readonly server: EtcdServer) {}

  /**
   * Blocks until the caller holds `name`. Locking again with the same lease
   * finds the key already there and keeps its place in the queue.
   */
  async lock(req: LockRequest, ctx: RequestContext): Promise<LockResponse> {
    const session = await sessionOf(this.server, req.name, req.lease, ctx);
    const { prefix, key } = session;
    // One round trip for the uncontended case: enqueue and read the holder together.
    const resp = await putSessionKey(this.server, session, new Uint8Array(0), ctx, [firstCreated(prefix)]);
    const header = headerOf(this.server, resp);
    let rev = header.revision;
    if (!resp.succeeded) rev = resp.responses[0]?.responseRange?.kvs[0]?.createRevision ?? rev;
    const owner = resp.responses[1]?.responseRange?.kvs[0];
    if (owner === undefined || owner.createRevision === rev) return LockResponse.create({ header, key });

    try {
      await waitDeletes(this.server, prefix, rev - 1, ctx);
    } catch (err) {
      // A waiter that gives up (or whose wait broke) leaves the queue.
      await this.server
        .deleteRange(DeleteRangeRequest.create({ key }), forCleanUp(ctx))
        .catch(() => undefined);
      throw err;
    }
    // Everyone ahead is gone; the lock is ours only if our own key is still
    // there: its lease may have expired while we waited (Jepsen, etcd #11456).
    // etcd 3.4.23 skips this check and grants a lock whose key is gone; later
    // etcd releases refuse with this same error, and so does xetcd.
    const mine = await this.server.range(RangeRequest.create({ key }), ctx);
    if (mine.kvs.length === 0) throw ErrMutexSessionExpired;
    return LockResponse.create({ header: headerOf(this.server, mine), key });
  }

  /** Unlock is a plain delete of the lock key; unknown keys are not an error. */
  async unlock(req: UnlockRequest, ctx: RequestContext): Promise<UnlockResponse> {
    const resp = await this.server.deleteRange(DeleteRangeRequest.create({ key: req.key }), ctx);
    return UnlockResponse.create({ header: headerOf(this.server, resp) });
  }
}
