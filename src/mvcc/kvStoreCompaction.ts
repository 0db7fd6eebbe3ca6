import type { Logger } from 'pino';
import type { BackendOp } from '../storage/backend/backend.js';
import { encodeCounter, metaKey, parseRevisionKey, revisionKeyBounds } from '../storage/backend/layout.js';
import { MvccStats } from './kvStats.js';
import { MvccError } from './errors.js';
import type { KeySpace } from './keySpace.js';
import { revisionId } from './revision.js';

export interface CompactResult {
  /** Resolves when the superseded records are gone from disk (begins after the next commit()). */
  physicalDone: Promise<void>;
}

export interface CompactionJob {
  revision: number;
  /** The records at or below the revision that stay (revisionId), as the key index kept them. */
  keep: Set<string>;
  done: () => void;
  failed: (e: unknown) => void;
}

export interface CompactorOptions {
  /** Records examined per physical compaction batch (etcd: 1000). */
  batchLimit?: number;
  /** Pause between physical compaction batches so writes interleave (etcd: 10 ms). */
  batchIntervalMs?: number;
  /** Where removed records and the time each step took are reported. */
  stats?: MvccStats;
}

/**
 * etcd's compaction in two steps: the key index at once (reads below the
 * revision fail from then on), the records on disk later, in batches that let
 * writes through. The physical pass of a compaction starts only once the
 * commit that persists its scheduled revision is written, so a crash during
 * it is resumed on the next open.
 */
export class Compactor {
  private chain: Promise<unknown> = Promise.resolve();
  private scheduled: CompactionJob[] = [];
  private stopped = false;
  private readonly batchLimit: number;
  private readonly batchIntervalMs: number;
  private readonly stats: MvccStats;

  constructor(
    private readonly space: KeySpace,
    private readonly logger: Logger,
    opts: CompactorOptions,
  ) {
    this.batchLimit = opts.batchLimit ?? 1000;
    this.batchIntervalMs = opts.batchIntervalMs ?? 10;
    this.stats = opts.stats ?? new MvccStats();
  }

  /** Compacts the key index at `revision` and queues the physical pass for the next commit. */
  schedule(revision: number): CompactResult {
    const job = this.compactIndex(revision);
    this.scheduled.push(job);
    const physicalDone = new Promise<void>((resolve, reject) => {
      job.done = resolve;
      job.failed = reject;
    });
    physicalDone.catch(() => undefined); // failures are logged; callers that care await it
    return { physicalDone };
  }

  /** The jobs scheduled since the last call: a commit takes them and starts them once written. */
  takeScheduled(): CompactionJob[] {
    const jobs = this.scheduled;
    this.scheduled = [];
    return jobs;
  }

  /** Finishes a compaction that a crash interrupted (etcd restores the same way). */
  resume(revision: number): void {
    this.start(this.compactIndex(revision));
  }

  /** Runs the physical pass of `job` after those before it. */
  start(job: CompactionJob): void {
    const p = this.chain.then(() => this.removeSuperseded(job));
    this.chain = p.catch(() => undefined);
    p.then(
      () => {
        job.done();
      },
      (e: unknown) => {
        if (!this.stopped)
          this.logger.error({ err: e, revision: job.revision }, 'mvcc: physical compaction failed');
        job.failed(e);
      },
    );
  }

  /** Stops a running physical pass at its next batch (it resumes on the next open) and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.chain;
  }

  private compactIndex(revision: number): CompactionJob {
    const started = performance.now();
    this.space.compactRevision = revision;
    const keep = new Set<string>();
    const emptied: string[] = [];
    for (const ki of this.space.tree.all()) {
      if (ki.compact(revision, keep, revisionId)) emptied.push(ki.key);
    }
    for (const key of emptied) this.space.tree.delete(key);
    this.stats.timings.indexCompaction?.(performance.now() - started);
    // Superseded records still waiting for a commit are written anyway and removed
    // by the physical pass: until it is done, older records on disk need them (a
    // tombstone that ends a life must stay while the life's puts are there).
    return { revision, keep, done: () => undefined, failed: () => undefined };
  }

  private async removeSuperseded(job: CompactionJob): Promise<void> {
    const { backend } = this.space;
    const { gte, lte } = revisionKeyBounds(0, job.revision);
    let after: Buffer | undefined;
    let removed = 0;
    const started = performance.now();
    const { timings } = this.stats;
    for (;;) {
      if (this.stopped) throw new MvccError('closed');
      const batchStarted = performance.now();
      const keys = await backend.keysBetween(after, lte, gte, this.batchLimit);
      if (keys.length === 0) break;
      const dels: BackendOp[] = [];
      for (const key of keys) {
        if (!job.keep.has(revisionId(parseRevisionKey(key).rev))) dels.push({ type: 'del', key });
      }
      await backend.write(dels, false);
      timings.compactionBatch?.(performance.now() - batchStarted);
      removed += dels.length;
      this.stats.compactedKeys += dels.length;
      after = keys[keys.length - 1];
      if (keys.length < this.batchLimit) break;
      await new Promise((r) => setTimeout(r, this.batchIntervalMs));
    }
    await backend.write(
      [{ type: 'put', key: metaKey('finishedCompact'), value: encodeCounter(job.revision) }],
      false,
    );
    timings.compaction?.(performance.now() - started);
    this.logger.info({ revision: job.revision, removed }, 'mvcc: compaction finished');
  }
}
