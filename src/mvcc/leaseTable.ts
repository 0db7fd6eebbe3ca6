/** A lease as the key space persists it, so a lessor can be rebuilt on start. */
export interface LeaseRecord {
  id: bigint;
  /** Granted TTL in seconds. */
  ttl: number;
  /** Remaining TTL at the last checkpoint (0: never checkpointed). */
  remainingTtl: number;
}

/**
 * The lease table and the key-to-lease attachment. Attachments are not stored
 * separately: each key's newest record carries its lease, so opening the store
 * rebuilds them from the key space (as etcd's lessor does from the kv bucket).
 * Changes to the table are collected and written by the next commit.
 */
export class LeaseTable {
  private readonly leases = new Map<bigint, LeaseRecord>();
  private readonly keysByLease = new Map<bigint, Set<string>>();
  private readonly leaseByKey = new Map<string, bigint>();
  private dirty = new Map<bigint, LeaseRecord | undefined>();

  static encode(rec: LeaseRecord): Uint8Array {
    const b = Buffer.allocUnsafe(16);
    b.writeBigInt64BE(BigInt(rec.ttl), 0);
    b.writeBigInt64BE(BigInt(rec.remainingTtl), 8);
    return b;
  }

  restore(id: bigint, payload: Buffer, corrupt: () => Error): void {
    if (payload.length !== 16) throw corrupt();
    this.leases.set(id, {
      id,
      ttl: Number(payload.readBigInt64BE(0)),
      remainingTtl: Number(payload.readBigInt64BE(8)),
    });
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  get(id: bigint): LeaseRecord | undefined {
    const rec = this.leases.get(id);
    return rec === undefined ? undefined : { ...rec };
  }

  all(): LeaseRecord[] {
    return [...this.leases.values()].map((r) => ({ ...r }));
  }

  grant(id: bigint, ttl: number): LeaseRecord {
    const rec = { id, ttl, remainingTtl: 0 };
    this.leases.set(id, rec);
    this.dirty.set(id, rec);
    return { ...rec };
  }

  checkpoint(id: bigint, remainingTtl: number): void {
    const rec = this.leases.get(id);
    if (rec === undefined) return;
    rec.remainingTtl = remainingTtl;
    this.dirty.set(id, rec);
  }

  /** Drops the lease (its keys must already be deleted). */
  remove(id: bigint): void {
    this.leases.delete(id);
    this.keysByLease.delete(id);
    this.dirty.set(id, undefined);
  }

  /** Keys are latin1 names (see KeyIndex.key). */
  attach(id: bigint, name: string): void {
    this.leaseByKey.set(name, id);
    let keys = this.keysByLease.get(id);
    if (keys === undefined) this.keysByLease.set(id, (keys = new Set()));
    keys.add(name);
  }

  detach(name: string): void {
    const id = this.leaseByKey.get(name);
    if (id === undefined) return;
    this.leaseByKey.delete(name);
    this.keysByLease.get(id)?.delete(name);
  }

  leaseOfKey(name: string): bigint {
    return this.leaseByKey.get(name) ?? 0n;
  }

  /** Names of the keys attached to the lease, in byte order. */
  keysOf(id: bigint): string[] {
    return [...(this.keysByLease.get(id) ?? [])].sort();
  }

  /** The changes since the last call, for the commit batch (undefined = deleted). */
  takeDirty(): Map<bigint, LeaseRecord | undefined> {
    const d = this.dirty;
    this.dirty = new Map();
    for (const [id, rec] of d) if (rec !== undefined) d.set(id, { ...rec });
    return d;
  }
}
