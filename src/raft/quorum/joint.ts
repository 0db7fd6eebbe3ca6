import { majorityCommittedIndex, majorityVoteResult } from './majority.js';
import type { VoteResult } from './voteResult.js';

/**
 * A joint configuration (Raft §6): the incoming and the outgoing majority
 * configurations, both of which must agree. Outside a joint change the
 * outgoing half is empty and everything reduces to the incoming majority.
 */
export interface JointVoters {
  incoming: Set<bigint>;
  outgoing: Set<bigint>;
}

export function jointCommittedIndex(c: JointVoters, acked: (id: bigint) => number | undefined): number {
  return Math.min(majorityCommittedIndex(c.incoming, acked), majorityCommittedIndex(c.outgoing, acked));
}

export function jointVoteResult(c: JointVoters, votes: ReadonlyMap<bigint, boolean>): VoteResult {
  const r1 = majorityVoteResult(c.incoming, votes);
  const r2 = majorityVoteResult(c.outgoing, votes);
  if (r1 === r2) return r1;
  if (r1 === 'lost' || r2 === 'lost') return 'lost';
  return 'pending';
}

/** Every voter of either half, ascending (deterministic iteration order). */
export function jointIds(c: JointVoters): bigint[] {
  const s = new Set<bigint>(c.incoming);
  for (const id of c.outgoing) s.add(id);
  return [...s].sort(compareIds);
}

export function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
