// A thin etcd v3 gRPC client over raw @grpc/grpc-js, for readiness probes and the load
// benchmark: no retries, no builders, one grpc Client per connection, so what is measured
// is the server. Messages are encoded with protobufjs from the etcd3 package's copy of
// rpc.proto, which is wire-identical to etcd 3.4's (same package, services, field numbers).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

export interface ResponseHeader {
  readonly clusterId: string;
  readonly memberId: string;
  readonly revision: number;
  readonly raftTerm: number;
}

export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: string;
}

export interface RangeRequest {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
  revision?: number;
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
}

export interface RangeResponse {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  readonly count: number;
  readonly more: boolean;
}

export interface PutRequest {
  key: Uint8Array;
  value: Uint8Array;
  lease?: string;
  prevKv?: boolean;
}

export interface PutResponse {
  readonly header: ResponseHeader;
}

export interface TxnRequest {
  compare: {
    key: Uint8Array;
    target: 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';
    result: 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
    version?: number;
    createRevision?: number;
    modRevision?: number;
    value?: Uint8Array;
  }[];
  success: { put?: PutRequest; range?: RangeRequest }[];
  failure: { put?: PutRequest; range?: RangeRequest }[];
}

export interface TxnResponse {
  readonly header: ResponseHeader;
  readonly succeeded: boolean;
}

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: KeyValue;
}

export interface WatchResponse {
  readonly header: ResponseHeader;
  readonly watchId: number;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly events: readonly WatchEvent[];
}

export interface WatchCreate {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  startRevision?: number;
  prevKv?: boolean;
  progressNotify?: boolean;
}

/** One bidi Watch stream: create watchers on it, receive every response in order. */
export interface WatchStream {
  create(req: WatchCreate): void;
  onResponse(handler: (res: WatchResponse) => void): void;
  close(): void;
}

const compareTargets = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3 } as const;
const compareResults = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;

interface Codec {
  encode(value: object): Buffer;
  decode(buf: Buffer): Record<string, unknown>;
}

const decodeOptions: protobuf.IConversionOptions = { longs: String, enums: String, bytes: Buffer, defaults: true };

let root: protobuf.Root | null = null;
const codecs = new Map<string, Codec>();

function protoRoot(): protobuf.Root {
  if (root === null) {
    const dir = join(dirname(require.resolve('etcd3/package.json')), 'proto');
    root = new protobuf.Root().loadSync(join(dir, 'rpc.proto'), { keepCase: false });
  }
  return root;
}

function codec(name: string): Codec {
  let c = codecs.get(name);
  if (c === undefined) {
    const type = protoRoot().lookupType(`etcdserverpb.${name}`);
    c = {
      encode: (value) => Buffer.from(type.encode(type.fromObject(value)).finish()),
      decode: (buf) => type.toObject(type.decode(buf), decodeOptions),
    };
    codecs.set(name, c);
  }
  return c;
}

function num(v: unknown): number {
  return typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : 0;
}

function header(raw: unknown): ResponseHeader {
  const h = (raw ?? {}) as Record<string, unknown>;
  return {
    clusterId: String(h['clusterId'] ?? '0'),
    memberId: String(h['memberId'] ?? '0'),
    revision: num(h['revision']),
    raftTerm: num(h['raftTerm']),
  };
}

function keyValue(raw: unknown): KeyValue {
  const kv = (raw ?? {}) as Record<string, unknown>;
  return {
    key: kv['key'] as Buffer,
    value: kv['value'] as Buffer,
    createRevision: num(kv['createRevision']),
    modRevision: num(kv['modRevision']),
    version: num(kv['version']),
    lease: String(kv['lease'] ?? '0'),
  };
}

function rangeMessage(r: RangeRequest): object {
  return {
    key: r.key,
    rangeEnd: r.rangeEnd,
    limit: r.limit ?? 0,
    revision: r.revision ?? 0,
    serializable: r.serializable ?? false,
    keysOnly: r.keysOnly ?? false,
    countOnly: r.countOnly ?? false,
  };
}

function putMessage(p: PutRequest): object {
  return { key: p.key, value: p.value, lease: p.lease ?? '0', prevKv: p.prevKv ?? false };
}

function requestOp(op: { put?: PutRequest; range?: RangeRequest }): object {
  if (op.put) return { requestPut: putMessage(op.put) };
  if (op.range) return { requestRange: rangeMessage(op.range) };
  throw new Error('txn op needs put or range');
}

