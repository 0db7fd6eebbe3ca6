// One unary gateway call, as etcd 3.4's grpc-gateway makes it: POST a JSON
// request, get the JSON response, or etcd's error body with the HTTP status
// of its gRPC code. The route calls the same service method gRPC calls, with
// a request context that knows when the client hangs up.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ClientGone, RequestContext } from '../server/requestContext.js';
import { httpCredentials } from './credentials.js';
import {
  goJsonError,
  readBodyText,
  writeJsonBody,
  writeMethodNotAllowed,
  writeUnaryError,
} from './gatewayFraming.js';
import { failureStatus, type FailurePolicy, type UnaryMethod } from './rpc.js';
import { GrpcCode, RpcError } from './rpcErrors.js';

export interface JsonCodec<T> {
  fromJSON(j: unknown): T;
  toJSON(m: T): unknown;
}

/** A request codec that can also say the request's size on the wire, for the gRPC message limit. */
export interface RequestCodec<T> extends JsonCodec<T> {
  encode(m: T): Uint8Array;
}

/** A unary method behind a gateway path. */
export interface UnaryRoute {
  readonly name: string;
  readonly policy: FailurePolicy;
  /** Decodes the body (throwing on a bad one) into the call to make. */
  prepare(body: string): (ctx: RequestContext) => Promise<unknown>;
}

export function unaryRoute<Req, Res>(
  name: string,
  method: UnaryMethod<Req, Res>,
  codecs: { request: RequestCodec<Req>; response: JsonCodec<Res> },
  policy: FailurePolicy,
  parse: (body: string) => unknown,
  maxMessageBytes = Infinity,
): UnaryRoute {
  return {
    name,
    policy,
    prepare: (body) => {
      const req = codecs.request.fromJSON(parse(body));
      // etcd's gateway is a gRPC client of the member: a request past the server's
      // receive limit is refused by gRPC itself (ResourceExhausted, HTTP 429).
      const size = Number.isFinite(maxMessageBytes) ? codecs.request.encode(req).byteLength : 0;
      if (size > maxMessageBytes)
        throw new RpcError(
          GrpcCode.ResourceExhausted,
          `grpc: received message larger than max (${size} vs. ${maxMessageBytes})`,
        );
      return async (ctx) => codecs.response.toJSON(await method(req, ctx));
    },
  };
}

export async function serveUnary(
  req: IncomingMessage,
  res: ServerResponse,
  route: UnaryRoute,
  maxBodyBytes: number,
  log: Logger,
): Promise<void> {
  if (req.method !== 'POST') {
    writeMethodNotAllowed(res);
    return;
  }
  let call: (ctx: RequestContext) => Promise<unknown>;
  let body = '';
  try {
    body = await readBodyText(req, maxBodyBytes);
    call = route.prepare(body);
  } catch (err) {
    if (err instanceof RpcError) writeUnaryError(res, err);
    else writeUnaryError(res, new RpcError(GrpcCode.InvalidArgument, goJsonError(err, body)));
    return;
  }
  const clientGone = responseGone(res);
  const ctx: RequestContext = { ...httpCredentials(req), clientGone };
  try {
    const out = await call(ctx);
    if (!clientGone.happened) writeJsonBody(res, 200, out);
  } catch (err) {
    const status = failureStatus(err, route.policy, ctx, log, route.name);
    if (status !== undefined) writeUnaryError(res, status);
  }
}

/** The HTTP client going away before its answer was written (its connection closed). */
function responseGone(res: ServerResponse): ClientGone {
  return {
    get happened() {
      return res.closed && !res.writableFinished;
    },
    subscribe(fn) {
      const onClose = (): void => {
        if (!res.writableFinished) fn();
      };
      res.once('close', onClose);
      return () => void res.removeListener('close', onClose);
    },
  };
}
