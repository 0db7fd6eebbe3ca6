import { MemoryStorage } from '../raft/memoryStorage.js';
import { Snapshot } from '../proto/raftpb.js';
import type { RaftLogState } from '../storage/raftlog/store.js';

/**
 * Rebuilds the Raft core's in-memory log from what RaftLogStore.open found, as
 * etcd's restart path does with its WAL (ApplySnapshot, SetHardState, Append).
 *
 * Only snapshot metadata lives in the raft log store; the snapshot's payload is
 * the state machine itself, kept by the MVCC backend in `member/kv`. The
 * restored snapshot therefore carries `snapshotData` when the caller has it,
 * and no data otherwise.
 */
export function restoreMemoryStorage(
  state: RaftLogState,
  snapshotData: Uint8Array = new Uint8Array(0),
): MemoryStorage {
  const storage = new MemoryStorage();
  const meta = state.snapshotMetadata;
  if (meta !== undefined && meta.index > 0) {
    storage.applySnapshot(Snapshot.create({ data: snapshotData, metadata: meta }));
  } else if (meta !== undefined) {
    // Index 0: the initial configuration of a new member, which RaftNode.bootstrap
    // also writes into the storage's snapshot in place (there is nothing to apply).
    storage.snapshot().metadata = meta;
  }
  storage.setHardState(state.hardState);
  // Entries at or below the snapshot (kept for slow followers before a restart) are skipped by append.
  storage.append(state.entries);
  return storage;
}
