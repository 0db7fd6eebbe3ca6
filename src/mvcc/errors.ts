/**
 * The errors of the key space, with etcd's internal texts (mvcc/kvstore.go,
 * lease/lessor.go, etcdserver/errors.go). The API layer maps them to gRPC
 * statuses (src/api/rpcErrors.ts `toRpcError`), as etcd's v3rpc/util.go does:
 * mvcc does not know about gRPC.
 */
export type MvccErrorKind =
  'compacted' | 'futureRev' | 'keyNotFound' | 'leaseNotFound' | 'leaseExists' | 'closed';

const MESSAGES: Record<MvccErrorKind, string> = {
  compacted: 'mvcc: required revision has been compacted',
  futureRev: 'mvcc: required revision is a future revision',
  keyNotFound: 'etcdserver: key not found',
  leaseNotFound: 'lease not found',
  leaseExists: 'lease already exists',
  closed: 'mvcc: closed',
};

export class MvccError extends Error {
  constructor(readonly kind: MvccErrorKind) {
    super(MESSAGES[kind]);
    this.name = 'MvccError';
  }
}

export const ErrCompacted = (): MvccError => new MvccError('compacted');
export const ErrFutureRev = (): MvccError => new MvccError('futureRev');
