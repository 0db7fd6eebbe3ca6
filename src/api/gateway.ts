// etcd 3.4's grpc-gateway: POST /v3/<service>/<method> with the request as JSON
// (proto names or lowerCamel, 64-bit ints as strings), answered with the
// response as JSON (proto names, zero values left out). The gateway calls the
// same service implementations as gRPC, so checks, errors and headers are
// identical on both.
import type * as grpc from '@grpc/grpc-js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { EtcdServer } from '../server/etcdServer.js';
import * as pb from '../proto/etcdserverpb.js';
import { clusterService } from './grpc/clusterService.js';
import { kvService } from './grpc/kvService.js';
import { leaseService } from './grpc/leaseService.js';
import { maintenanceService } from './grpc/maintenanceService.js';
import type { HttpRoutes } from './http.js';
import { GrpcCode, toRpcError } from './rpcErrors.js';
import { httpStatusOf, readBodyText, writeJsonBody, writeMethodNotAllowed } from './gatewayFraming.js';

interface JsonCodec<T> {
  fromJSON(j: unknown): T;
  toJSON(m: T): unknown;
}

interface UnaryRoute {
  implementation: grpc.UntypedServiceImplementation;
  method: string;
  request: JsonCodec<unknown>;
  response: JsonCodec<unknown>;
}

export interface GatewayLimits {
  maxTxnOps: number;
  /** Largest JSON body accepted; etcd's request limit plus room for base64 and JSON. */
  maxBodyBytes?: number;
}

export function createGateway(
  routes: HttpRoutes,
  server: EtcdServer,
  limits: GatewayLimits,
  logger: Logger,
): void {
  const log = logger.child({ component: 'gateway' });
  const kv = kvService(server, limits, log);
  const lease = leaseService(server, log);
  const cluster = clusterService(server, log);
  const maintenance = maintenanceService(server, log);
  const c = <T>(codec: JsonCodec<T>): JsonCodec<unknown> => codec as JsonCodec<unknown>;
  const table: Record<string, UnaryRoute> = {
    '/v3/kv/range': {
      implementation: kv,
      method: 'Range',
      request: c(pb.RangeRequest),
      response: c(pb.RangeResponse),
    },
    '/v3/kv/put': {
      implementation: kv,
      method: 'Put',
      request: c(pb.PutRequest),
      response: c(pb.PutResponse),
    },
    '/v3/kv/deleterange': {
      implementation: kv,
      method: 'DeleteRange',
      request: c(pb.DeleteRangeRequest),
      response: c(pb.DeleteRangeResponse),
    },
    '/v3/kv/txn': {
      implementation: kv,
      method: 'Txn',
      request: c(pb.TxnRequest),
      response: c(pb.TxnResponse),
    },
    '/v3/kv/compaction': {
      implementation: kv,
      method: 'Compact',
      request: c(pb.CompactionRequest),
      response: c(pb.CompactionResponse),
    },
    '/v3/lease/grant': {
      implementation: lease,
      method: 'LeaseGrant',
      request: c(pb.LeaseGrantRequest),
      response: c(pb.LeaseGrantResponse),
    },
    '/v3/lease/revoke': {
      implementation: lease,
      method: 'LeaseRevoke',
      request: c(pb.LeaseRevokeRequest),
      response: c(pb.LeaseRevokeResponse),
    },
    '/v3/lease/timetolive': {
      implementation: lease,
      method: 'LeaseTimeToLive',
      request: c(pb.LeaseTimeToLiveRequest),
      response: c(pb.LeaseTimeToLiveResponse),
    },
    '/v3/lease/leases': {
      implementation: lease,
      method: 'LeaseLeases',
      request: c(pb.LeaseLeasesRequest),
      response: c(pb.LeaseLeasesResponse),
    },
    '/v3/cluster/member/list': {
      implementation: cluster,
      method: 'MemberList',
      request: c(pb.MemberListRequest),
      response: c(pb.MemberListResponse),
    },
    '/v3/cluster/member/add': {
      implementation: cluster,
      method: 'MemberAdd',
      request: c(pb.MemberAddRequest),
      response: c(pb.MemberAddResponse),
    },
    '/v3/cluster/member/remove': {
      implementation: cluster,
      method: 'MemberRemove',
      request: c(pb.MemberRemoveRequest),
      response: c(pb.MemberRemoveResponse),
    },
    '/v3/cluster/member/update': {
      implementation: cluster,
      method: 'MemberUpdate',
      request: c(pb.MemberUpdateRequest),
      response: c(pb.MemberUpdateResponse),
    },
    '/v3/cluster/member/promote': {
      implementation: cluster,
      method: 'MemberPromote',
      request: c(pb.MemberPromoteRequest),
      response: c(pb.MemberPromoteResponse),
    },
    '/v3/maintenance/alarm': {
      implementation: maintenance,
      method: 'Alarm',
      request: c(pb.AlarmRequest),
      response: c(pb.AlarmResponse),
    },
    '/v3/maintenance/status': {
      implementation: maintenance,
      method: 'Status',
      request: c(pb.StatusRequest),
      response: c(pb.StatusResponse),
    },
    '/v3/maintenance/defragment': {
      implementation: maintenance,
      method: 'Defragment',
      request: c(pb.DefragmentRequest),
      response: c(pb.DefragmentResponse),
    },
    // etcd 3.4 quirk: HashKV shares Hash's route and is unreachable over HTTP.
    '/v3/maintenance/hash': {
      implementation: maintenance,
      method: 'Hash',
      request: c(pb.HashRequest),
      response: c(pb.HashResponse),
    },
    '/v3/maintenance/transfer-leadership': {
      implementation: maintenance,
      method: 'MoveLeader',
      request: c(pb.MoveLeaderRequest),
      response: c(pb.MoveLeaderResponse),
    },
  };
  table['/v3/kv/lease/revoke'] = table['/v3/lease/revoke']!;
  table['/v3/kv/lease/timetolive'] = table['/v3/lease/timetolive']!;
  table['/v3/kv/lease/leases'] = table['/v3/lease/leases']!;
  const maxBody = limits.maxBodyBytes ?? 8 * 1024 * 1024;

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname.replace(/^\/v3beta\//, '/v3/');
    const route = table[path];
    if (!route) {
      writeJsonBody(res, 404, { error: 'Not Found', message: 'Not Found', code: GrpcCode.NotFound });
      return;
    }
    if (req.method !== 'POST') {
      writeMethodNotAllowed(res);
      return;
    }
    let request: unknown;
    try {
      const body = await readBodyText(req, maxBody);
      request = route.request.fromJSON(body.length === 0 ? {} : JSON.parse(body));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      writeJsonBody(res, 400, { error: message, message, code: GrpcCode.InvalidArgument });
      return;
    }
    const handler = route.implementation[route.method] as grpc.handleUnaryCall<unknown, unknown>;
    const call = { request, cancelled: false, metadata: undefined } as unknown as grpc.ServerUnaryCall<
      unknown,
      unknown
    >;
    handler(call, (err, response) => {
      if (err) {
        const status = toRpcError(err.details ? new Error(err.details) : err);
        const code = typeof err.code === 'number' ? err.code : status.code;
        writeJsonBody(res, httpStatusOf(code), { error: status.message, message: status.message, code });
        return;
      }
      writeJsonBody(res, 200, route.response.toJSON(response));
    });
  };
  routes.prefix('/v3/', handle).prefix('/v3beta/', handle);
  log.debug({ routes: Object.keys(table).length }, 'gateway routes registered');
}
