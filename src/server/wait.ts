/**
 * Proposals waiting for their entry to be applied, keyed by request ID (etcd's
 * wait.Wait). The applier triggers an ID with the entry's result; whoever
 * proposed it awaits the promise. An ID is registered before its proposal
 * enters Raft, so a result can never arrive for nobody.
 */
export class WaitRegistry<T> {
  private readonly pending = new Map<bigint, { resolve: (v: T) => void; reject: (e: Error) => void }>();

  register(id: bigint): Promise<T> {
    if (this.pending.has(id)) throw new Error(`duplicate wait id ${id.toString(16)}`);
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  isRegistered(id: bigint): boolean {
    return this.pending.has(id);
  }

  trigger(id: bigint, value: T): void {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    waiter.resolve(value);
  }

  fail(id: bigint, err: Error): void {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    waiter.reject(err);
  }

  /** Fails every waiter: the member is stopping and none of them can be answered. */
  failAll(err: Error): void {
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      waiter.reject(err);
    }
  }

  get size(): number {
    return this.pending.size;
  }
}
