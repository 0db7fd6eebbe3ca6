/**
 * What a token says about its holder, and the two kinds of tokens etcd hands
 * out (`--auth-token`): simple tokens, random strings the issuing member
 * remembers, and JWTs, signed claims any member holding the public key can
 * verify. etcd's TokenProvider (auth/store.go) with its option string.
 */
/** etcd's auth.AuthInfo: the user a request acts as and the auth revision that identity was checked at. */
export interface AuthInfo {
  readonly username: string;
  readonly revision: number;
}

export interface TokenProvider {
  /**
   * Who the token names, or undefined when it is not a token this member can
   * accept (unknown, expired, badly signed). `revision` is the auth store's
   * current revision, which a simple token reports as its own.
   */
  info(token: string, revision: number): Promise<AuthInfo | undefined>;
  /** A new token for the user, checked at auth revision `revision`. */
  assign(username: string, revision: number): Promise<string>;
  /** Auth was disabled: every token handed out so far is forgotten. */
  forgetAll(): void;
  /** The user was deleted or its password changed: its simple tokens are void. */
  invalidateUser(username: string): void;
  stop(): void;
}

export type TokenOptions =
  | { readonly kind: 'simple' }
  | {
      readonly kind: 'jwt';
      readonly signMethod: string;
      readonly pubKeyFile?: string;
      readonly privKeyFile?: string;
      readonly ttlMs: number;
    };

/** etcd's default JWT lifetime. */
export const DEFAULT_JWT_TTL_MS = 5 * 60_000;

export const JWT_SIGN_METHODS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
  'EdDSA',
] as const;
