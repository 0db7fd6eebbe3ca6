import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toRpcError } from '../rpcErrors.js';
import { RecipeAbortedError } from '../recipes/waitDeletes.js';

/**
 * A unary handler for requests that may block for a long time (Lock,
 * Campaign): the function gets an AbortSignal that fires when the client
 * cancels or its deadline passes, so the wait ends and what it left behind
 * is cleaned up. Errors become etcd's status (code and exact text).
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
        if (status === err) logger.debug({ method, error: status.message }, 'request refused');
        else logger.warn({ err, method }, 'request failed');
        callback({ code: status.code, details: status.message, name: status.name, message: status.message });
      },
    );
  };
}
