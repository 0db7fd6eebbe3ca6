import { concatMap } from 'rxjs';
import type { EtcdServer } from '../../server/etcdServer.js';
import type { RequestContext } from '../../server/requestContext.js';
import {
  LeaseKeepAliveResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseLeasesRequest,
  type LeaseLeasesResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from '../../proto/etcdserverpb.js';
import { streamMethod, type StreamMethod, type UnaryMethod } from '../rpc.js';
import { ErrLeaseNotFound, toRpcError } from '../rpcErrors.js';

export interface LeaseService {
  readonly LeaseGrant: UnaryMethod<LeaseGrantRequest, LeaseGrantResponse>;
  readonly LeaseRevoke: UnaryMethod<LeaseRevokeRequest, LeaseRevokeResponse>;
  readonly LeaseKeepAlive: StreamMethod<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;
  readonly LeaseTimeToLive: UnaryMethod<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>;
  readonly LeaseLeases: UnaryMethod<LeaseLeasesRequest, LeaseLeasesResponse>;
}

/** etcdserverpb.Lease (etcd's v3rpc/lease.go). */
export function leaseService(server: EtcdServer): LeaseService {
  return {
    LeaseGrant: (req, ctx) => server.leaseGrant(req, ctx),
    LeaseRevoke: (req, ctx) => server.leaseRevoke(req.id, ctx),
    LeaseKeepAlive: leaseKeepAlive(server),
    LeaseTimeToLive: (req, ctx) => server.leaseTimeToLive(req, ctx),
    LeaseLeases: (_req, ctx) => server.leaseLeases(ctx),
  };
}

/**
 * Keep-alive, for gRPC and the gateway alike: renewals are answered one by
 * one in the order they were asked, and the client's half-close ends the
 * stream once every renewal is answered, as etcd's does.
 */
export function leaseKeepAlive(
  server: Pick<EtcdServer, 'leaseRenew' | 'header'>,
): StreamMethod<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
  return streamMethod((requests$, ctx) =>
    requests$.pipe(
      concatMap(async (req) => {
        const ttl = await renewedTtl(server, req.id, ctx);
        return LeaseKeepAliveResponse.create({ header: server.header(), id: req.id, ttl });
      }),
    ),
  );
}

/** etcd answers a keep-alive of an unknown (or expired) lease with TTL 0, not an error. */
async function renewedTtl(
  server: Pick<EtcdServer, 'leaseRenew'>,
  id: bigint,
  ctx: RequestContext,
): Promise<number> {
  try {
    return await server.leaseRenew(id, ctx);
  } catch (err) {
    if (toRpcError(err) === ErrLeaseNotFound) return 0;
    throw err;
  }
}
