import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
import type { WatchRequest, WatchResponse } from '../../proto/etcdserverpb.js';
import { handleWatchRequest, watchResponse } from '../watchProtocol.js';

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
        if (!call.write(watchResponse(server, reply))) stream.pause();
      },
      complete: () => {
        if (!closed && !call.cancelled) call.end();
      },
    });
    call.on('drain', () => stream.resume());
    call.on('data', (req: WatchRequest) => {
      if (closed) return;
      handleWatchRequest(stream, req);
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
