/**
 * The auth store (etcd's auth/store.go): users, roles, their permissions,
 * whether auth is on, and the auth revision every change moves forward.
 *
 * Changes come only from applied Raft entries (apply()), so every member
 * makes the same ones in the same order and answers every permission check
 * at a given applied index the same way. The state is kept in memory and in
 * the backend, in etcd's three buckets with etcd's keys and values: each
 * change is staged there and written by the key space's next commit, in the
 * same batch as the applied index, so a restart or a snapshot install finds
 * the store exactly at that index (and rebuilds the permission cache from it).
 */
import type { Logger } from 'pino';
import {
  Permission,
  Role,
  User,
  UserAddOptions,
  type Permission as PermissionRecord,
} from '../proto/authpb.js';
import type {
  AuthDisableRequest,
  AuthEnableRequest,
  AuthRoleAddRequest,
  AuthRoleDeleteRequest,
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
  AuthUserDeleteRequest,
  AuthUserGrantRoleRequest,
  AuthUserRevokeRoleRequest,
} from '../proto/etcdserverpb.js';
import type { AuthBucket } from '../storage/backend/layout.js';
import {
  ErrAuthNotEnabled,
  ErrAuthOldRevision,
  ErrInvalidAuthMgmt,
  ErrNoPasswordUser,
  ErrAuthFailed,
  ErrPermissionDenied,
  ErrPermissionNotGiven,
  ErrPermissionNotGranted,
  ErrRoleAlreadyExist,
  ErrRoleEmpty,
  ErrRoleNotFound,
  ErrRoleNotGranted,
  ErrRootRoleNotExist,
  ErrRootUserNotExist,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
} from './errors.js';
import { passwordMatches } from './passwords.js';
import { userPermissions, type UserPermissions } from './rangePermissions.js';
import type { AuthInfo, TokenProvider } from './tokenProvider.js';

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

/** etcd's keys in its `auth` bucket. */
const ENABLED_KEY = Buffer.from('authEnabled');
const REVISION_KEY = Buffer.from('authRevision');

/** Each auth change as it travels in the Raft log (InternalRaftRequest's fields). */
export interface AuthChanges {
  authEnable: AuthEnableRequest;
  authDisable: AuthDisableRequest;
  authUserAdd: AuthUserAddRequest;
  authUserDelete: AuthUserDeleteRequest;
  authUserChangePassword: AuthUserChangePasswordRequest;
  authUserGrantRole: AuthUserGrantRoleRequest;
  authUserRevokeRole: AuthUserRevokeRoleRequest;
  authRoleAdd: AuthRoleAddRequest;
  authRoleDelete: AuthRoleDeleteRequest;
  authRoleGrantPermission: AuthRoleGrantPermissionRequest;
  authRoleRevokePermission: AuthRoleRevokePermissionRequest;
}
export type AuthChangeKind = keyof AuthChanges;

export const AUTH_CHANGE_KINDS: readonly AuthChangeKind[] = [
  'authEnable',
  'authDisable',
  'authUserAdd',
  'authUserDelete',
  'authUserChangePassword',
  'authUserGrantRole',
  'authUserRevokeRole',
  'authRoleAdd',
  'authRoleDelete',
  'authRoleGrantPermission',
  'authRoleRevokePermission',
];

/** Where the store's records go and come from (the key space's backend, layout.ts). */
export interface AuthRecords {
  /** Written by the key space's next commit, with the applied index. */
  stage(bucket: AuthBucket, key: Uint8Array, value: Uint8Array | undefined): void;
}

/** One record as the backend holds it. */
export interface StoredAuthRecord {
  readonly bucket: AuthBucket;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface AuthStoreDeps {
  readonly records: AuthRecords;
  readonly tokens: TokenProvider;
  readonly logger: Logger;
}

type Access = 'read' | 'write';

export class AuthStore {
  private enabled = false;
  /** etcd starts a new store at revision 1: 0 in a request means "no user". */
  private rev = 1;
  private readonly users = new Map<string, User>();
  private readonly roles = new Map<string, Role>();
  /** Merged permissions per user, rebuilt from the store when needed (etcd's rangePermCache). */
  private readonly permissions = new Map<string, UserPermissions>();

  constructor(private readonly deps: AuthStoreDeps) {}

