// etcd 3.4's grpc-gateway: POST /v3/<service>/<method> with the request as JSON
// (proto names or lowerCamel, 64-bit ints as strings), answered with the
// response as JSON (proto names, zero values left out). The gateway calls the
// same service implementations as gRPC, so checks, errors and headers are
// identical on both.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import * as pb from '../proto/etcdserverpb.js';
import { parseJsonBody, writeJsonBody } from './gatewayFraming.js';
import {
  serveUnary,
  unaryRoute,
  type JsonCodec,
  type RequestCodec,
  type UnaryRoute,
} from './gatewayUnary.js';
import type { HttpRoutes } from './http.js';
import { etcdFailures, type UnaryMethod } from './rpc.js';
import { GrpcCode } from './rpcErrors.js';
import type { AuthService } from './services/auth.js';
import type { ClusterService } from './services/cluster.js';
import type { KvService } from './services/kv.js';
import type { LeaseService } from './services/lease.js';
import type { MaintenanceService } from './services/maintenance.js';

export interface GatewayServices {
  readonly kv: KvService;
  readonly lease: LeaseService;
  readonly cluster: ClusterService;
  readonly maintenance: MaintenanceService;
  readonly auth: AuthService;
}

export interface GatewayLimits {
  /** Largest JSON body accepted; etcd's request limit plus room for base64 and JSON. */
  maxBodyBytes?: number;
  /** gRPC's receive limit (--max-request-bytes plus etcd's framing overhead): larger requests get 429. */
  maxMessageBytes?: number;
}

/** grpc-gateway reads an empty body as an empty request. */
const parseBody = (body: string): unknown => (body.length === 0 ? {} : parseJsonBody(body));

