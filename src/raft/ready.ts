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
 * 2. send messages (they may depend on what step 1 persisted), unless
 *    sendsBeforeWrite says they may go alongside step 1;
 * 3. apply snapshot, then committedEntries;
 * 4. call advance(), once step 1 is durable.
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
  /** Messages to send once step 1 is durable (a leader's may go sooner: sendsBeforeWrite). */
  messages: Message[];
  /** Whether step 1 must be fsynced (etcd's MustSync). */
  mustSync: boolean;
}

/** The part of a hard state a message's term rests on. */
export type Ballot = Pick<HardState, 'term' | 'vote'>;

/**
 * Whether rd's messages may leave while its write is still under way (Raft
 * thesis §10.2.1; etcd's server sends a leader's messages first). A leader's
 * messages promise nothing its write holds: its appends carry entries the
 * followers make durable themselves, and the leader counts its own copy only
 * once advance() reports it durable; heartbeats, snapshots, TimeoutNow, read
 * index answers and refusals rest on its term alone. Anything else (a vote,
 * an acknowledgement of appended entries) promises what the write holds, so a
 * Ready that has any of it waits: one in which the node is not leader when it
 * is handed out (it stepped down meanwhile), and one whose term or vote is not
 * on disk yet (a lone voter elects itself in the Ready that writes its new term,
 * and may have voted or acknowledged as a follower before, in the same Ready).
 * `role` and `current` are as of rd (its soft and hard state, or the last ones
 * handed out); `durable` is what the completed writes left on disk.
 */
export function sendsBeforeWrite(rd: Ready, role: RaftRole, current: Ballot, durable: Ballot): boolean {
  return (
    role === 'leader' &&
    rd.snapshot === undefined &&
    current.term === durable.term &&
    current.vote === durable.vote
  );
}
