import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GrpcCode, isEtcdError, toRpcError } from '../rpcErrors.js';
import { RecipeAbortedError } from '../recipes/waitDeletes.js';

/**
 * A unary handler for requests that may block for a long time (Lock,
 * Campaign): the function gets an AbortSignal that fires when the client
 * cancels or its deadline passes, so the wait ends and what it left behind
 * is cleaned up.
 *
 * Every error is sent with code Unknown and etcd's exact text: etcd's
 * election and lock servers call KV and Lease through an embedded client,
 * whose errors are no longer gRPC statuses, so even "etcdserver: requested
 * lease not found" reaches the caller as Unknown (checked against etcd 3.4.23).
 */
export function cancellableUnary<Req, Res>(
  logger: Logger,
  method: string,
  fn: (req: Req, signal: AbortSignal) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    fn(call.request, abort.signal).then(
      (res) => callback(null, res),
      (err: unknown) => {
        if (err instanceof RecipeAbortedError || abort.signal.aborted) return;
        const status = toRpcError(err);
        if (isEtcdError(err)) logger.debug({ method, error: status.message }, 'request refused');
        else logger.warn({ err, method }, 'request failed');
        callback({
          code: GrpcCode.Unknown,
          details: status.message,
          name: status.name,
          message: status.message,
        });
      },
    );
  };
}
