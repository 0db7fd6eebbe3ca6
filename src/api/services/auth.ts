import type { EtcdServer } from '../../server/etcdServer.js';
import type { AuthChangeKind, AuthChanges } from '../../auth/authStore.js';
import {
  AuthDisableResponse,
  AuthEnableResponse,
  AuthRoleAddResponse,
  AuthRoleDeleteResponse,
  AuthRoleGrantPermissionResponse,
  AuthRoleRevokePermissionResponse,
  AuthUserAddResponse,
  AuthUserChangePasswordResponse,
  AuthUserDeleteResponse,
  AuthUserGrantRoleResponse,
  AuthUserRevokeRoleResponse,
  type AuthDisableRequest,
  type AuthEnableRequest,
  type AuthRoleAddRequest,
  type AuthRoleDeleteRequest,
  type AuthRoleGetRequest,
  type AuthRoleGetResponse,
  type AuthRoleGrantPermissionRequest,
  type AuthRoleListRequest,
  type AuthRoleListResponse,
  type AuthRoleRevokePermissionRequest,
  type AuthUserAddRequest,
  type AuthUserChangePasswordRequest,
  type AuthUserDeleteRequest,
  type AuthUserGetRequest,
  type AuthUserGetResponse,
  type AuthUserGrantRoleRequest,
  type AuthUserListRequest,
  type AuthUserListResponse,
  type AuthUserRevokeRoleRequest,
  type AuthenticateRequest,
  type AuthenticateResponse,
  type ResponseHeader,
} from '../../proto/etcdserverpb.js';
import type { UnaryMethod } from '../rpc.js';

export interface AuthService {
  readonly AuthEnable: UnaryMethod<AuthEnableRequest, AuthEnableResponse>;
  readonly AuthDisable: UnaryMethod<AuthDisableRequest, AuthDisableResponse>;
  readonly Authenticate: UnaryMethod<AuthenticateRequest, AuthenticateResponse>;
  readonly UserAdd: UnaryMethod<AuthUserAddRequest, AuthUserAddResponse>;
  readonly UserGet: UnaryMethod<AuthUserGetRequest, AuthUserGetResponse>;
  readonly UserList: UnaryMethod<AuthUserListRequest, AuthUserListResponse>;
  readonly UserDelete: UnaryMethod<AuthUserDeleteRequest, AuthUserDeleteResponse>;
  readonly UserChangePassword: UnaryMethod<AuthUserChangePasswordRequest, AuthUserChangePasswordResponse>;
  readonly UserGrantRole: UnaryMethod<AuthUserGrantRoleRequest, AuthUserGrantRoleResponse>;
  readonly UserRevokeRole: UnaryMethod<AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse>;
  readonly RoleAdd: UnaryMethod<AuthRoleAddRequest, AuthRoleAddResponse>;
  readonly RoleGet: UnaryMethod<AuthRoleGetRequest, AuthRoleGetResponse>;
  readonly RoleList: UnaryMethod<AuthRoleListRequest, AuthRoleListResponse>;
  readonly RoleDelete: UnaryMethod<AuthRoleDeleteRequest, AuthRoleDeleteResponse>;
  readonly RoleGrantPermission: UnaryMethod<AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse>;
  readonly RoleRevokePermission: UnaryMethod<
    AuthRoleRevokePermissionRequest,
    AuthRoleRevokePermissionResponse
  >;
}

/**
 * etcdserverpb.Auth as etcd 3.4 serves it (AuthStatus is 3.5's, so grpc-js
 * answers it Unimplemented). Changes go through Raft and are checked when
 * applied; every answer carries the header of the current revision.
 */
export function authService(server: EtcdServer): AuthService {
  const { auth } = server;
  /** A change, answered with a bare header. */
  const change =
    <K extends AuthChangeKind, Res>(
      kind: K,
      reply: (header: ResponseHeader) => Res,
    ): UnaryMethod<AuthChanges[K], Res> =>
    async (req, ctx) => {
      await auth.change(kind, req, ctx);
      return reply(server.header());
    };
  return {
    AuthEnable: change('authEnable', (header) => AuthEnableResponse.create({ header })),
    AuthDisable: change('authDisable', (header) => AuthDisableResponse.create({ header })),
    Authenticate: (req, ctx) => auth.authenticate(req.name, req.password, ctx),
    UserAdd: change('authUserAdd', (header) => AuthUserAddResponse.create({ header })),
    UserGet: (req, ctx) => auth.userGet(req.name, ctx),
    UserList: (_req, ctx) => auth.userList(ctx),
    UserDelete: change('authUserDelete', (header) => AuthUserDeleteResponse.create({ header })),
    UserChangePassword: change('authUserChangePassword', (header) =>
      AuthUserChangePasswordResponse.create({ header }),
    ),
    UserGrantRole: change('authUserGrantRole', (header) => AuthUserGrantRoleResponse.create({ header })),
    UserRevokeRole: change('authUserRevokeRole', (header) => AuthUserRevokeRoleResponse.create({ header })),
    RoleAdd: change('authRoleAdd', (header) => AuthRoleAddResponse.create({ header })),
    RoleGet: (req, ctx) => auth.roleGet(req.role, ctx),
    RoleList: (_req, ctx) => auth.roleList(ctx),
    RoleDelete: change('authRoleDelete', (header) => AuthRoleDeleteResponse.create({ header })),
    RoleGrantPermission: change('authRoleGrantPermission', (header) =>
      AuthRoleGrantPermissionResponse.create({ header }),
    ),
    RoleRevokePermission: change('authRoleRevokePermission', (header) =>
      AuthRoleRevokePermissionResponse.create({ header }),
    ),
  };
}
