import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { FailurePolicy, StreamMethod, UnaryMethod } from '../rpc.js';
import { grpcBidiStream, grpcServerStream } from './stream.js';
import { grpcUnary } from './unary.js';
import type { LeaderGate } from '../leaderGate.js';
import type { PeerIdentities } from '../peerIdentities.js';

/** What the adapters need besides the method: the leader gate of `hasleader` calls, and the TLS peers' names. */
export interface CallOptions {
  readonly leader?: LeaderGate;
  readonly identities?: PeerIdentities;
}

type RequestOf<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
type ResponseOf<M> = M extends { responseSerialize: (m: infer R) => Buffer } ? R : never;

interface MethodShape {
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/**
 * A service as the API layer writes it: the methods of its definition it
 * serves (grpc-js answers the others UNIMPLEMENTED, as etcd 3.4 does those of
 * later releases), unary or streaming, typed by their messages.
 */
export type ServiceImplementation<D> = {
  readonly [M in keyof D]?:
    UnaryMethod<RequestOf<D[M]>, ResponseOf<D[M]>> | StreamMethod<RequestOf<D[M]>, ResponseOf<D[M]>>;
};

/**
 * The grpc-js handlers for a service implementation. Each method's shape
 * must be the definition's: a unary function where the definition has no
 * stream, a stream method where it streams responses.
 */
function handlersOf<D extends Record<string, MethodShape>>(
  definition: D,
  service: ServiceImplementation<D>,
  policy: FailurePolicy,
  logger: Logger,
  options: CallOptions,
): Record<string, grpc.UntypedHandleCall> {
  const handlers: Record<string, grpc.UntypedHandleCall> = {};
  for (const name of Object.keys(definition)) {
    const shape = definition[name]!;
    const method = service[name];
    if (method === undefined) continue;
    if (typeof method === 'function') {
      if (shape.requestStream || shape.responseStream)
        throw new Error(`${name} streams; its method does not`);
      handlers[name] = grpcUnary(name, method, policy, logger, options);
    } else if (shape.requestStream && shape.responseStream) {
      handlers[name] = grpcBidiStream(name, method, logger, options);
    } else if (shape.responseStream) {
      handlers[name] = grpcServerStream(name, method, logger, options);
    } else {
      throw new Error(`${name} is unary (or client-streaming, which etcd does not have); its method streams`);
    }
  }
  return handlers;
}

/** Serves a service implementation on a grpc-js server under its definition. */
export function addGrpcService<D extends Record<string, MethodShape> & grpc.ServiceDefinition>(
  server: grpc.Server,
  definition: D,
  service: ServiceImplementation<D>,
  policy: FailurePolicy,
  logger: Logger,
  options: CallOptions = {},
): void {
  server.addService(definition, handlersOf(definition, service, policy, logger, options));
}
