// The etcd v3 services as the API layer writes them, once for every
// transport: a unary method is a function of the request and its context, a
// streaming method a function from the stream of requests to the stream of
// responses. The gRPC adapters (grpc/) and the HTTP gateway call the same
// methods; neither knows what the other does.
import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import type { RequestContext } from '../server/requestContext.js';
import { GrpcCode, RpcError, isEtcdError, toRpcError } from './rpcErrors.js';

export type UnaryMethod<Req, Res> = (req: Req, ctx: RequestContext) => Promise<Res>;

/** What a streaming method sees of its transport besides the requests. */
export interface StreamContext extends RequestContext {
  /**
   * True while the transport cannot take more (a full send buffer); a method
   * that can hold back does. Completes when the stream ends.
   */
  readonly backpressure$: Observable<boolean>;
}

/**
 * A streaming method: requests in, responses out, in order. The requests
 * complete when the client half-closes (a server stream gets exactly one);
 * completing the responses ends the stream, an error ends it with that
 * error's status, and unsubscribing (the client went away) ends its work.
 */
export interface StreamMethod<Req, Res> {
  readonly stream: (requests$: Observable<Req>, ctx: StreamContext) => Observable<Res>;
}

export function streamMethod<Req, Res>(
  stream: (requests$: Observable<Req>, ctx: StreamContext) => Observable<Res>,
): StreamMethod<Req, Res> {
  return { stream };
}

/** How a service's failures reach the client, and which of them are worth a warning. */
export interface FailurePolicy {
  status(err: unknown): RpcError;
  /** An answer the client is meant to get (an etcd error), not a fault of the member. */
  expected(err: unknown): boolean;
}

/** etcd's own services: each error with its status and exact text (v3rpc's togRPCError). */
export const etcdFailures: FailurePolicy = {
  status: (err) => toRpcError(err),
  expected: (err) => {
    const { message } = toRpcError(err);
    return message.startsWith('etcdserver:') || message.startsWith('mvcc:');
  },
};

/**
 * The election and lock services: etcd's call KV and Lease through an
 * embedded client, whose errors are no longer gRPC statuses, so every error
 * reaches the caller as Unknown with etcd's text, even "etcdserver: requested
 * lease not found" (checked against etcd 3.4.23).
 */
export const recipeFailures: FailurePolicy = {
  status: (err) => new RpcError(GrpcCode.Unknown, toRpcError(err).message),
  expected: (err) => isEtcdError(err),
};

/**
 * The status a failed call is answered with, logged as its policy says; none
 * when the caller is gone (a cancelled call, a closed connection), since no
 * one would read it.
 */
export function failureStatus(
  err: unknown,
  policy: FailurePolicy,
  ctx: RequestContext,
  logger: Logger,
  method: string,
): RpcError | undefined {
  if (ctx.clientGone?.happened === true) return undefined;
  const status = policy.status(err);
  if (policy.expected(err)) logger.debug({ method, error: status.message }, 'request refused');
  else logger.warn({ err, method }, 'request failed');
  return status;
}
