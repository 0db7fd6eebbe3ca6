import { describe, expect, it } from 'vitest';
import * as serverErrors from '../../../src/server/errors.js';
import { ALL_RPC_ERRORS, GrpcCode, toRpcError } from '../../../src/api/rpcErrors.js';

const errorsOfServer = Object.entries(serverErrors).filter(
  (entry): entry is [string, serverErrors.ServerError] => entry[1] instanceof serverErrors.ServerError,
);

describe('server errors on the wire', () => {
  it('every server error reaches the client with its own text', () => {
    expect(errorsOfServer.length).toBeGreaterThan(20);
    for (const [name, err] of errorsOfServer) expect(toRpcError(err).message, name).toBe(err.message);
  });

  it("each gets etcd's status; only those etcd sends as plain errors travel as Unknown", () => {
    const unknown = errorsOfServer.filter(([, err]) => toRpcError(err).code === GrpcCode.Unknown);
    // ErrCanceled answers a client that is gone: no one reads its status.
    expect(unknown.map(([name]) => name).sort()).toEqual([
      'ErrCanceled',
      'ErrMemberNotEnoughStarted',
      'ErrTimeoutLeaderTransfer',
      'ErrUnsupportedRequest',
    ]);
    for (const [name, err] of errorsOfServer) {
      if (['ErrCanceled', 'ErrTimeoutLeaderTransfer', 'ErrUnsupportedRequest'].includes(name)) continue;
      expect(ALL_RPC_ERRORS, name).toContain(toRpcError(err));
    }
    expect(toRpcError(serverErrors.ErrNoSpace).code).toBe(GrpcCode.ResourceExhausted);
    expect(toRpcError(serverErrors.ErrLeaseNotFound).code).toBe(GrpcCode.NotFound);
    expect(toRpcError(serverErrors.ErrStopped).code).toBe(GrpcCode.Unavailable);
    expect(toRpcError(serverErrors.ErrCorrupt).code).toBe(GrpcCode.DataLoss);
  });
});

describe('auth errors on the wire', () => {
  it("each reaches the client with etcd's text and code; the one etcd leaves unmapped travels as Unknown", async () => {
    const authErrors = await import('../../../src/auth/errors.js');
    const all = Object.entries(authErrors).filter(
      (entry): entry is [string, InstanceType<typeof authErrors.AuthError>] =>
        entry[1] instanceof authErrors.AuthError,
    );
    expect(all.length).toBeGreaterThan(15);
    for (const [name, err] of all) {
      const status = toRpcError(err);
      expect(status.message, name).toBe(err.message);
      if (name === 'ErrNoPasswordUser') expect(status.code).toBe(GrpcCode.Unknown);
      else expect(ALL_RPC_ERRORS, name).toContain(status);
    }
    expect(toRpcError(authErrors.ErrPermissionDenied).code).toBe(GrpcCode.PermissionDenied);
    expect(toRpcError(authErrors.ErrInvalidAuthToken).code).toBe(GrpcCode.Unauthenticated);
    expect(toRpcError(authErrors.ErrUserEmpty).code).toBe(GrpcCode.InvalidArgument);
    expect(toRpcError(authErrors.ErrAuthOldRevision).message).toBe(
      'etcdserver: revision of auth store is old',
    );
  });
});
