import type { ConfState } from '../../src/proto/raftpb.js';
import type { LogView } from './logView.js';
import { violation } from './violation.js';

/** Majority of a set of voters (an empty half of a joint config always agrees, as in etcd). */
export function hasMajority(voters: readonly bigint[], yes: (id: bigint) => boolean): boolean {
  if (voters.length === 0) return true;
  let n = 0;
  for (const v of voters) if (yes(v)) n++;
  return n > voters.length / 2;
}

/** Quorum of a possibly joint configuration: a majority of the incoming and of the outgoing voters. */
export function hasQuorum(cs: ConfState, yes: (id: bigint) => boolean): boolean {
  if (cs.voters.length === 0 && cs.votersOutgoing.length === 0) return false;
  return hasMajority(cs.voters, yes) && hasMajority(cs.votersOutgoing, yes);
}

export function isVoter(cs: ConfState, id: bigint): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id);
}

export function isMember(cs: ConfState, id: bigint): boolean {
  return isVoter(cs, id) || cs.learners.includes(id) || cs.learnersNext.includes(id);
}

/** Keys (index, term) pairs into one number: terms stay far below 2^20 in any run. */
const entryKey = (index: number, term: number): number => index * 1048576 + term;

/**
 * Ghost history: what the whole run has shown so far, kept outside the nodes
 * and never forgotten (crashes do not erase it). The checks of section 5 of
 * testing-scenarios.md compare each node's present against it.
 */
export class Ghost {
  /** term -> the node that led it (once its leadership could be seen outside the node). */
  readonly leaders = new Map<number, number>();
  /** The one global committed sequence: term and chain value per index (index 0 unused below base). */
  readonly committedTerms: number[] = [];
  readonly committedChains: number[] = [];
  commitIndex: number;
  /** (index, term) -> chain value of every entry any log ever held (Log Matching). */
  private readonly seen = new Map<number, number>();
  /** node -> term -> the vote it persisted (or sent) for that term, over all incarnations. */
  private readonly votes = new Map<number, Map<number, bigint>>();
  /** The highest persisted term and commit per node, over all incarnations. */
  readonly persistedTerm = new Map<number, number>();
  readonly persistedCommit = new Map<number, number>();
  readonly maxApplied = new Map<number, number>();
  /**
   * term -> the highest commit index a node held while in that term: what was
   * committed in that term or before it (a node learns of a commit in the
   * term that made it, or later).
   */
  private readonly commitSeenInTerm = new Map<number, number>();
  /** ctx -> the global commit index when the read was issued. */
  private readonly reads = new Map<string, number>();
  /** Nodes that applied their own removal: they must never lead again. */
  readonly removedSelf = new Set<number>();

  constructor(baseIndex: number, baseTerm: number, baseChain: number) {
    for (let i = 0; i <= baseIndex; i++) {
      this.committedTerms.push(i === baseIndex ? baseTerm : 0);
      this.committedChains.push(i === baseIndex ? baseChain : 0);
    }
    this.commitIndex = baseIndex;
    this.commitSeenInTerm.set(0, baseIndex);
  }

  /** Log Matching: the same (index, term) anywhere, ever, means the same log up to index. */
  recordEntries(node: number, view: LogView, from: number): void {
    for (let i = from; i <= view.lastIndex; i++) {
      const t = view.term(i) as number;
      const c = view.chain(i) as number;
      const k = entryKey(i, t);
      const prev = this.seen.get(k);
      if (prev === undefined) this.seen.set(k, c);
      else if (prev !== c)
        violation(
          'log-matching',
          `node ${node} holds entry (index ${i}, term ${t}) with a different history than another log had`,
        );
    }
  }

  /** The committed chain at i, or undefined past the global commit index. */
  committedChain(i: number): number | undefined {
    return i <= this.commitIndex ? this.committedChains[i] : undefined;
  }

