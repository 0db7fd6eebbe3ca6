// A thin etcd v3 gRPC client over raw @grpc/grpc-js and the project's generated service
// definitions (src/proto/etcdserverpb.ts), for readiness probes and the load benchmark: no
// retries, no builders, one grpc Client (one HTTP/2 connection) per instance, so what is
// measured is the server.
import * as grpc from '@grpc/grpc-js';
import {
  ClusterService,
  DeleteRangeRequest,
  HashKVRequest,
  KVService,
  LeaseGrantRequest,
  LeaseKeepAliveRequest,
  LeaseService,
  MaintenanceService,
  MemberAddRequest,
  MemberListRequest,
  MemberPromoteRequest,
  MemberRemoveRequest,
  MoveLeaderRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
  WatchCreateRequest,
  WatchService,
  type DeleteRangeResponse,
  type HashKVResponse,
  type LeaseGrantResponse,
  type LeaseKeepAliveResponse,
  type MemberAddResponse,
  type MemberListResponse,
  type PutResponse,
  type RangeResponse,
  type StatusResponse,
  type TxnResponse,
  type WatchRequest,
  type WatchResponse,
} from '../../src/proto/etcdserverpb.js';

export type {
  DeleteRangeResponse,
  HashKVResponse,
  MemberListResponse,
  PutResponse,
  RangeResponse,
  TxnResponse,
  WatchResponse,
};
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
  /** Extra grpc-js channel options (e.g. a short reconnect backoff for fault tests). */
  readonly channel?: grpc.ChannelOptions;
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
      ...opts.channel,
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

  hashKV(revision: number, deadlineMs = 5_000): Promise<HashKVResponse> {
    return this.unary(MaintenanceService.HashKV, HashKVRequest.create({ revision }), deadlineMs);
  }

  moveLeader(targetId: bigint, deadlineMs = 5_000): Promise<unknown> {
    return this.unary(MaintenanceService.MoveLeader, MoveLeaderRequest.create({ targetId }), deadlineMs);
  }

  /** Linearizable, as etcdctl's `member list` is in 3.4. */
  memberList(deadlineMs = 5_000): Promise<MemberListResponse> {
    return this.unary(ClusterService.MemberList, MemberListRequest.create(), deadlineMs);
  }

  memberAdd(peerUrls: string[], isLearner: boolean, deadlineMs = 5_000): Promise<MemberAddResponse> {
    return this.unary(ClusterService.MemberAdd, MemberAddRequest.create({ peerUrls, isLearner }), deadlineMs);
  }

  memberRemove(id: bigint, deadlineMs = 5_000): Promise<unknown> {
    return this.unary(ClusterService.MemberRemove, MemberRemoveRequest.create({ id }), deadlineMs);
  }

  memberPromote(id: bigint, deadlineMs = 5_000): Promise<unknown> {
    return this.unary(ClusterService.MemberPromote, MemberPromoteRequest.create({ id }), deadlineMs);
  }

  leaseGrant(ttl: number, deadlineMs = 5_000): Promise<LeaseGrantResponse> {
    return this.unary(LeaseService.LeaseGrant, LeaseGrantRequest.create({ ttl }), deadlineMs);
  }

  /**
   * One keep-alive on a stream of its own, so a renewal stuck on an unreachable leader
   * holds up no later one (etcd's server answers a stream's renewals one at a time).
   */
  leaseKeepAliveOnce(id: bigint, deadlineMs = 5_000): Promise<LeaseKeepAliveResponse> {
    const m = LeaseService.LeaseKeepAlive;
    const call = this.client.makeBidiStreamRequest<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      { deadline: Date.now() + deadlineMs },
    );
    return new Promise<LeaseKeepAliveResponse>((resolve, reject) => {
      call.once('data', (res: LeaseKeepAliveResponse) => {
        resolve(res);
        call.cancel();
      });
      call.on('error', reject);
      call.once('end', () => reject(new Error('keep-alive stream ended without an answer')));
      call.write(LeaseKeepAliveRequest.create({ id }));
    });
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
