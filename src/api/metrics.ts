// The API layer's metrics, with the names etcd registers (go-grpc-prometheus's
// grpc_server_*, etcd's client byte counters and /health counters). The server
// declares its own (src/server/metrics.ts); embed puts both on one registry per
// member (tests run several members in one process) and /metrics serves it.
import {
  Server,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
  /** --metrics extensive: go-grpc-prometheus's handling-time histogram. */
  readonly grpcHandlingSeconds?: Histogram<(typeof GRPC_LABELS)[number]>;
  /** etcd 3.5's count of client requests by kind and the client's API version. */
  readonly clientRequests: Counter<'type' | 'client_api_version'>;
  /** /metrics scrapes by HTTP status, as promhttp counts its own. */
  readonly scrapes: Counter<'code'>;
  readonly scrapesInFlight: Gauge;
}

/** prometheus.DefBuckets, which go-grpc-prometheus's handling histogram uses. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createApiMetrics(registry: Registry, options: { extensive?: boolean } = {}): ApiMetrics {
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
    ...(options.extensive === true
      ? {
          grpcHandlingSeconds: new Histogram({
            name: 'grpc_server_handling_seconds',
            help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
            labelNames: GRPC_LABELS,
            buckets: DEFAULT_BUCKETS,
            registers,
          }),
        }
      : {}),
    clientRequests: counter(
      'etcd_server_client_requests_total',
      'The total number of client requests per client version.',
      ['type', 'client_api_version'] as const,
    ),
    scrapes: counter(
      'promhttp_metric_handler_requests_total',
      'Total number of scrapes by HTTP status code.',
      ['code'] as const,
    ),
    scrapesInFlight: new Gauge({
      name: 'promhttp_metric_handler_requests_in_flight',
      help: 'Current number of scrapes being served.',
      registers,
    }),
  };
  // promhttp starts its counter at 0 for the codes it can answer with.
  for (const code of ['200', '500', '503']) m.scrapes.inc({ code }, 0);
  return m;
}

/**
 * A gRPC server whose services are counted from the moment they are added,
 * every method at 0 for every code, as go-grpc-prometheus's
 * InitializeMetrics does: a dashboard's rate() then has a series before the
 * first call, and an alert on a code sees it go from 0.
 */
export class CountedGrpcServer extends Server {
  constructor(
    private readonly metrics: ApiMetrics,
    options: ConstructorParameters<typeof Server>[0],
  ) {
    super(options);
  }

  override addService(service: ServiceDefinition, implementation: Parameters<Server['addService']>[1]): void {
    for (const method of Object.values(service)) {
      const labels = grpcLabels(method.path, grpcType(method.requestStream, method.responseStream));
      this.metrics.grpcStarted.inc(labels, 0);
      this.metrics.grpcMsgReceived.inc(labels, 0);
      this.metrics.grpcMsgSent.inc(labels, 0);
      for (const code of CODE_NAMES) this.metrics.grpcHandled.inc({ ...labels, grpc_code: code }, 0);
    }
    super.addService(service, implementation);
  }
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
    readonly handling?: { observe(seconds: number): void };
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
        ...(metrics.grpcHandlingSeconds !== undefined
          ? { handling: metrics.grpcHandlingSeconds.labels(labels) }
          : {}),
      };
      byPath.set(path, c);
    }
    return c;
  };
  return (method, call) => {
    const c = countersFor(method.path, method.requestStream, method.responseStream);
    c.started.inc();
    const streaming = method.requestStream || method.responseStream;
    const startedAt = c.handling !== undefined ? performance.now() : 0;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            // etcd's clients send their version as client-api-version; others are counted as unknown.
            const version = metadata.get('client-api-version')[0];
            metrics.clientRequests.inc({
              type: streaming ? 'stream' : 'unary',
              client_api_version: typeof version === 'string' && version !== '' ? version : 'unknown',
            });
            nextMetadata(metadata);
          },
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
        c.handling?.observe((performance.now() - startedAt) / 1000);
        next(status);
      },
    });
  };
}

/** Where the byte counters read from at scrape time (the client listeners' gRPC connections). */
export interface GrpcByteSource {
  takeGrpcBytes(): { received: number; sent: number };
}
