import type { Entry, HardState, Message, Snapshot } from '../proto/raftpb.js';

export type RaftRole = 'follower' | 'preCandidate' | 'candidate' | 'leader' | 'learner';

/** Volatile state worth telling the server about: who leads, and what we are. */
export interface SoftState {
  lead: bigint;
  role: RaftRole;
}

/** The answer to a ReadIndex request: reads with this context may be served once applied >= index. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/**
 * One batch of work for the server, handed out by RaftNode.ready() and
 * acknowledged with RaftNode.advance(). The server must, in order:
 * 1. persist snapshot, entries and hardState (one synced write, when mustSync);
 * 2. send messages (they may depend on what step 1 persisted);
 * 3. apply snapshot, then committedEntries;
 * 4. call advance().
 */
export interface Ready {
  /** Present when lead or role changed since the last Ready. */
  softState?: SoftState;
  /** Present when term, vote or commit changed since the last Ready. */
  hardState?: HardState;
  readStates: ReadState[];
  /** Entries to append to stable storage (may overwrite a conflicting suffix). */
  entries: Entry[];
  /** A snapshot to persist and apply (received from the leader). */
  snapshot?: Snapshot;
  /** Entries committed and persisted, to apply to the state machine in order. */
  committedEntries: Entry[];
  /** Messages to send once step 1 is durable. */
  messages: Message[];
  /** Whether step 1 must be fsynced (etcd's MustSync). */
  mustSync: boolean;
}
