/**
 * The server's errors as values (etcd's etcdserver/errors.go, with the lease
 * and membership errors the server raises): exact texts, no transport. The
 * API layer maps each to its gRPC status (src/api/rpcErrors.ts), as etcd's
 * v3rpc/rpctypes maps etcdserver's errors, so a text here is what a client reads.
 */
export class ServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerError';
  }
}

const byMessage = new Map<string, ServerError>();

const e = (message: string): ServerError => {
  const err = new ServerError(message);
  byMessage.set(message, err);
  return err;
};

/**
 * The error a peer answered with, by its text (a request forwarded to the
 * leader): the same value when it is one of these, so callers and the API
 * layer treat it as if it were raised here.
 */
export function serverErrorOf(message: string): Error {
  return byMessage.get(message) ?? new ServerError(message);
}

// Server state.
export const ErrStopped = e('etcdserver: server stopped');
export const ErrNoLeader = e('etcdserver: no leader');
export const ErrNotLeader = e('etcdserver: not leader');
export const ErrLeaderChanged = e('etcdserver: leader changed');
export const ErrTimeout = e('etcdserver: request timed out');
/** The client went away before its answer; nobody reads this but the log. */
export const ErrCanceled = e('etcdserver: request cancelled');
export const ErrTimeoutWaitAppliedIndex = e(
  'etcdserver: request timed out, waiting for the applied index took too long',
);
export const ErrTimeoutLeaderTransfer = e('etcdserver: request timed out, leader transfer took too long');
export const ErrBadLeaderTransferee = e('etcdserver: bad leader transferee');
export const ErrCorrupt = e('etcdserver: corrupt cluster');

// Requests.
export const ErrRequestTooLarge = e('etcdserver: request is too large');
export const ErrNoSpace = e('etcdserver: mvcc: database space exceeded');
export const ErrUnsupportedRequest = e('etcdserver: unsupported request in raft log');

// Leases.
export const ErrLeaseNotFound = e('etcdserver: requested lease not found');
export const ErrLeaseExist = e('etcdserver: lease already exists');
export const ErrLeaseTTLTooLarge = e('etcdserver: too large lease TTL');

// Membership.
export const ErrPeerURLExist = e('etcdserver: Peer URLs already exists');
export const ErrMemberNotEnoughStarted = e(
  'etcdserver: re-configuration failed due to not enough started members',
);
export const ErrMemberBadURLs = e('etcdserver: given member URLs are invalid');
export const ErrMemberNotFound = e('etcdserver: member not found');
export const ErrUnhealthy = e('etcdserver: unhealthy cluster');
export const ErrMemberNotLearner = e('etcdserver: can only promote a learner member');
export const ErrLearnerNotReady = e(
  'etcdserver: can only promote a learner member which is in sync with leader',
);
export const ErrTooManyLearners = e('etcdserver: too many learner members in cluster');
