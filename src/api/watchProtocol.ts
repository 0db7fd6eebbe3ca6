// The etcd watch protocol over a WatcherStream, shared by the gRPC Watch
// service and the gateway's /v3/watch route: what a WatchRequest does to the
// stream, and how a reply goes out as a WatchResponse.
import type { EtcdServer } from '../server/etcdServer.js';
import {
  WatchCreateRequest_FilterType as FilterType,
  WatchResponse,
  type WatchRequest,
} from '../proto/etcdserverpb.js';
import type { WatchReply } from '../mvcc/watcher.js';
import type { WatcherStream } from '../mvcc/watcherStream.js';

export function handleWatchRequest(stream: WatcherStream, req: WatchRequest): void {
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
}

export function watchResponse(server: EtcdServer, reply: WatchReply): WatchResponse {
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
