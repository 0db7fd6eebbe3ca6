// Server-sent events both ways: writing a stream of typed objects to an HTTP
// response, and reading one from another member's response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Observable, type Subscription } from 'rxjs';

/** A reader this far behind is dropped; EventSource reconnects and starts from a fresh hello. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export function serveEvents<E extends { readonly type: string }>(
  req: IncomingMessage,
  res: ServerResponse,
  events$: Observable<E>,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  res.flushHeaders();
  let subscription: Subscription | undefined = undefined;
  const end = (): void => {
    subscription?.unsubscribe();
    if (!res.writableEnded) res.end();
  };
  subscription = events$.subscribe({
    next: (e) => {
      if (res.writableLength > MAX_BUFFERED_BYTES) return end();
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    },
    error: end,
    complete: end,
  });
  req.on('close', end);
  res.on('close', end);
}

export interface SseMessage {
  readonly event: string;
  readonly data: string;
}

/** The messages of an event stream as they arrive; completes when the stream ends. */
export function readEvents(stream: IncomingMessage): Observable<SseMessage> {
  return new Observable<SseMessage>((sub) => {
    let buffered = '';
    stream.setEncoding('utf8');
    const onData = (chunk: string): void => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0) sub.next({ event, data: data.join('\n') });
      }
    };
    const onEnd = (): void => sub.complete();
    const onError = (err: Error): void => sub.error(err);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    return () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.destroy();
    };
  });
}
