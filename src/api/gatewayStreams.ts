// etcd 3.4's gateway routes for streaming RPCs: POST /v3/watch,
// /v3/lease/keepalive (bidi) and /v3/election/observe (server stream).
// The request body may carry several JSON messages one after another, read as
// they arrive; body EOF half-closes the client side. The response is chunked,
// one `{"result": <message>}` per line; a failure ends it with
// `{"error": {...}}` (and sets the HTTP status if nothing was sent yet).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BehaviorSubject, Subject, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { EtcdServer } from '../server/etcdServer.js';
import { ClientGoneFlag } from '../server/requestContext.js';
import {
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  WatchRequest,
  WatchResponse,
} from '../proto/etcdserverpb.js';
import { LeaderRequest, LeaderResponse } from '../proto/v3electionpb.js';
import type { Election } from './recipes/election.js';
import { httpCredentials } from './credentials.js';
import type { HttpRoutes } from './http.js';
import type { StreamContext, StreamMethod } from './rpc.js';
import { GrpcCode, RpcError, toRpcError } from './rpcErrors.js';
import { electionService } from './services/election.js';
import { leaseKeepAlive } from './services/lease.js';
import { watchService } from './services/watch.js';
import {
  JsonObjectSplitter,
  parseJsonBody,
  httpStatusOf,
  readBodyText,
  streamErrorChunk,
  writeMethodNotAllowed,
  writeUnaryError,
} from './gatewayFraming.js';

/** A streaming method behind a gateway path, with its messages' JSON forms. */
interface StreamRoute<Req, Res> {
  /** Bidi: every JSON object of the body is a message. Server stream: the body is one message. */
  readonly bidi: boolean;
  decode(json: unknown): Req;
  encode(message: Res): unknown;
  readonly method: StreamMethod<Req, Res>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Mounts the streaming routes (and their /v3beta/ aliases) on the client port's HTTP router. */
export function createGatewayStreams(
  routes: HttpRoutes,
  server: EtcdServer,
  election: Election,
  logger: Logger,
): void {
  const log = logger.child({ component: 'gateway-streams' });
  const mount = <Req, Res>(path: string, route: StreamRoute<Req, Res>): void => {
    const handler = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
      serveStream(req, res, route, log);
    routes.path(`/v3/${path}`, handler).path(`/v3beta/${path}`, handler);
  };
  mount('watch', {
    bidi: true,
    decode: (j) => WatchRequest.fromJSON(j),
    encode: (m) => WatchResponse.toJSON(m),
    method: watchService(server).Watch,
  });
  mount('lease/keepalive', {
    bidi: true,
    decode: (j) => LeaseKeepAliveRequest.fromJSON(j),
    encode: (m) => LeaseKeepAliveResponse.toJSON(m),
    method: leaseKeepAlive(server),
  });
  mount('election/observe', {
    bidi: false,
    decode: (j) => LeaderRequest.fromJSON(j),
    encode: (m) => LeaderResponse.toJSON(m),
    method: electionService(election).Observe,
  });
}

async function serveStream<Req, Res>(
  req: IncomingMessage,
  res: ServerResponse,
  route: StreamRoute<Req, Res>,
  log: Logger,
): Promise<void> {
  if (req.method !== 'POST') {
    writeMethodNotAllowed(res);
    return;
  }
  const requests$ = new Subject<Req>();
  const clientGone = new ClientGoneFlag();
  const ctx = { ...httpCredentials(req), clientGone, backpressure$: new BehaviorSubject(false) };
  let started = false;
  let finished = false;
  let subscription: Subscription | undefined;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clientGone.declare();
    subscription?.unsubscribe();
    requests$.complete();
    ctx.backpressure$.complete();
  };
  res.on('close', finish);

  const fail = (err: unknown): void => {
    if (finished) return;
    const status = toRpcError(err);
    if (!started) {
      started = true;
      res.writeHead(httpStatusOf(status.code), { 'Content-Type': 'application/json' });
    }
    res.end(streamErrorChunk(status));
    finish();
  };

  if (!route.bidi) {
    // A server stream's request is the whole body, read before anything is sent.
    let message: Req;
    try {
      const body = await readBodyText(req, MAX_BODY_BYTES);
      message = route.decode(body.trim().length === 0 ? {} : parseJsonBody(body));
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      writeUnaryError(res, new RpcError(GrpcCode.InvalidArgument, text));
      return;
    }
    subscription = subscribeResponses(requests$, ctx, res, route, fail, () => (started = true), finish);
    requests$.next(message);
    requests$.complete();
    return;
  }

  subscription = subscribeResponses(requests$, ctx, res, route, fail, () => (started = true), finish);
  const splitter = new JsonObjectSplitter(MAX_BODY_BYTES);
  let received = 0;
  let reading = true;
  const stopReading = (): void => {
    reading = false;
    requests$.complete();
  };
  req.setEncoding('utf8');
  const unreadable = (err: unknown): void => {
    const message = err instanceof Error ? err.message : String(err);
    // The gateway only reports a bad first message; a later one just half-closes the stream.
    if (received === 0 && !started) {
      started = true;
      writeUnaryError(res, new RpcError(GrpcCode.Unknown, message));
      finish();
      return;
    }
    log.debug({ error: message }, 'gateway stream: unreadable message, closing the send side');
    stopReading();
  };
  req.on('data', (text: string) => {
    if (!reading || finished) return;
    for (const t of splitter.push(text)) {
      let m: Req;
      try {
        m = route.decode(parseJsonBody(t));
      } catch (err) {
        unreadable(err);
        return;
      }
      if (!reading || finished) return;
      received++;
      requests$.next(m);
    }
    if (splitter.failure) unreadable(splitter.failure);
  });
  req.on('end', () => {
    if (!reading || finished) return;
    // A body cut off inside a message is Go's io.ErrUnexpectedEOF: reported only for the first message.
    if (splitter.hasPartial) unreadable(new Error('unexpected EOF'));
    else stopReading();
  });
}

/** The method's responses, one `{"result": ...}` line each; a full socket is its backpressure until 'drain'. */
function subscribeResponses<Req, Res>(
  requests$: Subject<Req>,
  ctx: StreamContext & { backpressure$: BehaviorSubject<boolean> },
  res: ServerResponse,
  route: StreamRoute<Req, Res>,
  fail: (err: unknown) => void,
  markStarted: () => void,
  finish: () => void,
): Subscription {
  let headerSent = false;
  res.on('drain', () => ctx.backpressure$.next(false));
  return route.method.stream(requests$, ctx).subscribe({
    next: (message) => {
      if (res.writableEnded) return;
      if (!headerSent) {
        headerSent = true;
        markStarted();
        res.writeHead(200, { 'Content-Type': 'application/json' });
      }
      if (!res.write(`${JSON.stringify({ result: route.encode(message) })}\n`)) ctx.backpressure$.next(true);
    },
    error: (err: unknown) => fail(err),
    complete: () => {
      if (!headerSent) {
        headerSent = true;
        markStarted();
        res.writeHead(200, { 'Content-Type': 'application/json' });
      }
      res.end();
      finish();
    },
  });
}
