import type { Logger } from 'pino';
import {
  AlarmRequest,
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmType,
  type InternalRaftRequest,
  type PutRequest,
  type TxnRequest,
} from '../proto/etcdserverpb.js';
import type { KvStore } from '../mvcc/kvStore.js';
import type { Alarms } from './alarms.js';
import { ErrNoSpace } from './errors.js';
import type { ServerMetrics } from './metrics.js';

/** etcd's quota cost of a put: the key, the value and a fixed overhead for its index and bookkeeping. */
const KV_OVERHEAD_BYTES = 256;
/** etcd's quota cost of a lease grant. */
export const LEASE_COST_BYTES = 64;

export function putCost(req: PutRequest): number {
  return KV_OVERHEAD_BYTES + req.key.length + req.value.length;
}

/** etcd's: the costlier of the two branches (only one of them runs). */
export function txnCost(req: TxnRequest): number {
  const branch = (ops: TxnRequest['success']): number =>
    ops.reduce(
      (sum, op) =>
        sum + (op.requestPut ? putCost(op.requestPut) : op.requestTxn ? txnCost(op.requestTxn) : 0),
      0,
    );
  return Math.max(branch(req.success), branch(req.failure));
}

export interface QuotaDeps {
  /** --quota-backend-bytes; 0 for none. */
  quotaBackendBytes: number;
  memberId: bigint;
  /** This member leads and is not stopping: only then does the guard measure. */
  leads(): boolean;
  kv: KvStore;
  alarms: Alarms;
  propose(req: Partial<InternalRaftRequest>): Promise<unknown>;
  metrics: Pick<ServerMetrics, 'dbTotalSize'>;
  logger: Logger;
}

/**
 * The backend quota (etcd's backendQuota with its gRPC check): requests that
 * grow the key space are refused with NOSPACE, and the alarm raised, once the
 * backend plus the request's cost would pass the quota; the leader's quota
 * guard raises it too when the backend alone has grown past it.
 */
export class Quota {
  /**
   * The key space's size on disk as last measured (the guard measures every
   * second): measuring the files per request costs more than the request.
   */
  private dbSizeEstimate = 0;

  constructor(private readonly deps: QuotaDeps) {}

  /** Takes a fresh measurement (at start, after a defragmentation). */
  measured(size: number): void {
    this.dbSizeEstimate = size;
  }

  /** etcd's quota check before a request that grows the key space by `cost` bytes. */
  async assert(cost: number): Promise<void> {
    const quota = this.deps.quotaBackendBytes;
    if (quota <= 0 || this.dbSizeEstimate + cost < quota) return;
    if (!this.deps.alarms.has(AlarmType.NOSPACE)) await this.raiseNoSpace();
    throw ErrNoSpace;
  }

  /** The quota guard's round (leader only): measure the backend and raise NOSPACE once it is past the quota. */
  async check(): Promise<void> {
    const { deps } = this;
    if (!deps.leads() || deps.quotaBackendBytes <= 0) return;
    const size = await deps.kv.dbSize();
    this.dbSizeEstimate = size;
    deps.metrics.dbTotalSize.set(size);
    if (deps.alarms.has(AlarmType.NOSPACE)) return;
    if (size <= deps.quotaBackendBytes) return;
    deps.logger.warn(
      { 'db-size': size, quota: deps.quotaBackendBytes },
      'database space exceeded; raising NOSPACE',
    );
    await this.raiseNoSpace();
  }

  /** Raises NOSPACE through Raft; a failure is harmless, the next check raises it again. */
  private async raiseNoSpace(): Promise<void> {
    await this.deps
      .propose({
        alarm: AlarmRequest.create({
          action: AlarmAction.ACTIVATE,
          memberId: this.deps.memberId,
          alarm: AlarmType.NOSPACE,
        }),
      })
      .catch(() => undefined);
  }
}
