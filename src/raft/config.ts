import type { InspectionEvent } from 'xstate';
import type { RaftStorage } from './storage.js';
import { RaftConfigError } from './errors.js';

/** pino-compatible: (object, message). */
export interface RaftLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RaftConfig {
  id: bigint;
  storage: RaftStorage;
  /** Ticks a follower waits without hearing from a leader before campaigning (randomized in [electionTick, 2*electionTick)). */
  electionTick: number;
  /** Ticks between leader heartbeats. */
  heartbeatTick: number;
  /** The last index the application has applied; entries up to it are not handed out again after a restart. */
  applied?: number;
  /** Byte limit of the entries in one MsgApp (at least one entry is always sent). */
  maxSizePerMsg?: number;
  /** Byte limit of committed entries handed out in one Ready. */
  maxCommittedSizePerReady?: number;
  /** Byte limit of proposed but uncommitted entry payloads on the leader; 0 means no limit. */
  maxUncommittedEntriesSize?: number;
  /** How many MsgApp may be in flight to one follower in replicate state. */
  maxInflightMsgs?: number;
  /** How many payload bytes may be in flight to one follower; 0 means no limit. */
  maxInflightBytes?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  readOnlyOption?: 'safe' | 'leaseBased';
  disableProposalForwarding?: boolean;
  /**
   * A leader that applies its own removal (or demotion to learner) steps down
   * at once instead of leading a group it no longer belongs to. Defaults to
   * false, as in etcd's raft, where the server shuts a removed member down: a
   * leader that steps down the moment it applies a joint leave can strand the
   * surviving voter (test/sim/regressions/stranded-survivor-after-joint-leave.txt).
   */
  stepDownOnRemoval?: boolean;
  /** Seeded source in [0, 1) for the randomized election timeout: the only nondeterminism. */
  random: () => number;
  logger?: RaftLogger;
  /** Receives the role machine's inspection events (e.g. @statelyai/inspect's `inspect`, for --inspect). */
  inspect?: (event: InspectionEvent) => void;
}

export interface ResolvedRaftConfig {
  id: bigint;
  storage: RaftStorage;
  electionTick: number;
  heartbeatTick: number;
  applied: number;
  maxSizePerMsg: number;
  maxCommittedSizePerReady: number;
  maxUncommittedEntriesSize: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  checkQuorum: boolean;
  preVote: boolean;
  readOnlyOption: 'safe' | 'leaseBased';
  disableProposalForwarding: boolean;
  stepDownOnRemoval: boolean;
  random: () => number;
  logger: RaftLogger;
}

const silent = (): void => {};
export const silentLogger: RaftLogger = { debug: silent, info: silent, warn: silent, error: silent };

/** Validates a config and fills in defaults (etcd's Config.validate). */
export function resolveConfig(c: RaftConfig): ResolvedRaftConfig {
  if (c.id === 0n) throw new RaftConfigError('cannot use none as id');
  if (!(c.heartbeatTick > 0)) throw new RaftConfigError('heartbeat tick must be greater than 0');
  if (!(c.electionTick > c.heartbeatTick))
    throw new RaftConfigError('election tick must be greater than heartbeat tick');
  const maxSizePerMsg = c.maxSizePerMsg ?? 1024 * 1024;
  const maxInflightMsgs = c.maxInflightMsgs ?? 256;
  if (!(maxInflightMsgs > 0)) throw new RaftConfigError('max inflight messages must be greater than 0');
  const maxInflightBytes = c.maxInflightBytes ?? 0;
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsg) {
    throw new RaftConfigError('max inflight bytes must be >= max message size');
  }
  const readOnlyOption = c.readOnlyOption ?? 'safe';
  const checkQuorum = c.checkQuorum ?? false;
  if (readOnlyOption === 'leaseBased' && !checkQuorum) {
    throw new RaftConfigError('CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased');
  }
  return {
    id: c.id,
    storage: c.storage,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    applied: c.applied ?? 0,
    maxSizePerMsg,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? Math.max(maxSizePerMsg, 64 * 1024 * 1024),
    maxUncommittedEntriesSize: c.maxUncommittedEntriesSize || Infinity,
    maxInflightMsgs,
    maxInflightBytes: maxInflightBytes || Infinity,
    checkQuorum,
    preVote: c.preVote ?? false,
    readOnlyOption,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    random: c.random,
    logger: c.logger ?? silentLogger,
  };
}
