// etcd 3.4's gateway routes for streaming RPCs: POST /v3/watch,
// /v3/lease/keepalive (bidi) and /v3/election/observe (server stream).
// The request body may carry several JSON messages one after another, read as
// they arrive; body EOF half-closes the client side. The response is chunked,
// one `{"result": <message>}` per line; a failure ends it with
// `{"error": {...}}` (and sets the HTTP status if nothing was sent yet).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { concatMap, from, map, Observable, Subject, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { EtcdServer } from '../server/etcdServer.js';
import {
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  WatchRequest,
  WatchResponse,
} from '../proto/etcdserverpb.js';
import { LeaderRequest, LeaderResponse } from '../proto/v3electionpb.js';
import { handleWatchRequest, watchResponse } from './watchProtocol.js';
import type { Election } from './recipes/election.js';
import type { HttpRoutes } from './http.js';
import { ErrLeaseNotFound, GrpcCode, RpcError, toRpcError } from './rpcErrors.js';
import {
  JsonObjectSplitter,
  httpStatusOf,
  readBodyText,
  streamErrorChunk,
  writeMethodNotAllowed,
  writeUnaryError,
} from './gatewayFraming.js';

/** What a streaming route makes of its incoming messages. */
interface StreamSession<Res> {
  readonly responses$: Observable<Res>;
  /** The HTTP socket is full / has room again (watch lets its watchers lag meanwhile). */
  pause?(): void;
  resume?(): void;
}

interface StreamRoute<Req, Res> {
  /** Bidi: every JSON object of the body is a message. Server stream: the body is one message. */
  readonly bidi: boolean;
  decode(json: unknown): Req;
  encode(message: Res): unknown;
  open(requests$: Observable<Req>): StreamSession<Res>;
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
  mount('watch', watchRoute(server));
  mount('lease/keepalive', keepAliveRoute(server));
  mount('election/observe', observeRoute(election));
}

function watchRoute(server: EtcdServer): StreamRoute<WatchRequest, WatchResponse> {
  return {
    bidi: true,
    decode: (j) => WatchRequest.fromJSON(j),
    encode: (m) => WatchResponse.toJSON(m),
    open: (requests$) => {
      const stream = server.watchable.newStream();
      const responses$ = new Observable<WatchResponse>((subscriber) => {
        const replies = stream.replies$.pipe(map((r) => watchResponse(server, r))).subscribe(subscriber);
        // Body EOF does not end a watch: etcd keeps sending events until the client goes away.
        const incoming = requests$.subscribe({
          next: (req) => {
            handleWatchRequest(stream, req);
          },
          error: () => undefined,
        });
        return () => {
          incoming.unsubscribe();
          replies.unsubscribe();
          stream.close();
        };
      });
      return { responses$, pause: () => stream.pause(), resume: () => stream.resume() };
    },
  };
}

function keepAliveRoute(server: EtcdServer): StreamRoute<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
  return {
    bidi: true,
    decode: (j) => LeaseKeepAliveRequest.fromJSON(j),
    encode: (m) => LeaseKeepAliveResponse.toJSON(m),
    open: (requests$) => ({
      // Answered one by one in order; body EOF ends the stream once all are answered, as etcd's does.
      responses$: requests$.pipe(
        concatMap((req) =>
          from(
            server.leaseRenew(req.id).then(
              (ttl) => ttl,
              (err: unknown) => {
                // An unknown or expired lease is answered with TTL 0, not an error.
                if (toRpcError(err) === ErrLeaseNotFound) return 0;
                throw err;
              },
            ),
          ).pipe(map((ttl) => LeaseKeepAliveResponse.create({ header: server.header(), id: req.id, ttl }))),
        ),
      ),
    }),
  };
}

function observeRoute(election: Election): StreamRoute<LeaderRequest, LeaderResponse> {
  return {
    bidi: false,
    decode: (j) => LeaderRequest.fromJSON(j),
    encode: (m) => LeaderResponse.toJSON(m),
    open: (requests$) => ({
      responses$: requests$.pipe(concatMap((req) => election.observe(req))),
    }),
  };
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
  let started = false;
  let finished = false;
  let subscription: Subscription | undefined;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    subscription?.unsubscribe();
    requests$.complete();
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
      message = route.decode(body.trim().length === 0 ? {} : JSON.parse(body));
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      writeUnaryError(res, new RpcError(GrpcCode.InvalidArgument, text));
      return;
    }
    const session = route.open(requests$);
    subscription = subscribeResponses(session, res, route, fail, () => (started = true), finish);
    requests$.next(message);
    requests$.complete();
    return;
  }

  const session = route.open(requests$);
  subscription = subscribeResponses(session, res, route, fail, () => (started = true), finish);
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
        m = route.decode(JSON.parse(t));
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

function subscribeResponses<Req, Res>(
  session: StreamSession<Res>,
  res: ServerResponse,
  route: StreamRoute<Req, Res>,
  fail: (err: unknown) => void,
  markStarted: () => void,
  finish: () => void,
): Subscription {
  let headerSent = false;
  res.on('drain', () => session.resume?.());
  return session.responses$.subscribe({
    next: (message) => {
      if (res.writableEnded) return;
      if (!headerSent) {
        headerSent = true;
        markStarted();
        res.writeHead(200, { 'Content-Type': 'application/json' });
      }
      if (!res.write(`${JSON.stringify({ result: route.encode(message) })}\n`)) session.pause?.();
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
