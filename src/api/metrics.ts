// The API layer's metrics, with the names etcd registers (go-grpc-prometheus's
// grpc_server_*, etcd's client byte counters and /health counters). The server
// declares its own (src/server/metrics.ts); embed puts both on one registry per
// member (tests run several members in one process) and /metrics serves it.
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';

export const GRPC_LABELS = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
export const GRPC_HANDLED_LABELS = [...GRPC_LABELS, 'grpc_code'] as const;
export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

export interface ApiMetrics {
  /** The member's registry, which /metrics serves. */
  readonly registry: Registry;
  /**
   * Set by whoever owns the gRPC connections (the client port); the two
   * etcd_network_client_grpc_*_bytes_total counters pull from it at each scrape.
   */
  grpcBytes?: GrpcByteSource;
  readonly healthSuccess: Counter;
  readonly healthFailures: Counter;
  readonly grpcReceivedBytes: Counter;
  readonly grpcSentBytes: Counter;
  readonly grpcStarted: Counter<(typeof GRPC_LABELS)[number]>;
  readonly grpcHandled: Counter<(typeof GRPC_HANDLED_LABELS)[number]>;
  readonly grpcMsgReceived: Counter<(typeof GRPC_LABELS)[number]>;
  readonly grpcMsgSent: Counter<(typeof GRPC_LABELS)[number]>;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  const registers = [registry];
  const counter = <L extends string = string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Counter<L> => new Counter<L>({ name, help, labelNames, registers });

  // Both byte counters call this at a scrape; the source hands out deltas, so the second call adds nothing.
  const pullBytes = (): void => {
    const taken = m.grpcBytes?.takeGrpcBytes();
    if (taken === undefined) return;
    if (taken.received > 0) m.grpcReceivedBytes.inc(taken.received);
    if (taken.sent > 0) m.grpcSentBytes.inc(taken.sent);
  };
  const m: ApiMetrics = {
    registry,
    healthSuccess: counter('etcd_server_health_success', 'The total number of successful health checks'),
    healthFailures: counter('etcd_server_health_failures', 'The total number of failed health checks'),
    // Pulled at scrape time: counting per message would cost a serialization per call.
    grpcReceivedBytes: new Counter({
      name: 'etcd_network_client_grpc_received_bytes_total',
      help: 'The total number of bytes received from grpc clients.',
      registers,
      collect: () => pullBytes(),
    }),
    grpcSentBytes: new Counter({
      name: 'etcd_network_client_grpc_sent_bytes_total',
      help: 'The total number of bytes sent to grpc clients.',
      registers,
      collect: () => pullBytes(),
    }),
    grpcStarted: counter(
      'grpc_server_started_total',
      'Total number of RPCs started on the server.',
      GRPC_LABELS,
    ),
    grpcHandled: counter(
      'grpc_server_handled_total',
      'Total number of RPCs completed on the server, regardless of success or failure.',
      GRPC_HANDLED_LABELS,
    ),
    grpcMsgReceived: counter(
      'grpc_server_msg_received_total',
      'Total number of RPC stream messages received on the server.',
      GRPC_LABELS,
    ),
    grpcMsgSent: counter(
      'grpc_server_msg_sent_total',
      'Total number of gRPC stream messages sent by the server.',
      GRPC_LABELS,
    ),
  };
  return m;
}

/** Splits "/etcdserverpb.KV/Range" into the labels go-grpc-prometheus uses. */
export function grpcLabels(path: string, type: GrpcType): Record<(typeof GRPC_LABELS)[number], string> {
  const [, service = '', method = ''] = path.split('/');
  return { grpc_type: type, grpc_service: service, grpc_method: method };
}

/** go-grpc-prometheus's grpc_type label from a method's streaming shape. */
export function grpcType(requestStream: boolean, responseStream: boolean): GrpcType {
  if (requestStream && responseStream) return 'bidi_stream';
  if (requestStream) return 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

/** The gRPC status code's name as go-grpc-prometheus labels it (`OK`, `NotFound`, ...). */
const CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? String(code);
}

/**
 * A grpc-js server interceptor that keeps grpc_server_started_total,
 * grpc_server_handled_total and the message counters, as etcd's
 * go-grpc-prometheus interceptors do, for every service on the server.
 * The labelled children are made once per method: this runs on every request.
 */
export function grpcMetricsInterceptor(metrics: ApiMetrics): ServerInterceptor {
  interface MethodCounters {
    readonly labels: Record<(typeof GRPC_LABELS)[number], string>;
    readonly started: { inc(): void };
    readonly received: { inc(): void };
    readonly sent: { inc(): void };
    readonly handled: Map<number, { inc(): void }>;
  }
  const byPath = new Map<string, MethodCounters>();
  const countersFor = (path: string, requestStream: boolean, responseStream: boolean): MethodCounters => {
    let c = byPath.get(path);
    if (c === undefined) {
      const labels = grpcLabels(path, grpcType(requestStream, responseStream));
      c = {
        labels,
        started: metrics.grpcStarted.labels(labels),
        received: metrics.grpcMsgReceived.labels(labels),
        sent: metrics.grpcMsgSent.labels(labels),
        handled: new Map(),
      };
      byPath.set(path, c);
    }
    return c;
  };
  return (method, call) => {
    const c = countersFor(method.path, method.requestStream, method.responseStream);
    c.started.inc();
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            c.received.inc();
            nextMessage(message);
          },
        }),
      sendMessage: (message, next) => {
        c.sent.inc();
        next(message);
      },
      sendStatus: (status, next) => {
        const code = status.code ?? 0;
        let handled = c.handled.get(code);
        if (handled === undefined) {
          handled = metrics.grpcHandled.labels({ ...c.labels, grpc_code: grpcCodeName(code) });
          c.handled.set(code, handled);
        }
        handled.inc();
        next(status);
      },
    });
  };
}

/** Where the byte counters read from at scrape time (the client listeners' gRPC connections). */
export interface GrpcByteSource {
  takeGrpcBytes(): { received: number; sent: number };
}