  /**
   * A node considers everything up to `commit` committed (its log is `view`).
   * The committed prefix may only grow, and every node must agree on it
   * (State Machine Safety and TLA's committedLogDecrease).
   */
  observeCommit(node: number, view: LogView, commit: number, term: number): void {
    if (commit > (this.commitSeenInTerm.get(term) ?? 0)) this.commitSeenInTerm.set(term, commit);
    if (commit > view.lastIndex)
      violation(
        'monotonic-commit',
        `node ${node} has commit ${commit} beyond its last index ${view.lastIndex}`,
      );
    const common = Math.min(commit, this.commitIndex);
    const at = Math.max(common, view.snapIndex);
    if (at <= commit && at <= this.commitIndex) {
      if (view.chain(at) !== this.committedChains[at])
        violation(
          'state-machine-safety',
          `node ${node} committed a different entry at or before index ${at} than the cluster did`,
        );
    }
    for (let i = this.commitIndex + 1; i <= commit; i++) {
      const c = view.chain(i);
      if (c === undefined)
        violation('state-machine-safety', `node ${node} committed index ${i} that it does not hold`);
      this.committedTerms.push(view.term(i) as number);
      this.committedChains.push(c);
      this.commitIndex = i;
    }
  }

  /**
   * What a new leader of `term` owes (Leader Completeness): every entry
   * committed in an earlier term. Not what a later term committed: a
   * candidate may still win an older term with a vote that was late to
   * arrive, after a newer leader committed (it can commit nothing: a quorum
   * has moved on).
   */
  commitFloorBelow(term: number): number {
    let floor = 0;
    for (const [t, c] of this.commitSeenInTerm) if (t < term && c > floor) floor = c;
    return floor;
  }

  /**
   * Leader Completeness: a leader's log holds every entry committed before it
   * was elected, in an earlier term (`floor`, from commitFloorBelow). Checked on
   * its whole log as handed out, so nothing is hidden in unhanded entries. An
   * entry of an earlier term committed later, by a leader of a later term, is
   * not owed to this one.
   */
  checkLeaderCompleteness(node: number, term: number, view: LogView, floor: number): void {
    if (floor === 0 || floor < view.snapIndex) return; // below the snapshot: checked with the snapshot
    if (view.chain(floor) !== this.committedChains[floor])
      violation(
        'leader-completeness',
        `leader ${node} of term ${term} lacks committed entry ${floor}, committed before it was elected (its last index is ${view.lastIndex})`,
      );
  }

  /** Election Safety over the whole run: one leader per term, ever. */
  recordLeader(node: number, term: number): boolean {
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, node);
      return true;
    }
    if (prev !== node) violation('election-safety', `nodes ${prev} and ${node} both led term ${term}`);
    return false;
  }

  /** The nodes whose vote in `term` (persisted or sent) went to `candidate`. */
  votesFor(term: number, candidate: bigint): Set<bigint> {
    const out = new Set<bigint>();
    for (const [n, byTerm] of this.votes) if (byTerm.get(term) === candidate) out.add(BigInt(n));
    return out;
  }

  /** One vote per node per term over the whole run, and terms/commits on disk never go back. */
  recordPersistedHardState(node: number, term: number, vote: bigint, commit: number): void {
    const pt = this.persistedTerm.get(node) ?? 0;
    if (term < pt) violation('monotonic-term', `node ${node} persisted term ${term} after term ${pt}`);
    this.persistedTerm.set(node, term);
    const pc = this.persistedCommit.get(node) ?? 0;
    if (commit < pc)
      violation('monotonic-commit', `node ${node} persisted commit ${commit} after commit ${pc}`);
    this.persistedCommit.set(node, commit);
    if (vote !== 0n) this.recordVote(node, term, vote);
  }

  /** A vote of `node` in `term`, persisted or sent: there may be only one per term, ever. */
  recordVote(node: number, term: number, vote: bigint): void {
    let byTerm = this.votes.get(node);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.votes.set(node, byTerm);
    }
    const prev = byTerm.get(term);
    if (prev !== undefined && prev !== vote)
      violation('vote-durability', `node ${node} voted for ${prev} and then for ${vote} in term ${term}`);
    byTerm.set(term, vote);
  }

  recordApplied(node: number, applied: number): void {
    const prev = this.maxApplied.get(node) ?? 0;
    if (applied < prev)
      violation('monotonic-applied', `node ${node} applied index went from ${prev} back to ${applied}`);
    this.maxApplied.set(node, applied);
  }

  /** A read issued now must come back at an index covering every commit so far. */
  recordRead(ctx: string): void {
    if (!this.reads.has(ctx)) this.reads.set(ctx, this.commitIndex);
  }

  checkReadState(node: number, ctx: string, index: number): void {
    const floor = this.reads.get(ctx);
    if (floor === undefined) return; // a context the schedule never issued (cannot happen unless a core invents one)
    if (index < floor)
      violation(
        'read-index-safety',
        `node ${node} released read ${ctx} at index ${index}, below commit ${floor} acknowledged before the read was issued`,
      );
  }
}
