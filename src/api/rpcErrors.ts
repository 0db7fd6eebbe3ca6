import { AuthError } from '../auth/errors.js';
import { MvccError } from '../mvcc/errors.js';
import { ServerError } from '../server/errors.js';

/**
 * etcd's client-facing errors as values (etcd 3.4 `v3rpc/rpctypes/error.go`):
 * a gRPC status code and the exact message clients match on. Codes and texts
 * are reproduced byte for byte; etcdctl and the npm etcd3 client depend on them.
 */
export const GrpcCode = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export class RpcError extends Error {
  constructor(
    readonly code: GrpcCode,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  /** grpc-js accepts any object with code, details and message as a status. */
  get details(): string {
    return this.message;
  }
}

const e = (code: GrpcCode, message: string): RpcError => new RpcError(code, message);
const {
  InvalidArgument,
  OutOfRange,
  ResourceExhausted,
  NotFound,
  FailedPrecondition,
  Canceled,
  Unknown,
  PermissionDenied,
  Unauthenticated,
  Unavailable,
  DataLoss,
} = GrpcCode;

// Keys, values and requests.
export const ErrEmptyKey = e(InvalidArgument, 'etcdserver: key is not provided');
export const ErrKeyNotFound = e(InvalidArgument, 'etcdserver: key not found');
export const ErrValueProvided = e(InvalidArgument, 'etcdserver: value is provided');
export const ErrLeaseProvided = e(InvalidArgument, 'etcdserver: lease is provided');
export const ErrTooManyOps = e(InvalidArgument, 'etcdserver: too many operations in txn request');
export const ErrDuplicateKey = e(InvalidArgument, 'etcdserver: duplicate key given in txn request');
export const ErrCompacted = e(OutOfRange, 'etcdserver: mvcc: required revision has been compacted');
export const ErrFutureRev = e(OutOfRange, 'etcdserver: mvcc: required revision is a future revision');
export const ErrNoSpace = e(ResourceExhausted, 'etcdserver: mvcc: database space exceeded');
export const ErrRequestTooLarge = e(InvalidArgument, 'etcdserver: request is too large');
// etcd's util.go maps this one to the client-side error, so it travels as Unknown.
export const ErrTooManyRequests = e(Unknown, 'etcdserver: too many requests');

// Leases.
export const ErrLeaseNotFound = e(NotFound, 'etcdserver: requested lease not found');
export const ErrLeaseExist = e(FailedPrecondition, 'etcdserver: lease already exists');
export const ErrLeaseTTLTooLarge = e(OutOfRange, 'etcdserver: too large lease TTL');

// Watch.
export const ErrWatchCanceled = e(Canceled, 'etcdserver: watch canceled');

// Membership.
export const ErrMemberExist = e(FailedPrecondition, 'etcdserver: member ID already exist');
export const ErrPeerURLExist = e(FailedPrecondition, 'etcdserver: Peer URLs already exists');
// Like ErrTooManyRequests, sent as Unknown by etcd 3.4.
export const ErrMemberNotEnoughStarted = e(
  Unknown,
  'etcdserver: re-configuration failed due to not enough started members',
);
export const ErrMemberBadURLs = e(InvalidArgument, 'etcdserver: given member URLs are invalid');
export const ErrMemberNotFound = e(NotFound, 'etcdserver: member not found');
export const ErrMemberNotLearner = e(FailedPrecondition, 'etcdserver: can only promote a learner member');
export const ErrLearnerNotReady = e(
  FailedPrecondition,
  'etcdserver: can only promote a learner member which is in sync with leader',
);
export const ErrTooManyLearners = e(FailedPrecondition, 'etcdserver: too many learner members in cluster');

// Auth.
export const ErrRootUserNotExist = e(FailedPrecondition, 'etcdserver: root user does not exist');
export const ErrRootRoleNotExist = e(FailedPrecondition, 'etcdserver: root user does not have root role');
export const ErrUserAlreadyExist = e(FailedPrecondition, 'etcdserver: user name already exists');
export const ErrUserEmpty = e(InvalidArgument, 'etcdserver: user name is empty');
export const ErrUserNotFound = e(FailedPrecondition, 'etcdserver: user name not found');
export const ErrRoleAlreadyExist = e(FailedPrecondition, 'etcdserver: role name already exists');
export const ErrRoleNotFound = e(FailedPrecondition, 'etcdserver: role name not found');
export const ErrRoleEmpty = e(InvalidArgument, 'etcdserver: role name is empty');
export const ErrAuthFailed = e(
  InvalidArgument,
  'etcdserver: authentication failed, invalid user ID or password',
);
export const ErrPermissionDenied = e(PermissionDenied, 'etcdserver: permission denied');
export const ErrRoleNotGranted = e(FailedPrecondition, 'etcdserver: role is not granted to the user');
export const ErrPermissionNotGranted = e(
  FailedPrecondition,
  'etcdserver: permission is not granted to the role',
);
export const ErrAuthNotEnabled = e(FailedPrecondition, 'etcdserver: authentication is not enabled');
export const ErrInvalidAuthToken = e(Unauthenticated, 'etcdserver: invalid auth token');
export const ErrInvalidAuthMgmt = e(InvalidArgument, 'etcdserver: invalid auth management');
export const ErrAuthOldRevision = e(InvalidArgument, 'etcdserver: revision of auth store is old');
/** etcd 3.5's answer to a permission grant without a permission (3.4 crashes on it). */
export const ErrPermissionNotGiven = e(InvalidArgument, 'etcdserver: permission not given');

// Server state.
export const ErrNoLeader = e(Unavailable, 'etcdserver: no leader');
export const ErrNotLeader = e(FailedPrecondition, 'etcdserver: not leader');
export const ErrLeaderChanged = e(Unavailable, 'etcdserver: leader changed');
export const ErrNotCapable = e(Unavailable, 'etcdserver: not capable');
export const ErrStopped = e(Unavailable, 'etcdserver: server stopped');
export const ErrTimeout = e(Unavailable, 'etcdserver: request timed out');
export const ErrTimeoutDueToLeaderFail = e(
  Unavailable,
  'etcdserver: request timed out, possibly due to previous leader failure',
);
export const ErrTimeoutDueToConnectionLost = e(
  Unavailable,
  'etcdserver: request timed out, possibly due to connection lost',
);
export const ErrTimeoutWaitAppliedIndex = e(
  Unavailable,
  'etcdserver: request timed out, waiting for the applied index took too long',
);
export const ErrUnhealthy = e(Unavailable, 'etcdserver: unhealthy cluster');
export const ErrCorrupt = e(DataLoss, 'etcdserver: corrupt cluster');
export const ErrNotSupportedForLearner = e(Unavailable, 'etcdserver: rpc not supported for learner');
export const ErrBadLeaderTransferee = e(FailedPrecondition, 'etcdserver: bad leader transferee');

/** Every error above, for tests and for recognising a message that came back from a peer. */
export const ALL_RPC_ERRORS: readonly RpcError[] = [
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrValueProvided,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrDuplicateKey,
  ErrCompacted,
  ErrFutureRev,
  ErrNoSpace,
  ErrRequestTooLarge,
  ErrTooManyRequests,
  ErrLeaseNotFound,
  ErrLeaseExist,
  ErrLeaseTTLTooLarge,
  ErrWatchCanceled,
  ErrMemberExist,
  ErrPeerURLExist,
  ErrMemberNotEnoughStarted,
  ErrMemberBadURLs,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrLearnerNotReady,
  ErrTooManyLearners,
  ErrRootUserNotExist,
  ErrRootRoleNotExist,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
  ErrRoleAlreadyExist,
  ErrRoleNotFound,
  ErrRoleEmpty,
  ErrAuthFailed,
  ErrPermissionDenied,
  ErrRoleNotGranted,
  ErrPermissionNotGranted,
  ErrAuthNotEnabled,
  ErrInvalidAuthToken,
  ErrInvalidAuthMgmt,
  ErrAuthOldRevision,
  ErrPermissionNotGiven,
  ErrNoLeader,
  ErrNotLeader,
  ErrLeaderChanged,
  ErrNotCapable,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutDueToLeaderFail,
  ErrTimeoutDueToConnectionLost,
  ErrTimeoutWaitAppliedIndex,
  ErrUnhealthy,
  ErrCorrupt,
  ErrNotSupportedForLearner,
  ErrBadLeaderTransferee,
];

const byMessage = new Map(ALL_RPC_ERRORS.map((err) => [err.message, err]));

/** The RpcError whose exact message this is, if any (e.g. an error string carried in a raft result). */
export function rpcErrorByMessage(message: string): RpcError | undefined {
  return byMessage.get(message);
}

/**
 * Maps an internal error to what the client sees, as etcd's v3rpc/util.go
 * togRPCError does: known errors get their status; anything else is Unknown
 * with its own text. The server's errors (src/server/errors.ts) carry the
 * texts above and are found by them.
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof MvccError) {
    switch (err.kind) {
      case 'compacted':
        return ErrCompacted;
      case 'futureRev':
        return ErrFutureRev;
      case 'keyNotFound':
        return ErrKeyNotFound;
      case 'leaseNotFound':
        return ErrLeaseNotFound;
      case 'leaseExists':
        return ErrLeaseExist;
      case 'closed':
        return ErrStopped;
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return byMessage.get(message) ?? new RpcError(GrpcCode.Unknown, message);
}

/** An etcd error value (the server's, the auth store's or one of the above): the client's business, not the log's. */
export function isEtcdError(err: unknown): boolean {
  return err instanceof RpcError || err instanceof ServerError || err instanceof AuthError;
}

/** Go's status error text, `rpc error: code = <Name> desc = <message>`, as etcd writes it into a watch's cancel reason. */
export function goStatusText(status: RpcError): string {
  const name = (Object.keys(GrpcCode) as Array<keyof typeof GrpcCode>).find(
    (k) => GrpcCode[k] === status.code,
  );
  return `rpc error: code = ${name ?? 'Unknown'} desc = ${status.message}`;
}
