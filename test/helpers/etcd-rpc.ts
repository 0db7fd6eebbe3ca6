// A thin etcd v3 gRPC client over raw @grpc/grpc-js and the project's generated service
// definitions (src/proto/etcdserverpb.ts), for readiness probes and the load benchmark: no
// retries, no builders, one grpc Client (one HTTP/2 connection) per instance, so what is
// measured is the server.
import * as grpc from '@grpc/grpc-js';
import {
  DeleteRangeRequest,
  KVService,
  MaintenanceService,
  PutRequest,
  RangeRequest,
  TxnRequest,
  WatchCreateRequest,
  WatchService,
  type DeleteRangeResponse,
  type PutResponse,
  type RangeResponse,
  type StatusResponse,
  type TxnResponse,
  type WatchRequest,
  type WatchResponse,
} from '../../src/proto/etcdserverpb.js';

export type { DeleteRangeResponse, PutResponse, RangeResponse, TxnResponse, WatchResponse };
export { Compare_CompareResult, Compare_CompareTarget } from '../../src/proto/etcdserverpb.js';

interface UnaryMethod<Req, Res> {
  readonly path: string;
  readonly requestSerialize: (m: Req) => Buffer;
  readonly responseDeserialize: (b: Buffer) => Res;
}

/** One bidi Watch stream: create watchers on it, receive every response in order. */
export interface WatchStream {
  create(req: Partial<WatchCreateRequest>): void;
  onResponse(handler: (res: WatchResponse) => void): void;
  close(): void;
}

/** Strips the scheme etcd clients accept in endpoint lists: `http://127.0.0.1:2379` → `127.0.0.1:2379`. */
export function endpointAddress(endpoint: string): string {
  return endpoint.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

export interface EtcdRpcOptions {
  /** Sent as gRPC metadata `token` with every call (what Authenticate answered). */
  readonly token?: string;
}

export class EtcdRpcClient {
  private readonly client: grpc.Client;
  private readonly metadata = new grpc.Metadata();

  constructor(endpoint: string, opts: EtcdRpcOptions = {}) {
    if (opts.token !== undefined) this.metadata.set('token', opts.token);
    // A channel of its own per client object: grpc-js would otherwise share one subchannel
    // between clients to the same address, and the benchmark's `--conns` must mean connections.
    this.client = new grpc.Client(endpointAddress(endpoint), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  /** Any unary method of the generated service definitions (Auth, Lease, ...). */
  call<Req, Res>(method: UnaryMethod<Req, Res>, message: Req, deadlineMs = 5_000): Promise<Res> {
    return this.unary(method, message, deadlineMs);
  }

  private unary<Req, Res>(method: UnaryMethod<Req, Res>, message: Req, deadlineMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<Req, Res>(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        message,
        this.metadata,
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err) reject(err);
          else if (value === undefined) reject(new Error(`${method.path}: empty response`));
          else resolve(value);
        },
      );
    });
  }

  range(r: Partial<RangeRequest>, deadlineMs = 5_000): Promise<RangeResponse> {
    return this.unary(KVService.Range, RangeRequest.create(r), deadlineMs);
  }

  put(p: Partial<PutRequest>, deadlineMs = 5_000): Promise<PutResponse> {
    return this.unary(KVService.Put, PutRequest.create(p), deadlineMs);
  }

  txn(t: Partial<TxnRequest>, deadlineMs = 5_000): Promise<TxnResponse> {
    return this.unary(KVService.Txn, TxnRequest.create(t), deadlineMs);
  }

  deleteRange(d: Partial<DeleteRangeRequest>, deadlineMs = 5_000): Promise<DeleteRangeResponse> {
    return this.unary(KVService.DeleteRange, DeleteRangeRequest.create(d), deadlineMs);
  }

  status(deadlineMs = 5_000): Promise<StatusResponse> {
    return this.unary(MaintenanceService.Status, {}, deadlineMs);
  }

  watch(): WatchStream {
    const m = WatchService.Watch;
    const call = this.client.makeBidiStreamRequest<WatchRequest, WatchResponse>(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      this.metadata,
    );
    // Streams are closed by cancelling them, which surfaces as an error event.
    call.on('error', () => undefined);
    return {
      create: (c) => {
        call.write({ createRequest: WatchCreateRequest.create(c) });
      },
      onResponse: (handler) => {
        call.on('data', handler);
      },
      close: () => call.cancel(),
    };
  }

  close(): void {
    this.client.close();
  }
}

/** True when a linearizable Range of `health` succeeds within `deadlineMs` (etcdctl's own health test). */
export async function rangeSucceeds(endpoint: string, deadlineMs = 1_000): Promise<boolean> {
  const c = new EtcdRpcClient(endpoint);
  try {
    await c.range({ key: Buffer.from('health') }, deadlineMs);
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}
