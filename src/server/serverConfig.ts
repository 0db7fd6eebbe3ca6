import type { TokenOptions } from '../auth/tokenProvider.js';
import type { Member } from '../proto/etcdserverpb.js';
import type { CompactionPolicy } from './compactor.js';

export interface ServerConfig {
  name: string;
  dataDir: string;
  memberId: bigint;
  clusterId: bigint;
  /** Every member of the initial cluster, this one included. */
  initialMembers: Member[];
  clientUrls: string[];
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number;
  /** Entries kept in the log behind a snapshot for slow followers (etcd: 5000). */
  snapshotCatchUpEntries: number;
  quotaBackendBytes: number;
  /** Largest encoded request that may be proposed (--max-request-bytes). */
  maxRequestBytes: number;
  compaction?: CompactionPolicy;
  preVote: boolean;
  /** Interval of progress notifications to watchers that ask for them. */
  watchProgressNotifyIntervalMs?: number;
  /** Restart as a one-member cluster from this member's data (--force-new-cluster). */
  forceNewCluster?: boolean;
  /** Refuse membership changes that would leave too few started, connected members (default on). */
  strictReconfigCheck?: boolean;
  /** Compare key-space hashes with the peers before serving (--experimental-initial-corrupt-check). */
  initialCorruptCheck?: boolean;
  /** How often the leader compares hashes with every member; 0 or absent: never. */
  corruptCheckIntervalMs?: number;
  /** The tokens clients get (--auth-token); absent: simple tokens. */
  authToken?: TokenOptions;
  /** How long a simple token lives after its last use (--auth-token-ttl; etcd: 300 s). */
  authTokenTtlMs?: number;
  /** bcrypt cost of new password hashes (--bcrypt-cost; etcd: 10). */
  bcryptCost?: number;
  /** A verified client certificate's common name is the user when no token is sent (--client-cert-auth). */
  clientCertAuth?: boolean;
  /** --wal-dir: the Raft log's directory instead of <data-dir>/member/raft. */
  walDir?: string;
  /** --initial-election-tick-advance (default on): a sole voter campaigns at once on boot. */
  electionTickAdvance?: boolean;
  /** --experimental-warning-apply-duration: an apply slower than this is logged and counted. */
  warningApplyDurationMs?: number;
  /** --experimental-compaction-batch-limit (etcd: 1000). */
  compactionBatchLimit?: number;
  /** Seed of the election-timeout randomness; anything is fine in production. */
  seed?: number;
}

/** etcd's --experimental-warning-apply-duration default. */
export const DEFAULT_WARNING_APPLY_MS = 100;

/** What MemberStorage.open takes from the config. */
export function storageOptions(cfg: ServerConfig): { walDir?: string; compactionBatchLimit?: number } {
  return {
    ...(cfg.walDir !== undefined ? { walDir: cfg.walDir } : {}),
    ...(cfg.compactionBatchLimit !== undefined ? { compactionBatchLimit: cfg.compactionBatchLimit } : {}),
  };
}

/** etcd's request timeout: 5 s plus twice the election timeout. */
export function requestTimeoutMs(cfg: Pick<ServerConfig, 'electionMs'>): number {
  return 5_000 + 2 * cfg.electionMs;
}