  /** Puts the store in the state `records` hold (on start, and after a snapshot replaced the backend). */
  load(records: readonly StoredAuthRecord[]): void {
    this.enabled = false;
    this.rev = 1;
    this.users.clear();
    this.roles.clear();
    this.permissions.clear();
    for (const { bucket, key, value } of records) {
      if (bucket === 'auth') {
        if (Buffer.from(key).equals(ENABLED_KEY)) this.enabled = value.length === 1 && value[0] === 1;
        else if (Buffer.from(key).equals(REVISION_KEY) && value.length === 8)
          this.rev = Math.max(1, Number(Buffer.from(value).readBigUInt64BE(0)));
      } else if (bucket === 'authUsers') {
        const user = User.decode(value);
        this.users.set(nameOf(user.name), user);
      } else {
        const role = Role.decode(value);
        this.roles.set(nameOf(role.name), role);
      }
    }
    this.deps.tokens.forgetAll();
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  get revision(): number {
    return this.rev;
  }

  // ------------------------------------------------------------------ changes

  /** Applies one change from the log; throws the AuthError etcd answers, changing nothing. */
  apply<K extends AuthChangeKind>(kind: K, req: AuthChanges[K]): void {
    const changes: { [C in AuthChangeKind]: (r: AuthChanges[C]) => void } = {
      authEnable: () => this.enable(),
      authDisable: () => this.disable(),
      authUserAdd: (r) => this.userAdd(r),
      authUserDelete: (r) => this.userDelete(r),
      authUserChangePassword: (r) => this.userChangePassword(r),
      authUserGrantRole: (r) => this.userGrantRole(r),
      authUserRevokeRole: (r) => this.userRevokeRole(r),
      authRoleAdd: (r) => this.roleAdd(r),
      authRoleDelete: (r) => this.roleDelete(r),
      authRoleGrantPermission: (r) => this.roleGrantPermission(r),
      authRoleRevokePermission: (r) => this.roleRevokePermission(r),
    };
    changes[kind](req);
  }

  /** etcd's AuthEnable: needs the root user with the root role; leaves the revision as it is. */
  private enable(): void {
    if (this.enabled) return;
    const root = this.users.get(ROOT_USER);
    if (root === undefined) throw ErrRootUserNotExist;
    if (!hasRole(root, ROOT_ROLE)) throw ErrRootRoleNotExist;
    this.enabled = true;
    this.deps.records.stage('auth', ENABLED_KEY, Buffer.of(1));
    this.permissions.clear();
    this.deps.logger.info('enabled authentication');
  }

  private disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.deps.records.stage('auth', ENABLED_KEY, Buffer.of(0));
    this.commitRevision();
    this.deps.tokens.forgetAll();
    this.deps.logger.info('disabled authentication');
  }

  private userAdd(r: AuthUserAddRequest): void {
    if (r.name.length === 0) throw ErrUserEmpty;
    if (this.users.has(r.name)) throw ErrUserAlreadyExist;
    const noPassword = r.options?.noPassword ?? false;
    this.putUser(
      User.create({
        name: Buffer.from(r.name),
        password: noPassword ? new Uint8Array(0) : Buffer.from(r.hashedPassword, 'latin1'),
        options: UserAddOptions.create({ noPassword }),
      }),
    );
    this.commitRevision();
    this.deps.logger.info({ user: r.name }, 'added a user');
  }

  private userDelete(r: AuthUserDeleteRequest): void {
    if (this.enabled && r.name === ROOT_USER) throw ErrInvalidAuthMgmt;
    if (!this.users.has(r.name)) throw ErrUserNotFound;
    this.users.delete(r.name);
    this.deps.records.stage('authUsers', Buffer.from(r.name), undefined);
    this.commitRevision();
    this.permissions.delete(r.name);
    this.deps.tokens.invalidateUser(r.name);
    this.deps.logger.info({ user: r.name }, 'deleted a user');
  }

  private userChangePassword(r: AuthUserChangePasswordRequest): void {
    const user = this.users.get(r.name);
    if (user === undefined) throw ErrUserNotFound;
    this.putUser({ ...user, password: Buffer.from(r.hashedPassword, 'latin1') });
    this.commitRevision();
    this.permissions.delete(r.name);
    this.deps.tokens.invalidateUser(r.name);
    this.deps.logger.info({ user: r.name }, 'changed the password of a user');
  }