export function createGateway(
  routes: HttpRoutes,
  services: GatewayServices,
  limits: GatewayLimits,
  logger: Logger,
): void {
  const log = logger.child({ component: 'gateway' });
  const { kv, lease, cluster, maintenance, auth } = services;
  const route = <Req, Res>(
    name: string,
    method: UnaryMethod<Req, Res>,
    request: RequestCodec<Req>,
    response: JsonCodec<Res>,
  ): UnaryRoute =>
    unaryRoute(name, method, { request, response }, etcdFailures, parseBody, limits.maxMessageBytes);
  const table: Record<string, UnaryRoute> = {
    '/v3/kv/range': route('Range', kv.Range, pb.RangeRequest, pb.RangeResponse),
    '/v3/kv/put': route('Put', kv.Put, pb.PutRequest, pb.PutResponse),
    '/v3/kv/deleterange': route('DeleteRange', kv.DeleteRange, pb.DeleteRangeRequest, pb.DeleteRangeResponse),
    '/v3/kv/txn': route('Txn', kv.Txn, pb.TxnRequest, pb.TxnResponse),
    '/v3/kv/compaction': route('Compact', kv.Compact, pb.CompactionRequest, pb.CompactionResponse),
    '/v3/lease/grant': route('LeaseGrant', lease.LeaseGrant, pb.LeaseGrantRequest, pb.LeaseGrantResponse),
    '/v3/lease/revoke': route(
      'LeaseRevoke',
      lease.LeaseRevoke,
      pb.LeaseRevokeRequest,
      pb.LeaseRevokeResponse,
    ),
    '/v3/lease/timetolive': route(
      'LeaseTimeToLive',
      lease.LeaseTimeToLive,
      pb.LeaseTimeToLiveRequest,
      pb.LeaseTimeToLiveResponse,
    ),
    '/v3/lease/leases': route(
      'LeaseLeases',
      lease.LeaseLeases,
      pb.LeaseLeasesRequest,
      pb.LeaseLeasesResponse,
    ),
    '/v3/cluster/member/list': route(
      'MemberList',
      cluster.MemberList,
      pb.MemberListRequest,
      pb.MemberListResponse,
    ),
    '/v3/cluster/member/add': route(
      'MemberAdd',
      cluster.MemberAdd,
      pb.MemberAddRequest,
      pb.MemberAddResponse,
    ),
    '/v3/cluster/member/remove': route(
      'MemberRemove',
      cluster.MemberRemove,
      pb.MemberRemoveRequest,
      pb.MemberRemoveResponse,
    ),
    '/v3/cluster/member/update': route(
      'MemberUpdate',
      cluster.MemberUpdate,
      pb.MemberUpdateRequest,
      pb.MemberUpdateResponse,
    ),
    '/v3/cluster/member/promote': route(
      'MemberPromote',
      cluster.MemberPromote,
      pb.MemberPromoteRequest,
      pb.MemberPromoteResponse,
    ),
    '/v3/maintenance/alarm': route('Alarm', maintenance.Alarm, pb.AlarmRequest, pb.AlarmResponse),
    '/v3/maintenance/status': route('Status', maintenance.Status, pb.StatusRequest, pb.StatusResponse),
    '/v3/maintenance/defragment': route(
      'Defragment',
      maintenance.Defragment,
      pb.DefragmentRequest,
      pb.DefragmentResponse,
    ),
    // etcd 3.4 quirk: HashKV shares Hash's route and is unreachable over HTTP.
    '/v3/maintenance/hash': route('Hash', maintenance.Hash, pb.HashRequest, pb.HashResponse),
    '/v3/maintenance/transfer-leadership': route(
      'MoveLeader',
      maintenance.MoveLeader,
      pb.MoveLeaderRequest,
      pb.MoveLeaderResponse,
    ),
  };
  Object.assign(table, {
    '/v3/auth/enable': route('AuthEnable', auth.AuthEnable, pb.AuthEnableRequest, pb.AuthEnableResponse),
    '/v3/auth/disable': route('AuthDisable', auth.AuthDisable, pb.AuthDisableRequest, pb.AuthDisableResponse),
    '/v3/auth/authenticate': route(
      'Authenticate',
      auth.Authenticate,
      pb.AuthenticateRequest,
      pb.AuthenticateResponse,
    ),
    '/v3/auth/user/add': route('UserAdd', auth.UserAdd, pb.AuthUserAddRequest, pb.AuthUserAddResponse),
    '/v3/auth/user/get': route('UserGet', auth.UserGet, pb.AuthUserGetRequest, pb.AuthUserGetResponse),
    '/v3/auth/user/list': route('UserList', auth.UserList, pb.AuthUserListRequest, pb.AuthUserListResponse),
    '/v3/auth/user/delete': route(
      'UserDelete',
      auth.UserDelete,
      pb.AuthUserDeleteRequest,
      pb.AuthUserDeleteResponse,
    ),
    '/v3/auth/user/changepw': route(
      'UserChangePassword',
      auth.UserChangePassword,
      pb.AuthUserChangePasswordRequest,
      pb.AuthUserChangePasswordResponse,
    ),
    '/v3/auth/user/grant': route(
      'UserGrantRole',
      auth.UserGrantRole,
      pb.AuthUserGrantRoleRequest,
      pb.AuthUserGrantRoleResponse,
    ),
    '/v3/auth/user/revoke': route(
      'UserRevokeRole',
      auth.UserRevokeRole,
      pb.AuthUserRevokeRoleRequest,
      pb.AuthUserRevokeRoleResponse,
    ),
    '/v3/auth/role/add': route('RoleAdd', auth.RoleAdd, pb.AuthRoleAddRequest, pb.AuthRoleAddResponse),
    '/v3/auth/role/get': route('RoleGet', auth.RoleGet, pb.AuthRoleGetRequest, pb.AuthRoleGetResponse),
    '/v3/auth/role/list': route('RoleList', auth.RoleList, pb.AuthRoleListRequest, pb.AuthRoleListResponse),
    '/v3/auth/role/delete': route(
      'RoleDelete',
      auth.RoleDelete,
      pb.AuthRoleDeleteRequest,
      pb.AuthRoleDeleteResponse,
    ),
    '/v3/auth/role/grant': route(
      'RoleGrantPermission',
      auth.RoleGrantPermission,
      pb.AuthRoleGrantPermissionRequest,
      pb.AuthRoleGrantPermissionResponse,
    ),
    '/v3/auth/role/revoke': route(
      'RoleRevokePermission',
      auth.RoleRevokePermission,
      pb.AuthRoleRevokePermissionRequest,
      pb.AuthRoleRevokePermissionResponse,
    ),
  });
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
    await serveUnary(req, res, route, maxBody, log);
  };
  routes.prefix('/v3/', handle).prefix('/v3beta/', handle);
  log.debug({ routes: Object.keys(table).length }, 'gateway routes registered');
}
