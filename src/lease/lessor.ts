/**
 * The lessor decides when leases expire (etcd's lease.Lessor). What a lease is
 * (its ID, granted TTL, the keys attached) follows the Raft log and lives in the
 * MVCC backend; the lessor keeps only time: an expiry per lease on the primary
 * (the leader), none on other members. Expiry is decided only by the primary,
 * and only while it is primary: demote() on any loss of leadership stops it at
 * once, so an old leader can never revoke leases (etcd #15247, #12528).
 *
 * Time comes from an injected clock, so tests drive it without waiting.
 */

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;

export interface LessorOptions {
  /** Minimum TTL in seconds; shorter grants are raised to it (etcd: 1.5 × election timeout, rounded up). */
  minTtl: number;
  now?: () => number;
}

interface LeaseTimer {
  ttl: number;
  /** Milliseconds since the epoch; Infinity when this member is not the primary. */
  expiry: number;
  /** Remaining TTL from the last checkpoint, in seconds; 0 when none. */
  remainingTtl: number;
}

export class Lessor {
  private readonly leases = new Map<bigint, LeaseTimer>();
  private primary = false;
  private readonly now: () => number;
  readonly minTtl: number;

  constructor(options: LessorOptions) {
    this.minTtl = options.minTtl;
    this.now = options.now ?? Date.now;
  }

  /** The TTL a grant of `requested` seconds really gets. */
  effectiveTtl(requested: number): number {
    return Math.max(requested, this.minTtl);
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  ids(): bigint[] {
    return [...this.leases.keys()];
  }

  /** Applied grant (on every member, in log order). */
  grant(id: bigint, ttl: number, remainingTtl = 0): void {
    const timer: LeaseTimer = { ttl, remainingTtl, expiry: Number.POSITIVE_INFINITY };
    if (this.primary) timer.expiry = this.now() + this.remainingOrTtl(timer) * 1000;
    this.leases.set(id, timer);
  }

  /** Takes the leases a snapshot carries in place of these (etcd's Lessor.Recover). */
  recover(leases: Iterable<{ id: bigint; ttl: number; remainingTtl: number }>): void {
    this.leases.clear();
    for (const l of leases) this.grant(l.id, l.ttl, l.remainingTtl);
  }

  /** Applied revoke. */
  revoke(id: bigint): void {
    this.leases.delete(id);
  }

  /** Applied checkpoint: remember the remaining TTL so a new leader does not extend the lease to its full TTL. */
  checkpoint(id: bigint, remainingTtl: number): void {
    const timer = this.leases.get(id);
    if (!timer) return;
    timer.remainingTtl = remainingTtl;
    if (this.primary) timer.expiry = this.now() + remainingTtl * 1000;
  }

  /**
   * Keep-alive on the primary: the lease lives another TTL. Returns the TTL,
   * or undefined when the lease does not exist (the caller answers TTL 0 / not found).
   */
  renew(id: bigint): number | undefined {
    const timer = this.leases.get(id);
    if (!timer) return undefined;
    timer.remainingTtl = 0;
    if (this.primary) timer.expiry = this.now() + timer.ttl * 1000;
    return timer.ttl;
  }

  /** Whether the lease's time has run out on this primary (it is due to be revoked). */
  hasExpired(id: bigint): boolean {
    const timer = this.leases.get(id);
    return timer !== undefined && timer.expiry <= this.now();
  }

  /** Granted and remaining TTL in whole seconds (undefined for an unknown lease; the API answers TTL -1). */
  timeToLive(id: bigint): { grantedTtl: number; remainingTtl: number } | undefined {
    const timer = this.leases.get(id);
    if (!timer) return undefined;
    if (!Number.isFinite(timer.expiry))
      return { grantedTtl: timer.ttl, remainingTtl: this.remainingOrTtl(timer) };
    const remainingMs = Math.max(0, timer.expiry - this.now());
    // Whole seconds left, rounded down as etcd's TimeToLive does (29 right after a 30 s grant).
    return { grantedTtl: timer.ttl, remainingTtl: Math.floor(remainingMs / 1000) };
  }

  /**
   * Becoming leader: every lease gets a fresh expiry, extended by `extendMs`
   * (the election timeout) so that leases do not expire merely because
   * keep-alives could not reach anyone during the election.
   */
  promote(extendMs: number): void {
    this.primary = true;
    const now = this.now();
    for (const timer of this.leases.values()) {
      timer.expiry = now + extendMs + this.remainingOrTtl(timer) * 1000;
    }
  }

  demote(): void {
    this.primary = false;
    for (const timer of this.leases.values()) timer.expiry = Number.POSITIVE_INFINITY;
  }

  /** Leases the primary should revoke now, at most `limit` of them, oldest expiry first. */
  expired(limit: number): bigint[] {
    if (!this.primary) return [];
    const now = this.now();
    const due: Array<[bigint, number]> = [];
    for (const [id, timer] of this.leases) if (timer.expiry <= now) due.push([id, timer.expiry]);
    due.sort((a, b) => a[1] - b[1]);
    return due.slice(0, limit).map(([id]) => id);
  }

  /** Remaining TTLs worth checkpointing (primary only): leases whose remaining time is below their TTL. */
  checkpoints(limit: number): Array<{ id: bigint; remainingTtl: number }> {
    if (!this.primary) return [];
    const now = this.now();
    const out: Array<{ id: bigint; remainingTtl: number }> = [];
    for (const [id, timer] of this.leases) {
      if (out.length >= limit) break;
      const remaining = Math.ceil(Math.max(0, timer.expiry - now) / 1000);
      if (remaining < timer.ttl) out.push({ id, remainingTtl: remaining });
    }
    return out;
  }

  private remainingOrTtl(timer: LeaseTimer): number {
    return timer.remainingTtl > 0 ? timer.remainingTtl : timer.ttl;
  }
}

/** etcd's minimum lease TTL: 1.5 × the election timeout, in whole seconds, rounded up. */
export function minLeaseTtl(electionTimeoutMs: number): number {
  return Math.ceil((3 * electionTimeoutMs) / 2 / 1000);
}
