/**
 * The auth requests of a member (etcd's v3_server.go Auth* and its
 * AuthInfoFromCtx, doSerialize and checks of the API layer): who a request
 * acts as, authentication, the auth changes (proposed through Raft and
 * checked when applied, authApplier.ts), and the reads and checks a member
 * answers from its own applied state after a linearizable read.
 */
import type { Logger } from 'pino';
import { ROOT_USER, type AuthChangeKind, type AuthChanges, type AuthStore } from '../auth/authStore.js';
import { ErrInvalidAuthToken } from '../auth/errors.js';
import { hashPassword } from '../auth/passwords.js';
import type { AuthInfo, TokenProvider } from '../auth/tokenProvider.js';
import {
  AuthRoleGetResponse,
  AuthRoleListResponse,
  AuthUserGetResponse,
  AuthUserListResponse,
  AuthenticateResponse,
  type InternalRaftRequest,
  type ResponseHeader,
} from '../proto/etcdserverpb.js';
import type { AppliedResponses } from './requestApplier.js';
import type { RequestContext } from './requestContext.js';

export interface AuthRequestsDeps {
  readonly store: AuthStore;
  readonly tokens: TokenProvider;
  readonly bcryptCost: number;
  /** --client-cert-auth: a verified certificate's common name is the user when no token is sent. */
  readonly clientCertAuth: boolean;
  proposeRequest<K extends AuthChangeKind>(
    kind: K,
    request: InternalRaftRequest[K],
    ctx: RequestContext,
  ): Promise<AppliedResponses[K]>;
  linearizableRead(ctx: RequestContext): Promise<void>;
  header(): ResponseHeader;
  readonly logger: Logger;
}

export class AuthRequests {
  constructor(private readonly deps: AuthRequestsDeps) {}

  /**
   * Who a request acts as (etcd's AuthInfoFromCtx, then AuthInfoFromTLS): the
   * user its token names, else its certificate's common name at the current
   * revision, else nobody. A token this member does not accept is an error
   * even with auth off, as in etcd.
   */
  async authInfo(ctx: RequestContext): Promise<AuthInfo | undefined> {
    const { store } = this.deps;
    if (ctx.member) return { username: ROOT_USER, revision: store.revision };
    if (ctx.token !== undefined) {
      const info = await this.deps.tokens.info(ctx.token, store.revision);
      if (info === undefined) throw ErrInvalidAuthToken;
      return info;
    }
    if (this.deps.clientCertAuth && ctx.certCommonName !== undefined && ctx.certCommonName !== '')
      return { username: ctx.certCommonName, revision: store.revision };
    return undefined;
  }

  /**
   * etcd's Authenticate: the password is checked against the applied state
   * after a linearizable read, and the token carries the revision it was
   * checked at (checked again if an auth change landed meanwhile). Nothing
   * enters the Raft log: the token is this member's (simple) or signed (JWT).
   */
  async authenticate(name: string, password: string, ctx: RequestContext): Promise<AuthenticateResponse> {
    const { store, tokens } = this.deps;
    await this.deps.linearizableRead(ctx);
    for (;;) {
      const checkedAt = await store.checkPassword(name, password);
      if (checkedAt !== store.revision) continue;
      const token = await tokens.assign(name, checkedAt);
      this.deps.logger.debug({ user: name }, 'authenticated a user');
      return AuthenticateResponse.create({ header: this.deps.header(), token });
    }
  }

  /**
   * Proposes an auth change; applying it checks that the user may (root
   * role). A password is hashed here, once, so that only its hash enters the
   * log and every member's store.
   */
  async change<K extends AuthChangeKind>(kind: K, req: AuthChanges[K], ctx: RequestContext): Promise<void> {
    // The Raft request's field of kind K is the change of kind K (AuthChanges mirrors it).
    const request = (await this.withHashedPassword(kind, req)) as InternalRaftRequest[K];
    await this.deps.proposeRequest(kind, request, ctx);
  }

  private async withHashedPassword<K extends AuthChangeKind>(
    kind: K,
    req: AuthChanges[K],
  ): Promise<AuthChanges[K]> {
    if (kind !== 'authUserAdd' && kind !== 'authUserChangePassword') return req;
    const r = req as AuthChanges['authUserAdd'] | AuthChanges['authUserChangePassword'];
    const noPassword = 'options' in r && (r.options?.noPassword ?? false);
    const hashedPassword = noPassword ? '' : await hashPassword(r.password, this.deps.bcryptCost);
    return { ...req, password: '', hashedPassword };
  }

  /** A user's roles: for the root role, or for the user itself. */
  async userGet(name: string, ctx: RequestContext): Promise<AuthUserGetResponse> {
    return this.read(ctx, (who) => {
      if (who?.username !== name) this.deps.store.isAdminPermitted(who);
      return AuthUserGetResponse.create({ header: this.deps.header(), roles: this.deps.store.userGet(name) });
    });
  }

  async userList(ctx: RequestContext): Promise<AuthUserListResponse> {
    return this.read(ctx, (who) => {
      this.deps.store.isAdminPermitted(who);
      return AuthUserListResponse.create({ header: this.deps.header(), users: this.deps.store.userList() });
    });
  }

  /** A role's permissions: for the root role, or for a user that has the role. */
  async roleGet(role: string, ctx: RequestContext): Promise<AuthRoleGetResponse> {
    return this.read(ctx, (who) => {
      if (who === undefined || !this.deps.store.hasRole(who.username, role))
        this.deps.store.isAdminPermitted(who);
      return AuthRoleGetResponse.create({ header: this.deps.header(), perm: this.deps.store.roleGet(role) });
    });
  }

  async roleList(ctx: RequestContext): Promise<AuthRoleListResponse> {
    return this.read(ctx, (who) => {
      this.deps.store.isAdminPermitted(who);
      return AuthRoleListResponse.create({ header: this.deps.header(), roles: this.deps.store.roleList() });
    });
  }

  /** Why a watch on the range is refused (etcd's isWatchPermitted), or undefined when it may start. */
  async watchRefusal(ctx: RequestContext, key: Uint8Array, rangeEnd: Uint8Array): Promise<Error | undefined> {
    try {
      this.deps.store.isRangePermitted(await this.authInfo(ctx), key, rangeEnd);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** etcd's admin-only RPCs outside the Raft log (membership, defragment, snapshot, hashes). */
  async checkAdmin(ctx: RequestContext): Promise<void> {
    this.deps.store.isAdminPermitted(await this.authInfo(ctx));
  }

  /**
   * etcd's doSerialize: a read made from this member's state, checked for
   * the user first; if the auth store changed while it was being made (the
   * user's revision is no longer current), it is checked and made again.
   */
  async serialized<T>(
    ctx: RequestContext,
    check: (who: AuthInfo | undefined) => void,
    read: () => Promise<T>,
  ): Promise<T> {
    for (;;) {
      const who = await this.authInfo(ctx);
      check(who);
      const result = await read();
      if (who === undefined || who.revision === 0 || who.revision === this.deps.store.revision) return result;
    }
  }

  private async read<T>(ctx: RequestContext, answer: (who: AuthInfo | undefined) => T): Promise<T> {
    await this.deps.linearizableRead(ctx);
    return answer(await this.authInfo(ctx));
  }
}
