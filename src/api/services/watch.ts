import { Observable, concatMap, distinctUntilChanged, map } from 'rxjs';
import type { EtcdServer } from '../../server/etcdServer.js';
import {
  WatchCreateRequest_FilterType as FilterType,
  WatchResponse,
  type WatchRequest,
} from '../../proto/etcdserverpb.js';
import type { WatchReply } from '../../mvcc/watcher.js';
import type { WatcherStream } from '../../mvcc/watcherStream.js';
import type { RequestContext } from '../../server/requestContext.js';
import { streamMethod, type StreamMethod } from '../rpc.js';
import { goStatusText, toRpcError } from '../rpcErrors.js';

export interface WatchService {
  readonly Watch: StreamMethod<WatchRequest, WatchResponse>;
}

/**
 * etcdserverpb.Watch (etcd's v3rpc/watch.go), for gRPC and the gateway's
 * /v3/watch alike: one WatcherStream per stream. Replies leave in the
 * stream's order; while the transport is full the stream pauses, and its
 * watchers fall behind and catch up later instead of blocking writers. The
 * client's half-close is not the end: etcd's recvLoop returns quietly on EOF
 * and the stream, with its watchers, lives until the client goes away (or
 * the server stops). A create is checked for the caller's read permission
 * first (etcd's isWatchPermitted); requests are handled one at a time, in order.
 */
export function watchService(server: EtcdServer): WatchService {
  return {
    Watch: streamMethod(
      (requests$, ctx) =>
        new Observable<WatchResponse>((subscriber) => {
          const stream = server.watchable.newStream({ coalesce: true });
          const replies = stream.replies$.pipe(map((r) => watchResponse(server, r))).subscribe(subscriber);
          const incoming = requests$
            .pipe(concatMap((req) => handleWatchRequest(server, stream, req, ctx)))
            .subscribe();
          const flow = ctx.backpressure$
            .pipe(distinctUntilChanged())
            .subscribe((full) => (full ? stream.pause() : stream.resume()));
          return () => {
            flow.unsubscribe();
            incoming.unsubscribe();
            replies.unsubscribe();
            stream.close();
          };
        }),
    ),
  };
}

async function handleWatchRequest(
  server: EtcdServer,
  stream: WatcherStream,
  req: WatchRequest,
  ctx: RequestContext,
): Promise<void> {
  if (req.createRequest) {
    const c = req.createRequest;
    const refused = await server.auth.watchRefusal(ctx, c.key, c.rangeEnd);
    if (refused !== undefined) {
      // etcd puts the status's Go error text in the reason.
      stream.failCreate(goStatusText(toRpcError(refused)));
      return;
    }
    stream.watch({
      key: c.key,
      rangeEnd: c.rangeEnd,
      startRevision: c.startRevision,
      prevKv: c.prevKv,
      filters: {
        noPut: c.filters.includes(FilterType.NOPUT),
        noDelete: c.filters.includes(FilterType.NODELETE),
      },
      progressNotify: c.progressNotify,
      fragment: c.fragment,
      watchId: c.watchId,
    });
  } else if (req.cancelRequest) {
    stream.cancel(req.cancelRequest.watchId);
  } else if (req.progressRequest) {
    stream.requestProgress();
  }
}

function watchResponse(server: EtcdServer, reply: WatchReply): WatchResponse {
  return WatchResponse.create({
    header: server.header(reply.revision),
    watchId: reply.watchId,
    created: reply.created ?? false,
    canceled: reply.canceled ?? false,
    compactRevision: reply.compactRevision ?? 0,
    cancelReason: reply.cancelReason ?? '',
    fragment: reply.fragment ?? false,
    events: reply.events,
  });
}