/** Strips the scheme etcd clients accept in endpoint lists: `http://127.0.0.1:2379` → `127.0.0.1:2379`. */
export function endpointAddress(endpoint: string): string {
  return endpoint.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

export class EtcdRpcClient {
  private readonly client: grpc.Client;

  constructor(endpoint: string) {
    // A distinct channel per client object: grpc-js would otherwise share one subchannel
    // between clients to the same address, and `--conns` must mean real connections.
    this.client = new grpc.Client(endpointAddress(endpoint), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  private unary<Res>(
    path: string,
    reqType: string,
    resType: string,
    message: object,
    map: (raw: Record<string, unknown>) => Res,
    deadlineMs: number,
  ): Promise<Res> {
    const req = codec(reqType);
    const res = codec(resType);
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<object, Record<string, unknown>>(
        path,
        (v) => req.encode(v),
        (b) => res.decode(b),
        message,
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err) reject(err);
          else if (value === undefined) reject(new Error(`${path}: empty response`));
          else resolve(map(value));
        },
      );
    });
  }

  range(r: RangeRequest, deadlineMs = 5_000): Promise<RangeResponse> {
    return this.unary('/etcdserverpb.KV/Range', 'RangeRequest', 'RangeResponse', rangeMessage(r), (raw) => ({
      header: header(raw['header']),
      kvs: ((raw['kvs'] as unknown[] | undefined) ?? []).map(keyValue),
      count: num(raw['count']),
      more: raw['more'] === true,
    }), deadlineMs);
  }

  put(p: PutRequest, deadlineMs = 5_000): Promise<PutResponse> {
    return this.unary('/etcdserverpb.KV/Put', 'PutRequest', 'PutResponse', putMessage(p), (raw) => ({
      header: header(raw['header']),
    }), deadlineMs);
  }

  txn(t: TxnRequest, deadlineMs = 5_000): Promise<TxnResponse> {
    const message = {
      compare: t.compare.map((c) => ({
        key: c.key,
        target: compareTargets[c.target],
        result: compareResults[c.result],
        version: c.version,
        createRevision: c.createRevision,
        modRevision: c.modRevision,
        value: c.value,
      })),
      success: t.success.map(requestOp),
      failure: t.failure.map(requestOp),
    };
    return this.unary('/etcdserverpb.KV/Txn', 'TxnRequest', 'TxnResponse', message, (raw) => ({
      header: header(raw['header']),
      succeeded: raw['succeeded'] === true,
    }), deadlineMs);
  }

  deleteRange(key: Uint8Array, rangeEnd?: Uint8Array, deadlineMs = 5_000): Promise<{ header: ResponseHeader; deleted: number }> {
    return this.unary('/etcdserverpb.KV/DeleteRange', 'DeleteRangeRequest', 'DeleteRangeResponse', { key, rangeEnd }, (raw) => ({
      header: header(raw['header']),
      deleted: num(raw['deleted']),
    }), deadlineMs);
  }

  watch(): WatchStream {
    const req = codec('WatchRequest');
    const res = codec('WatchResponse');
    const call = this.client.makeBidiStreamRequest<object, Record<string, unknown>>(
      '/etcdserverpb.Watch/Watch',
      (v) => req.encode(v),
      (b) => res.decode(b),
    );
    // The benchmark closes streams by cancelling them; that surfaces as an error event.
    call.on('error', () => undefined);
    return {
      create: (c) => {
        call.write({
          createRequest: {
            key: c.key,
            rangeEnd: c.rangeEnd,
            startRevision: c.startRevision ?? 0,
            prevKv: c.prevKv ?? false,
            progressNotify: c.progressNotify ?? false,
          },
        });
      },
      onResponse: (handler) => {
        call.on('data', (raw: Record<string, unknown>) => {
          handler({
            header: header(raw['header']),
            watchId: num(raw['watchId']),
            created: raw['created'] === true,
            canceled: raw['canceled'] === true,
            events: ((raw['events'] as Record<string, unknown>[] | undefined) ?? []).map((e) => ({
              // etcd3's proto copy names the enum values Put/Delete; the numbers are etcd's.
              type: String(e['type']).toUpperCase() === 'DELETE' ? 'DELETE' : 'PUT',
              kv: keyValue(e['kv']),
            })),
          });
        });
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
