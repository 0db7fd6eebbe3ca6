import type { VoteResult } from './voteResult.js';

/**
 * A majority configuration: a set of voters of which more than half must agree.
 * Functions rather than a class so the tracker can keep plain Sets.
 */

/**
 * The highest index acknowledged by a majority, given each voter's acked
 * index (missing voters count as 0). The empty configuration returns
 * Infinity so that in a joint configuration it does not constrain the other half.
 */
export function majorityCommittedIndex(
  voters: ReadonlySet<bigint>,
  acked: (id: bigint) => number | undefined,
): number {
  const n = voters.size;
  if (n === 0) return Infinity;
  const srt: number[] = [];
  for (const id of voters) srt.push(acked(id) ?? 0);
  srt.sort((a, b) => a - b);
  // With srt ascending, srt[n - quorum] is acked by at least quorum voters.
  return srt[n - (Math.floor(n / 2) + 1)]!;
}

/** Counts votes: won with a majority of yes, lost when a majority can no longer say yes. */
export function majorityVoteResult(
  voters: ReadonlySet<bigint>,
  votes: ReadonlyMap<bigint, boolean>,
): VoteResult {
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return 'won';
  if (yes + missing >= q) return 'pending';
  return 'lost';
}
