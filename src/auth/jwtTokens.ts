/**
 * etcd's JWT tokens (auth/jwt.go): claims `username`, `revision` and `exp`,
 * signed with the member's private key (or shared secret for HS*) and
 * verifiable by every member that holds the public key, so a token issued by
 * one member is good on all. Signing and verifying are jose's. A member with
 * only the public key verifies but cannot issue.
 *
 * Verifying costs a signature check per request; a token already verified is
 * remembered (by its exact text, until its `exp`), which gives the same
 * answer as verifying it again.
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, jwtVerify } from 'jose';
import type { AuthInfo, TokenOptions, TokenProvider } from './tokenProvider.js';

/** Verified tokens remembered at most; the oldest go first. */
const VERIFIED_CACHE_SIZE = 4096;

type JwtOptions = Extract<TokenOptions, { kind: 'jwt' }>;

interface Verified {
  readonly info: AuthInfo;
  readonly expiresAtMs: number;
}

export class JwtTokens implements TokenProvider {
  private readonly signKey: KeyObject | undefined;
  private readonly verifyKey: KeyObject;
  private readonly verified = new Map<string, Verified>();

  constructor(private readonly options: JwtOptions) {
    const read = (what: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`--auth-token: cannot read the JWT ${what} '${path}' (${(err as Error).message})`);
      }
    };
    const load = <T>(what: string, make: () => T): T => {
      try {
        return make();
      } catch (err) {
        throw new Error(`--auth-token: the JWT ${what} is not usable (${(err as Error).message})`);
      }
    };
    if (options.signMethod.startsWith('HS')) {
      const secret = read('secret (priv-key)', options.privKeyFile!);
      this.signKey = load('secret', () => createSecretKey(secret));
      this.verifyKey = this.signKey;
      return;
    }
    this.verifyKey = load('public key', () => createPublicKey(read('public key', options.pubKeyFile!)));
    this.signKey =
      options.privKeyFile === undefined
        ? undefined
        : load('private key', () => createPrivateKey(read('private key', options.privKeyFile!)));
  }

  async info(token: string): Promise<AuthInfo | undefined> {
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (known.expiresAtMs > Date.now()) return known.info;
      this.verified.delete(token);
      return undefined;
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.verifyKey, {
        algorithms: [this.options.signMethod],
        requiredClaims: ['exp'],
      }));
    } catch {
      return undefined;
    }
    const { username, revision, exp } = payload;
    if (typeof username !== 'string' || typeof revision !== 'number' || typeof exp !== 'number')
      return undefined;
    const info = { username, revision };
    if (this.verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, { info, expiresAtMs: exp * 1000 });
    return info;
  }

  async assign(username: string, revision: number): Promise<string> {
    if (this.signKey === undefined)
      throw new Error('auth: this member has no JWT private key (priv-key) to issue tokens with');
    return new SignJWT({ username, revision })
      .setProtectedHeader({ alg: this.options.signMethod, typ: 'JWT' })
      .setExpirationTime(Math.floor((Date.now() + this.options.ttlMs) / 1000))
      .sign(this.signKey);
  }

  forgetAll(): void {
    this.verified.clear();
  }

  /**
   * A JWT carries its own claims and stays verifiable; the user's change bumped
   * the auth revision, so the revision check refuses it. Only what was
   * remembered of it goes.
   */
  invalidateUser(username: string): void {
    for (const [token, v] of this.verified) if (v.info.username === username) this.verified.delete(token);
  }

  stop(): void {
    this.verified.clear();
  }
}
