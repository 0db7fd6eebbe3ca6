/**
 * The auth store's errors (etcd's auth/store.go). Each has two texts, because
 * etcd sends them two ways: through v3rpc's error map (togRPCError) most
 * clients read the `etcdserver:` text with its gRPC code (src/api/rpcErrors.ts
 * finds the code by the text); the Maintenance service's admin check returns
 * the store's own `auth:` text unmapped, which clients read as code Unknown.
 * An error etcd never maps (ErrNoPasswordUser) has only its `auth:` text.
 */
export class AuthError extends Error {
  constructor(
    /** The store's own text. */
    readonly raw: string,
    /** The text v3rpc maps it to; the raw text when etcd leaves it unmapped. */
    client: string = raw,
  ) {
    super(client);
    this.name = 'AuthError';
  }
}

const e = (raw: string, client?: string): AuthError => new AuthError(raw, client);

export const ErrRootUserNotExist = e(
  'auth: root user does not exist',
  'etcdserver: root user does not exist',
);
export const ErrRootRoleNotExist = e(
  'auth: root user does not have root role',
  'etcdserver: root user does not have root role',
);
export const ErrUserAlreadyExist = e('auth: user already exists', 'etcdserver: user name already exists');
export const ErrUserEmpty = e('auth: user name is empty', 'etcdserver: user name is empty');
export const ErrUserNotFound = e('auth: user not found', 'etcdserver: user name not found');
export const ErrRoleAlreadyExist = e('auth: role already exists', 'etcdserver: role name already exists');
export const ErrRoleNotFound = e('auth: role not found', 'etcdserver: role name not found');
export const ErrRoleEmpty = e('auth: role name is empty', 'etcdserver: role name is empty');
/** etcd 3.4 crashes on a grant without a permission; 3.5 answers this. */
export const ErrPermissionNotGiven = e('auth: permission not given', 'etcdserver: permission not given');
export const ErrAuthFailed = e(
  'auth: authentication failed, invalid user ID or password',
  'etcdserver: authentication failed, invalid user ID or password',
);
export const ErrNoPasswordUser = e('auth: authentication failed, password was given for no password user');
export const ErrPermissionDenied = e('auth: permission denied', 'etcdserver: permission denied');
export const ErrRoleNotGranted = e(
  'auth: role is not granted to the user',
  'etcdserver: role is not granted to the user',
);
export const ErrPermissionNotGranted = e(
  'auth: permission is not granted to the role',
  'etcdserver: permission is not granted to the role',
);
export const ErrAuthNotEnabled = e(
  'auth: authentication is not enabled',
  'etcdserver: authentication is not enabled',
);
export const ErrAuthOldRevision = e(
  'auth: revision in header is old',
  'etcdserver: revision of auth store is old',
);
export const ErrInvalidAuthToken = e('auth: invalid auth token', 'etcdserver: invalid auth token');
export const ErrInvalidAuthMgmt = e('auth: invalid auth management', 'etcdserver: invalid auth management');