  private userGrantRole(r: AuthUserGrantRoleRequest): void {
    const user = this.users.get(r.user);
    if (user === undefined) throw ErrUserNotFound;
    // The root role may be granted before a role named root exists.
    if (r.role !== ROOT_ROLE && !this.roles.has(r.role)) throw ErrRoleNotFound;
    if (hasRole(user, r.role)) return;
    this.putUser({ ...user, roles: [...user.roles, r.role].sort(byBytes) });
    this.permissions.delete(r.user);
    this.commitRevision();
    this.deps.logger.info({ user: r.user, role: r.role }, 'granted a role to a user');
  }

  private userRevokeRole(r: AuthUserRevokeRoleRequest): void {
    if (this.enabled && r.name === ROOT_USER && r.role === ROOT_ROLE) throw ErrInvalidAuthMgmt;
    const user = this.users.get(r.name);
    if (user === undefined) throw ErrUserNotFound;
    const roles = user.roles.filter((role) => role !== r.role);
    if (roles.length === user.roles.length) throw ErrRoleNotGranted;
    this.putUser({ ...user, roles });
    this.permissions.delete(r.name);
    this.commitRevision();
    this.deps.logger.info({ user: r.name, role: r.role }, 'revoked a role from a user');
  }

  private roleAdd(r: AuthRoleAddRequest): void {
    if (r.name.length === 0) throw ErrRoleEmpty;
    if (this.roles.has(r.name)) throw ErrRoleAlreadyExist;
    this.putRole(Role.create({ name: Buffer.from(r.name) }));
    this.commitRevision();
    this.deps.logger.info({ role: r.name }, 'created a role');
  }

  /** A deleted role is taken from every user that has it. */
  private roleDelete(r: AuthRoleDeleteRequest): void {
    if (this.enabled && r.role === ROOT_ROLE) throw ErrInvalidAuthMgmt;
    if (!this.roles.has(r.role)) throw ErrRoleNotFound;
    this.roles.delete(r.role);
    this.deps.records.stage('authRoles', Buffer.from(r.role), undefined);
    for (const user of [...this.users.values()]) {
      if (!user.roles.includes(r.role)) continue;
      this.putUser({ ...user, roles: user.roles.filter((role) => role !== r.role) });
    }
    this.permissions.clear();
    this.commitRevision();
    this.deps.logger.info({ role: r.role }, 'deleted a role');
  }

  /** The same key and range end again updates the type; a new range is added, kept sorted by key. */
  private roleGrantPermission(r: AuthRoleGrantPermissionRequest): void {
    const role = this.roles.get(r.name);
    if (role === undefined) throw ErrRoleNotFound;
    const perm = r.perm;
    if (perm === undefined) throw ErrPermissionNotGiven;
    const same = (p: PermissionRecord): boolean =>
      Buffer.from(p.key).equals(perm.key) && Buffer.from(p.rangeEnd).equals(perm.rangeEnd);
    const granted = Permission.create({ permType: perm.permType, key: perm.key, rangeEnd: perm.rangeEnd });
    const keyPermission = role.keyPermission.some(same)
      ? role.keyPermission.map((p) => (same(p) ? granted : p))
      : [...role.keyPermission, granted].sort((a, b) => Buffer.compare(a.key, b.key));
    this.putRole({ ...role, keyPermission });
    this.permissions.clear();
    this.commitRevision();
    this.deps.logger.info({ role: r.name }, 'granted a permission to a role');
  }

  private roleRevokePermission(r: AuthRoleRevokePermissionRequest): void {
    const role = this.roles.get(r.role);
    if (role === undefined) throw ErrRoleNotFound;
    const keyPermission = role.keyPermission.filter(
      (p) => !(Buffer.from(p.key).equals(r.key) && Buffer.from(p.rangeEnd).equals(r.rangeEnd)),
    );
    if (keyPermission.length === role.keyPermission.length) throw ErrPermissionNotGranted;
    this.putRole({ ...role, keyPermission });
    this.permissions.clear();
    this.commitRevision();
    this.deps.logger.info({ role: r.role }, 'revoked a permission from a role');
  }

  private putUser(user: User): void {
    this.users.set(nameOf(user.name), user);
    this.deps.records.stage('authUsers', user.name, User.encode(user));
  }

