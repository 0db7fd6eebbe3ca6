import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ClientGone, RequestContext } from '../../server/requestContext.js';
import { failureStatus, type FailurePolicy, type UnaryMethod } from '../rpc.js';
import { ErrNoLeader } from '../../server/errors.js';
import { requiresLeader } from '../leaderGate.js';
import { grpcCredentials } from '../credentials.js';
import type { CallOptions } from './register.js';

/**
 * A grpc-js unary handler for a unary method: the result is the response,
 * an error becomes the status its service's policy gives it. The request's
 * context carries the caller's credentials and aborts when the client
 * cancels or its deadline passes.
 */
export function grpcUnary<Req, Res>(
  name: string,
  method: UnaryMethod<Req, Res>,
  policy: FailurePolicy,
  logger: Logger,
  { leader, identities }: CallOptions = {},
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const ctx: RequestContext = { ...grpcCredentials(call, identities), clientGone: callGone(call) };
    const answer =
      leader !== undefined && requiresLeader(call.metadata) && !leader.hasLeader()
        ? Promise.reject(ErrNoLeader)
        : method(call.request, ctx);
    answer.then(
      (res) => callback(null, res),
      (err: unknown) => {
        const status = failureStatus(err, policy, ctx, logger, name);
        if (status === undefined) return;
        callback({ code: status.code, details: status.message, name: status.name, message: status.message });
      },
    );
  };
}

/** The caller cancelling a unary call (or its deadline passing), straight from grpc-js's own flag and event. */
function callGone(call: grpc.ServerUnaryCall<unknown, unknown>): ClientGone {
  return {
    get happened() {
      return call.cancelled;
    },
    subscribe(fn) {
      call.once('cancelled', fn);
      return () => void call.removeListener('cancelled', fn);
    },
  };
}
