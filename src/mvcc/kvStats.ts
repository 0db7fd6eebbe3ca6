// What the key space has done since the member started, kept as plain numbers
// and callbacks so mvcc/ needs no metrics library: the server reads the
// counts at each scrape and hands in the callbacks that feed its histograms
// (etcd's mvcc and backend metrics).

/** Durations the key space reports as its work finishes; each is optional. */
export interface MvccTimings {
  /** One backend write of a commit, in ms (etcd_disk_backend_commit_duration_seconds). */
  commit?(ms: number): void;
  /** The in-memory key index compacted (etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds). */
  indexCompaction?(ms: number): void;
  /** One batch of the physical compaction (etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds). */
  compactionBatch?(ms: number): void;
  /** A whole physical compaction (etcd_debugging_mvcc_db_compaction_total_duration_milliseconds). */
  compaction?(ms: number): void;
  /** Hash of the whole backend (etcd_mvcc_hash_duration_seconds). */
  hash?(ms: number): void;
  /** HashKV at a revision (etcd_mvcc_hash_rev_duration_seconds). */
  hashKV?(ms: number): void;
  /** A defragmentation, with whether one is running (etcd_disk_backend_defrag_duration_seconds, etcd_disk_defrag_inflight). */
  defrag?(ms: number): void;
  defragRunning?(running: boolean): void;
}

export class MvccStats {
  /** Ranges served, compares included (etcd counts those as ranges too). */
  ranges = 0;
  puts = 0;
  /** Bytes of keys and values put (etcd_debugging_mvcc_total_put_size_in_bytes). */
  putBytes = 0;
  /** DeleteRange calls. */
  deletes = 0;
  /** Transactions of more than one operation. */
  txns = 0;
  /** Read transactions open now (etcd_mvcc_db_open_read_transactions). */
  openReads = 0;
  /** Records removed by physical compactions. */
  compactedKeys = 0;
  timings: MvccTimings = {};

  /** Runs `fn` as one open read transaction. */
  async reading<T>(fn: () => Promise<T>): Promise<T> {
    this.openReads++;
    try {
      return await fn();
    } finally {
      this.openReads--;
    }
  }
}

/** Times `fn` and reports its duration in ms to `report`, if there is one. */
export async function timed<T>(report: ((ms: number) => void) | undefined, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    report?.(performance.now() - started);
  }
}
