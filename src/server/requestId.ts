/**
 * Unique request IDs, as etcd's idutil.Generator makes them: the low 16 bits
 * of the member ID in the top 16 bits, so IDs of different members never
 * collide, then a 48-bit counter that starts from the current time in
 * milliseconds shifted left by 8, so IDs of a restarted member do not collide
 * with those of its previous life either.
 */
export class RequestIdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, now: number = Date.now()) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(now) << 8n) & 0xffff_ffff_ffffn;
  }

  next(): bigint {
    this.suffix = (this.suffix + 1n) & 0xffff_ffff_ffffn;
    return this.prefix | this.suffix;
  }
}
