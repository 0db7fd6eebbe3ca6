import {
  ConfChangeTransition,
  ConfChangeType,
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  type ConfState,
} from '../proto/raftpb.js';
import { ConfChangeError } from './errors.js';
import { Progress } from './progress.js';
import {
  cloneTrackerConfig,
  emptyTrackerConfig,
  type ProgressTracker,
  type TrackerConfig,
} from './progressTracker.js';

export interface ConfChangeResult {
  config: TrackerConfig;
  progress: Map<bigint, Progress>;
}

/** A v1 ConfChange is a v2 change with one step and automatic transition. */
export function toConfChangeV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if (isConfChangeV2(cc)) return cc;
  return {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

export function isConfChangeV2(cc: ConfChange | ConfChangeV2): cc is ConfChangeV2 {
  return Array.isArray((cc as ConfChangeV2).changes);
}

/** The empty ConfChangeV2 (context aside) means "leave the joint configuration". */
export function isLeaveJoint(cc: ConfChangeV2): boolean {
  return cc.changes.length === 0 && cc.transition === ConfChangeTransition.ConfChangeTransitionAuto;
}

/**
 * Whether cc needs joint consensus, and if so whether the joint state is left
 * automatically: more than one change, or an explicit transition, enters it.
 */
export function enterJointMode(cc: ConfChangeV2): { enter: boolean; autoLeave: boolean } {
  if (cc.transition !== ConfChangeTransition.ConfChangeTransitionAuto || cc.changes.length > 1) {
    const autoLeave =
      cc.transition === ConfChangeTransition.ConfChangeTransitionAuto ||
      cc.transition === ConfChangeTransition.ConfChangeTransitionJointImplicit;
    return { enter: true, autoLeave };
  }
  return { enter: false, autoLeave: false };
}

/**
 * Computes a new configuration from the current one without touching it: the
 * tracker switches only when the whole change is valid, so a refused change
 * leaves the node exactly as it was.
 */
export class ConfChanger {
  constructor(
    private readonly tracker: ProgressTracker,
    private readonly lastIndex: number,
  ) {}

  /** Applies cc as etcd does: leave joint, enter joint, or a simple (one voter) change. */
  apply(cc: ConfChangeV2): ConfChangeResult {
    // The initial configuration is not in the log (RaftNode.bootstrap keeps it
    // as snapshot 0), so a node that starts with none and replays the log
    // would build a configuration of only the members added later: adding
    // itself, it could become a single-voter cluster of its own. It must
    // learn the configuration from a snapshot or start from one instead.
    if (this.tracker.config.voters.incoming.size === 0 && this.tracker.config.voters.outgoing.size === 0) {
      throw new ConfChangeError(
        'cannot change an empty configuration: start from the cluster ConfState or a snapshot',
      );
    }
    if (isLeaveJoint(cc)) return this.leaveJoint();
    const { enter, autoLeave } = enterJointMode(cc);
    if (enter) return this.enterJoint(autoLeave, cc.changes);
    return this.simple(cc.changes);
  }

  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ConfChangeResult {
    const { config, progress } = this.copy();
    if (config.voters.outgoing.size > 0) throw new ConfChangeError('config is already joint');
    if (config.voters.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
    config.voters.outgoing = new Set(config.voters.incoming);
    this.applyChanges(config, progress, ccs);
    config.autoLeave = autoLeave;
    return this.checked(config, progress);
  }

  leaveJoint(): ConfChangeResult {
    const { config, progress } = this.copy();
    if (config.voters.outgoing.size === 0) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext.clear();
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing = new Set();
    config.autoLeave = false;
    return this.checked(config, progress);
  }

  /** A change of at most one voter, which needs no joint state (Raft §4.1). */
  simple(ccs: readonly ConfChangeSingle[]): ConfChangeResult {
    const { config, progress } = this.copy();
    if (config.voters.outgoing.size > 0) {
      throw new ConfChangeError("can't apply simple config change in joint config");
    }
    this.applyChanges(config, progress, ccs);
    const before = this.tracker.config.voters.incoming;
    let changed = 0;
    for (const id of before) if (!config.voters.incoming.has(id)) changed++;
    for (const id of config.voters.incoming) if (!before.has(id)) changed++;
    if (changed > 1) throw new ConfChangeError('more than one voter changed without entering joint config');
    return this.checked(config, progress);
  }

  private copy(): ConfChangeResult {
    const progress = new Map<bigint, Progress>();
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr.clone());
    return { config: cloneTrackerConfig(this.tracker.config), progress };
  }

  private applyChanges(
    config: TrackerConfig,
    progress: Map<bigint, Progress>,
    ccs: readonly ConfChangeSingle[],
  ): void {
    for (const cc of ccs) {
      // etcd's server zeroes the node ID of a change it decided not to apply.
      if (cc.nodeId === 0n) continue;
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          this.makeVoter(config, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeAddLearnerNode:
          this.makeLearner(config, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeRemoveNode:
          this.remove(config, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeUpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${String(cc.type)}`);
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError('removed all voters');
  }

  private makeVoter(config: TrackerConfig, progress: Map<bigint, Progress>, id: bigint): void {
    const pr = progress.get(id);
    if (!pr) {
      this.initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  private makeLearner(config: TrackerConfig, progress: Map<bigint, Progress>, id: bigint): void {
    const pr = progress.get(id);
    if (!pr) {
      this.initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Drop it as a voter of the incoming half; a voter of the outgoing half
    // stays one until the joint state ends, and only then becomes a learner.
    this.remove(config, progress, id);
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  private remove(config: TrackerConfig, progress: Map<bigint, Progress>, id: bigint): void {
    if (!progress.has(id)) return;
    config.voters.incoming.delete(id);
    config.learners.delete(id);
    config.learnersNext.delete(id);
    if (!config.voters.outgoing.has(id)) progress.delete(id);
  }

  private initProgress(
    config: TrackerConfig,
    progress: Map<bigint, Progress>,
    id: bigint,
    isLearner: boolean,
  ): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    // Probe from our last index; recentActive so CheckQuorum does not count a
    // member we have just added as lost before it could answer.
    const pr = new Progress(Math.max(this.lastIndex, 1), this.tracker.newInflights(), isLearner);
    pr.recentActive = true;
    progress.set(id, pr);
  }

  private checked(config: TrackerConfig, progress: Map<bigint, Progress>): ConfChangeResult {
    for (const id of [
      ...config.voters.incoming,
      ...config.voters.outgoing,
      ...config.learners,
      ...config.learnersNext,
    ]) {
      if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id.toString(16)}`);
    }
    for (const id of config.learnersNext) {
      if (!config.voters.outgoing.has(id))
        throw new ConfChangeError(`${id.toString(16)} is in LearnersNext, but not Voters[1]`);
    }
    checkLearnersAreNotVoters(config);
    if (config.voters.outgoing.size === 0 && config.autoLeave)
      throw new ConfChangeError('autoLeave set without joint config');
    return { config, progress };
  }
}

/** Rebuilds the tracker's configuration from a ConfState (a snapshot's, or storage's on restart). */
export function restoreConfState(
  tracker: ProgressTracker,
  cs: ConfState,
  lastIndex: number,
): ConfChangeResult {
  const config = emptyTrackerConfig();
  config.voters.incoming = new Set(cs.voters);
  config.voters.outgoing = new Set(cs.votersOutgoing);
  config.learners = new Set(cs.learners);
  config.learnersNext = new Set(cs.learnersNext);
  config.autoLeave = cs.autoLeave && config.voters.outgoing.size > 0;
  const progress = new Map<bigint, Progress>();
  const all = [...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext];
  for (const id of all) {
    if (progress.has(id)) continue;
    const pr = new Progress(Math.max(lastIndex, 1), tracker.newInflights(), config.learners.has(id));
    pr.recentActive = true;
    progress.set(id, pr);
  }
  checkLearnersAreNotVoters(config);
  return { config, progress };
}

/** A member is a learner or a voter, never both. */
function checkLearnersAreNotVoters(config: TrackerConfig): void {
  for (const id of config.learners) {
    if (config.voters.incoming.has(id) || config.voters.outgoing.has(id)) {
      throw new ConfChangeError(`${id.toString(16)} is in Learners and Voters`);
    }
  }
}
