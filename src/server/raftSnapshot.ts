import type { Logger } from 'pino';
import type { ConfState } from '../proto/raftpb.js';
import type { MemoryStorage } from '../raft/memoryStorage.js';
import type { RaftLogStore } from '../storage/raftlog/store.js';

export interface RaftSnapshotsDeps {
  memory: MemoryStorage;
  raftLog: RaftLogStore;
  /** Writes every applied effect to the key space; resolves once durable. */
  flushApplied(): Promise<void>;
  /** Applied entries between two snapshots (--snapshot-count). */
  snapshotCount: number;
  /** Entries kept behind a snapshot for slow followers. */
  catchUpEntries: number;
  logger: Logger;
  /** A snapshot was saved: how long making it took, and the whole save (etcd's snap save metrics). */
  saved?(marshalMs: number, totalMs: number): void;
}

/**
 * Raft snapshots of the applied state (etcd's triggerSnapshot): every
 * `snapshotCount` applied entries the log is snapshotted at the applied index
 * and compacted behind it, keeping catch-up entries. The key space itself is
 * the snapshot's state: it is durable up to its applied index, so the
 * snapshot carries only its metadata.
 */
export class RaftSnapshots {
  private confState: ConfState;
  private snapshotIndex: number;

  constructor(private readonly deps: RaftSnapshotsDeps) {
    this.confState = deps.memory.initialState().confState;
    this.snapshotIndex = deps.memory.firstIndex() - 1;
  }

  /** Called after every applied batch, with the configuration when a conf change was in it. */
  applied(index: number, confState: ConfState | undefined): void {
    if (confState) this.confState = confState;
    if (index - this.snapshotIndex >= this.deps.snapshotCount) this.take(index);
  }

  /** A snapshot from the leader was installed: it is the newest snapshot now. */
  installed(index: number, confState: ConfState): void {
    this.confState = confState;
    this.snapshotIndex = index;
  }

  private take(index: number): void {
    const { memory, raftLog, logger } = this.deps;
    const started = performance.now();
    const snap = memory.createSnapshot(index, this.confState, new Uint8Array(0));
    const marshalMs = performance.now() - started;
    this.snapshotIndex = index;
    const compactTo = index - this.deps.catchUpEntries;
    // A restart resumes applying after the snapshot: the key space must hold
    // everything up to it on disk before the raft log says so.
    // The log store holds the commit index only as of its last write (a newer
    // commit alone is not written): record it first, the snapshot may not pass it.
    // Entries up to the applied index are committed and durable, so the commit may be raised to it.
    // Saved in the background: the apply loop goes on, and a failure costs only this snapshot.
    void this.deps
      .flushApplied()
      .then(() => {
        // The hard state last issued to the store, read as this write is issued: the Raft
        // loop may have issued a newer term or vote since the snapshot was taken, and the
        // store lands writes in call order, so an older copy would be written over it.
        const issued = raftLog.hardState;
        if (issued.commit >= index) return;
        return raftLog.save({ hardState: { ...issued, commit: index }, entries: [] }, { sync: false });
      })
      .then(() => raftLog.saveSnapshot(snap.metadata!))
      .then(async () => {
        this.deps.saved?.(marshalMs, performance.now() - started);
        if (compactTo > memory.firstIndex()) {
          memory.compact(compactTo);
          await raftLog.compact(compactTo);
        }
        logger.info(
          { index, 'compacted-to': Math.max(0, compactTo) },
          'saved raft snapshot and compacted the log',
        );
      })
      .catch((err: unknown) => logger.error({ err, index }, 'saving the raft snapshot failed'));
  }
}
