import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BehaviorSubject, Subject, Subscription, of, type Observable } from 'rxjs';
import type { StreamMethod } from '../rpc.js';
import { toRpcError } from '../rpcErrors.js';
import { needingLeader, requiresLeader } from '../leaderGate.js';
import { grpcCredentials } from '../credentials.js';
import { ClientGoneFlag } from '../../server/requestContext.js';
import type { CallOptions } from './register.js';

/** A bidirectional stream: the client's messages go in until it half-closes. */
export function grpcBidiStream<Req, Res>(
  name: string,
  method: StreamMethod<Req, Res>,
  logger: Logger,
  options: CallOptions = {},
): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const requests$ = new Subject<Req>();
    call.on('data', (req: Req) => requests$.next(req));
    call.on('end', () => requests$.complete());
    serve(call, requests$, name, method, logger, options);
  };
}

/** A server stream: its one request goes in. */
export function grpcServerStream<Req, Res>(
  name: string,
  method: StreamMethod<Req, Res>,
  logger: Logger,
  options: CallOptions = {},
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => serve(call, of(call.request), name, method, logger, options);
}

/**
 * The method's responses go out in order. A full send buffer is the method's
 * backpressure until 'drain'; the client going away ends the method's work;
 * the method completing ends the call with OK, its error with that error's status.
 */
function serve<Req, Res>(
  call: grpc.ServerWritableStream<Req, Res> | grpc.ServerDuplexStream<Req, Res>,
  requests$: Observable<Req>,
  name: string,
  method: StreamMethod<Req, Res>,
  logger: Logger,
  { leader, identities }: CallOptions,
): void {
  const clientGone = new ClientGoneFlag();
  const backpressure$ = new BehaviorSubject(false);
  let answered = false;
  // Released before the method's subscription is made (it failed at once), the holder unsubscribes it on adding.
  const subscription = new Subscription();
  const release = (): void => {
    if (clientGone.happened) return;
    clientGone.declare();
    subscription.unsubscribe();
    backpressure$.complete();
  };
  subscription.add(
    needingLeader(
      method.stream(requests$, { ...grpcCredentials(call, identities), clientGone, backpressure$ }),
      requiresLeader(call.metadata) ? leader : undefined,
    ).subscribe({
      next: (res) => {
        if (answered || call.cancelled) return;
        if (!call.write(res)) backpressure$.next(true);
      },
      error: (err: unknown) => {
        if (answered) return;
        answered = true;
        release();
        const status = toRpcError(err);
        call.emit('error', { code: status.code, details: status.message });
      },
      complete: () => {
        if (answered) return;
        answered = true;
        if (!call.cancelled) call.end();
      },
    }),
  );
  call.on('drain', () => backpressure$.next(false));
  call.on('cancelled', release);
  call.on('close', release);
  call.on('error', (err) => {
    logger.debug({ err, method: name }, 'stream error');
    release();
  });
}
