import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toRpcError } from '../rpcErrors.js';

/**
 * A unary gRPC handler from an async function: the result is the response,
 * any error becomes etcd's status (code and exact message). Unexpected errors
 * are logged; etcd's own errors are the client's business, not the log's.
 */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const status = toRpcError(err);
        if (!status.message.startsWith('etcdserver:') && !status.message.startsWith('mvcc:')) {
          logger.warn({ err, method }, 'request failed');
        }
        callback({ code: status.code, details: status.message, name: status.name, message: status.message });
      },
    );
  };
}
