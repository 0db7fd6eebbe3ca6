import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
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
import { ErrLeaseNotFound, toRpcError } from '../rpcErrors.js';
import { unary } from './unary.js';

/** etcdserverpb.Lease (etcd's v3rpc/lease.go). */
export function leaseService(server: EtcdServer, logger: Logger): grpc.UntypedServiceImplementation {
  const keepAlive: grpc.handleBidiStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> = (call) => {
    // Renewals of one stream are answered in the order they were asked.
    let chain = Promise.resolve();
    let ended = false;
    const end = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      if (err === undefined) {
        call.end();
        return;
      }
      const status = toRpcError(err);
      call.emit('error', { code: status.code, details: status.message });
    };
    call.on('data', (req: LeaseKeepAliveRequest) => {
      chain = chain.then(async () => {
        if (ended) return;
        let ttl: number;
        try {
          ttl = await server.leaseRenew(req.id);
        } catch (err) {
          // etcd answers a keep-alive of an unknown lease with TTL 0, not an error.
          if (toRpcError(err) !== ErrLeaseNotFound) {
            end(err);
            return;
          }
          ttl = 0;
        }
        if (!ended && !call.cancelled)
          call.write(LeaseKeepAliveResponse.create({ header: server.header(), id: req.id, ttl }));
      });
    });
    call.on('end', () => void chain.then(() => end()));
    call.on('error', () => (ended = true));
    call.on('cancelled', () => (ended = true));
  };

  return {
    LeaseGrant: unary<LeaseGrantRequest, LeaseGrantResponse>(logger, 'LeaseGrant', (req) =>
      server.leaseGrant(req),
    ),
    LeaseRevoke: unary<LeaseRevokeRequest, LeaseRevokeResponse>(logger, 'LeaseRevoke', (req) =>
      server.leaseRevoke(req.id),
    ),
    LeaseKeepAlive: keepAlive,
    LeaseTimeToLive: unary<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>(
      logger,
      'LeaseTimeToLive',
      (req) => server.leaseTimeToLive(req),
    ),
    LeaseLeases: unary<LeaseLeasesRequest, LeaseLeasesResponse>(logger, 'LeaseLeases', () =>
      server.leaseLeases(),
    ),
  };
}
