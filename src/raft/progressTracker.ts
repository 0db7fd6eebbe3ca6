import type { ConfState } from '../proto/raftpb.js';
import { Inflights } from './inflights.js';
import { Progress } from './progress.js';
import { compareIds, jointCommittedIndex, jointVoteResult, type JointVoters } from './quorum/joint.js';
import type { VoteResult } from './quorum/voteResult.js';

/** The active configuration: joint voters, learners, and learners waiting for the joint state to end. */
export interface TrackerConfig {
  voters: JointVoters;
  learners: Set<bigint>;
  /**
   * Voters of the outgoing half that become learners once the joint state is
   * left: they cannot be learners and voters at the same time.
   */
  learnersNext: Set<bigint>;
  /** Leave the joint configuration automatically once it is applied. */
  autoLeave: boolean;
}

export function emptyTrackerConfig(): TrackerConfig {
  return {
    voters: { incoming: new Set(), outgoing: new Set() },
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
}

export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: { incoming: new Set(c.voters.incoming), outgoing: new Set(c.voters.outgoing) },
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

const sorted = (s: Iterable<bigint>): bigint[] => [...s].sort(compareIds);

/** The leader's bookkeeping of the configuration, each member's progress, and the votes of an election. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  /** Kept in ascending ID order so that every visit (and so every output) is deterministic. */
  progress = new Map<bigint, Progress>();
  votes = new Map<bigint, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  newInflights(): Inflights {
    return new Inflights(this.maxInflight, this.maxInflightBytes);
  }

  /** Installs a configuration and its progress map (from the conf changer). */
  switchTo(config: TrackerConfig, progress: Map<bigint, Progress>): void {
    this.config = config;
    const ordered = new Map<bigint, Progress>();
    for (const id of sorted(progress.keys())) ordered.set(id, progress.get(id)!);
    this.progress = ordered;
  }

  confState(): ConfState {
    return {
      voters: sorted(this.config.voters.incoming),
      learners: sorted(this.config.learners),
      votersOutgoing: sorted(this.config.voters.outgoing),
      learnersNext: sorted(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  isJoint(): boolean {
    return this.config.voters.outgoing.size > 0;
  }

  /** One voter and no joint state: that voter alone is the quorum. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  isVoter(id: bigint): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id);
  }

  /** The largest index acknowledged (durably) by a quorum of the voters. */
  committed(): number {
    return jointCommittedIndex(this.config.voters, (id) => this.progress.get(id)?.match);
  }

  /** Whether a quorum of voters was heard from recently (CheckQuorum). `self` always counts. */
  quorumActive(self: bigint): boolean {
    const votes = new Map<bigint, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      votes.set(id, id === self || pr.recentActive);
    }
    return jointVoteResult(this.config.voters, votes) === 'won';
  }

  voterIds(): bigint[] {
    const s = new Set(this.config.voters.incoming);
    for (const id of this.config.voters.outgoing) s.add(id);
    return sorted(s);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records the first answer of each voter; later ones are ignored. */
  recordVote(id: bigint, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: jointVoteResult(this.config.voters, this.votes) };
  }

  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    return jointVoteResult(this.config.voters, votes);
  }
}