  private putRole(role: Role): void {
    this.roles.set(nameOf(role.name), role);
    this.deps.records.stage('authRoles', role.name, Role.encode(role));
  }

  private commitRevision(): void {
    this.rev += 1;
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(this.rev));
    this.deps.records.stage('auth', REVISION_KEY, b);
  }

  // ------------------------------------------------------------------- checks

  /** etcd's IsRangePermitted: read access to [key, rangeEnd). */
  isRangePermitted(who: AuthInfo | undefined, key: Uint8Array, rangeEnd?: Uint8Array): void {
    this.check(who, 'read', key, rangeEnd);
  }

  /** etcd's IsPutPermitted: write access to one key. */
  isPutPermitted(who: AuthInfo | undefined, key: Uint8Array): void {
    this.check(who, 'write', key, undefined);
  }

  /** etcd's IsDeleteRangePermitted: write access to [key, rangeEnd). */
  isDeleteRangePermitted(who: AuthInfo | undefined, key: Uint8Array, rangeEnd?: Uint8Array): void {
    this.check(who, 'write', key, rangeEnd);
  }

  /**
   * etcd's isOpPermitted: with auth on, a request needs a user (a revision of
   * 0 means none), checked at the store's current revision or later, that
   * exists and either has the root role or a role covering the range.
   */
  private check(
    who: AuthInfo | undefined,
    access: Access,
    key: Uint8Array,
    rangeEnd: Uint8Array | undefined,
  ): void {
    if (!this.enabled) return;
    if (who === undefined || who.revision === 0) throw ErrUserEmpty;
    if (who.revision < this.rev) throw ErrAuthOldRevision;
    const user = this.users.get(who.username);
    if (user === undefined) throw ErrPermissionDenied;
    if (hasRole(user, ROOT_ROLE)) return;
    if (!this.permissionsOf(user)[access].covers(key, rangeEnd)) throw ErrPermissionDenied;
  }

  /** etcd's IsAdminPermitted: with auth on, the user must exist and have the root role (any revision). */
  isAdminPermitted(who: AuthInfo | undefined): void {
    if (!this.enabled) return;
    if (who === undefined || who.username === '') throw ErrUserEmpty;
    const user = this.users.get(who.username);
    if (user === undefined) throw ErrUserNotFound;
    if (!hasRole(user, ROOT_ROLE)) throw ErrPermissionDenied;
  }

  /** Whether the user exists and has the role (a user may read its own roles). */
  hasRole(username: string, role: string): boolean {
    const user = this.users.get(username);
    return user !== undefined && hasRole(user, role);
  }

  private permissionsOf(user: User): UserPermissions {
    const name = nameOf(user.name);
    let perms = this.permissions.get(name);
    if (perms === undefined) {
      perms = userPermissions(user.roles.flatMap((role) => this.roles.get(role)?.keyPermission ?? []));
      this.permissions.set(name, perms);
    }
    return perms;
  }

  // -------------------------------------------------------------------- reads

  /**
   * etcd's CheckPassword: the revision the password was checked at. A user
   * without a password can only come in with a client certificate.
   */
  async checkPassword(username: string, password: string): Promise<number> {
    if (!this.enabled) throw ErrAuthNotEnabled;
    const user = this.users.get(username);
    if (user === undefined) throw ErrAuthFailed;
    if (user.options?.noPassword) throw ErrNoPasswordUser;
    const revision = this.rev;
    if (!(await passwordMatches(password, user.password))) throw ErrAuthFailed;
    return revision;
  }

  /** The user's roles, sorted. */
  userGet(name: string): string[] {
    const user = this.users.get(name);
    if (user === undefined) throw ErrUserNotFound;
    return [...user.roles];
  }

  /** Every user's name, in byte order (etcd's bucket order). */
  userList(): string[] {
    return [...this.users.keys()].sort(byBytes);
  }

  roleGet(name: string): PermissionRecord[] {
    const role = this.roles.get(name);
    if (role === undefined) throw ErrRoleNotFound;
    return role.keyPermission.map((p) => Permission.create(p));
  }

  roleList(): string[] {
    return [...this.roles.keys()].sort(byBytes);
  }
}

function hasRole(user: User, role: string): boolean {
  return user.roles.includes(role);
}

function nameOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
