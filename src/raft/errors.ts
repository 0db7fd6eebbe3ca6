/**
 * Errors the Raft core reports to its caller. Messages match etcd's raft
 * package where the concept exists, so logs and client errors read the same.
 */

/** A proposal could not be accepted: no leader, a transfer in progress, forwarding disabled, or too much uncommitted data. */
export class ProposalDroppedError extends Error {
  readonly reason: string;
  constructor(reason = 'dropped') {
    super('raft proposal dropped');
    this.name = 'ProposalDroppedError';
    this.reason = reason;
  }
}

/** A message type that only the node itself may generate (MsgHup, MsgBeat, ...) was handed to step(). */
export class StepLocalMsgError extends Error {
  constructor() {
    super('raft: cannot step raft local message');
    this.name = 'StepLocalMsgError';
  }
}

/** A response arrived from a node that is not in the configuration. */
export class StepPeerNotFoundError extends Error {
  constructor() {
    super('raft: cannot step as peer not found');
    this.name = 'StepPeerNotFoundError';
  }
}

/** A configuration change that cannot be applied (the configuration is left unchanged). */
export class ConfChangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfChangeError';
  }
}

/** The configuration of a RaftNode is invalid. */
export class RaftConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftConfigError';
  }
}

/**
 * An invariant of the protocol was violated (etcd panics here): the node's
 * state can no longer be trusted and it must not continue.
 */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftInvariantError';
  }
}
