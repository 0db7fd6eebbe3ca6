import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
import {
  WatchCreateRequest_FilterType as FilterType,
  WatchResponse,
  type WatchRequest,
} from '../../proto/etcdserverpb.js';
import type { WatchReply } from '../../mvcc/watcher.js';

/**
 * etcdserverpb.Watch (etcd's v3rpc/watch.go): one WatcherStream per gRPC
 * stream. Replies leave in the stream's order; when gRPC's send buffer is
 * full the stream pauses, and its watchers fall behind and catch up later
 * instead of blocking writers.
 */
export function watchService(server: EtcdServer, logger: Logger): grpc.UntypedServiceImplementation {
  const watch: grpc.handleBidiStreamingCall<WatchRequest, WatchResponse> = (call) => {
    const stream = server.watchable.newStream();
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      subscription.unsubscribe();
      stream.close();
    };
    const subscription = stream.replies$.subscribe({
      next: (reply) => {
        if (closed || call.cancelled) return;
        if (!call.write(toResponse(server, reply))) stream.pause();
      },
      complete: () => {
        if (!closed && !call.cancelled) call.end();
      },
    });
    call.on('drain', () => stream.resume());
    call.on('data', (req: WatchRequest) => {
      if (closed) return;
      if (req.createRequest) {
        const c = req.createRequest;
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
    });
    // A client's half-close is not the end: etcd's recvLoop returns quietly on EOF and the
    // stream, with its watchers, lives until the client goes away (or the server stops).
    call.on('cancelled', close);
    call.on('error', (err) => {
      logger.debug({ err }, 'watch stream error');
      close();
    });
  };
  return { Watch: watch };
}

function toResponse(server: EtcdServer, reply: WatchReply): WatchResponse {
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
