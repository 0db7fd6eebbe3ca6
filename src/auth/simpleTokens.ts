/**
 * etcd's simple tokens (auth/simple_token.go): 16 random letters and a
 * counter, remembered by the member that issued them and valid there only
 * (another member answers "invalid auth token" and the client authenticates
 * again). A token lives `ttlMs` after its last use. It names a user, not a
 * revision: it reports the store's current revision, so an auth change alone
 * never makes it stale; deleting the user or changing its password voids it.
 */
import { randomInt } from 'node:crypto';
import type { AuthInfo, TokenProvider } from './tokenProvider.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const TOKEN_LETTERS = 16;
/** How often expired tokens are swept (etcd's TTL keeper ticks every second). */
const SWEEP_MS = 1_000;

export interface SimpleTokensOptions {
  readonly ttlMs: number;
  /** Milliseconds on a monotonic clock; injected by tests. */
  readonly now?: () => number;
}

interface Held {
  readonly username: string;
  expiresAt: number;
}

export class SimpleTokens implements TokenProvider {
  private readonly tokens = new Map<string, Held>();
  private readonly now: () => number;
  private issued = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: SimpleTokensOptions) {
    this.now = options.now ?? (() => performance.now());
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  info(token: string, revision: number): Promise<AuthInfo | undefined> {
    const held = this.tokens.get(token);
    if (held === undefined || held.expiresAt <= this.now()) return Promise.resolve(undefined);
    held.expiresAt = this.now() + this.options.ttlMs;
    return Promise.resolve({ username: held.username, revision });
  }

  assign(username: string): Promise<string> {
    let prefix = '';
    for (let i = 0; i < TOKEN_LETTERS; i++) prefix += LETTERS[randomInt(LETTERS.length)];
    const token = `${prefix}.${++this.issued}`;
    this.tokens.set(token, { username, expiresAt: this.now() + this.options.ttlMs });
    return Promise.resolve(token);
  }

  forgetAll(): void {
    this.tokens.clear();
  }

  invalidateUser(username: string): void {
    for (const [token, held] of this.tokens) if (held.username === username) this.tokens.delete(token);
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.tokens.clear();
  }

  /** Tokens held now. */
  get size(): number {
    return this.tokens.size;
  }

  /** Forgets the tokens whose time ran out (the sweeper's job; tests call it directly). */
  sweep(): void {
    const now = this.now();
    for (const [token, held] of this.tokens) if (held.expiresAt <= now) this.tokens.delete(token);
  }
}
