/**
 * Auto-compaction, as etcd's `--auto-compaction-mode` / `--auto-compaction-retention`.
 * Pure schedules: the server calls `observe(now, revision)` on a timer and
 * proposes a compaction whenever it returns a revision.
 *
 * - periodic: keep `retentionMs` of history. The revision is sampled every
 *   interval/10 (interval = min(retention, 1h)); the first compaction happens
 *   one interval after start, to the revision seen `retention` ago, then once per
 *   interval (etcd 3.4's Periodic compactor).
 * - revision: every 5 minutes, compact to `current - retention` if that moved.
 */
export type CompactionPolicy =
  { mode: 'periodic'; retentionMs: number } | { mode: 'revision'; retention: number };

export interface Compactor {
  /** How often the server should call observe(), in ms. */
  readonly pollMs: number;
  observe(nowMs: number, currentRevision: number): number | undefined;
}

const HOUR_MS = 3_600_000;
const REVISION_MODE_INTERVAL_MS = 5 * 60_000;

export function createCompactor(policy: CompactionPolicy, startMs: number): Compactor | undefined {
  if (policy.mode === 'periodic') {
    return policy.retentionMs > 0 ? new PeriodicCompactor(policy.retentionMs, startMs) : undefined;
  }
  return policy.retention > 0 ? new RevisionCompactor(policy.retention, startMs) : undefined;
}

class PeriodicCompactor implements Compactor {
  readonly pollMs: number;
  private readonly intervalMs: number;
  /** (time, revision) samples, oldest first, covering at least the retention. */
  private readonly samples: Array<{ at: number; revision: number }> = [];
  private nextCompactionAt: number;
  private lastCompacted = 0;

  constructor(
    private readonly retentionMs: number,
    startMs: number,
  ) {
    this.intervalMs = Math.min(retentionMs, HOUR_MS);
    this.pollMs = Math.max(1, Math.floor(this.intervalMs / 10));
    this.nextCompactionAt = startMs + this.intervalMs;
  }

  observe(nowMs: number, currentRevision: number): number | undefined {
    this.samples.push({ at: nowMs, revision: currentRevision });
    // Keep one sample at or before the retention boundary; drop older ones.
    while (this.samples.length > 1 && this.samples[1]!.at <= nowMs - this.retentionMs) this.samples.shift();
    if (nowMs < this.nextCompactionAt) return undefined;
    const oldest = this.samples[0]!;
    if (oldest.at > nowMs - this.retentionMs) return undefined;
    this.nextCompactionAt = nowMs + this.intervalMs;
    if (oldest.revision <= this.lastCompacted) return undefined;
    this.lastCompacted = oldest.revision;
    return oldest.revision;
  }
}

class RevisionCompactor implements Compactor {
  readonly pollMs = REVISION_MODE_INTERVAL_MS;
  private lastCompacted = 0;
  private nextAt: number;

  constructor(
    private readonly retention: number,
    startMs: number,
  ) {
    this.nextAt = startMs + REVISION_MODE_INTERVAL_MS;
  }

  observe(nowMs: number, currentRevision: number): number | undefined {
    if (nowMs < this.nextAt) return undefined;
    this.nextAt = nowMs + REVISION_MODE_INTERVAL_MS;
    const target = currentRevision - this.retention;
    if (target <= 0 || target === this.lastCompacted) return undefined;
    this.lastCompacted = target;
    return target;
  }
}
