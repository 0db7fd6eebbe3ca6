// The generated types against a real etcd 3.4 (Go, gogoproto): our encodings must
// mean to etcd what they mean to us, on gRPC and on its JSON gateway.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ETCD_BIN, startEtcd, type ServerInstance } from '../../helpers/etcd.js';
import { makeTempDir } from '../../helpers/tempdir.js';
import { ResourceScope } from '../../helpers/scope.js';
import {
  ClusterService,
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  KVService,
  LeaseGrantRequest,
  type LeaseGrantResponse,
  LeaseService,
  LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  MaintenanceService,
  MemberListRequest,
  type MemberListResponse,
  PutRequest,
  type PutResponse,
  RangeRequest,
  RangeResponse,
  StatusRequest,
  type StatusResponse,
  TxnRequest,
  type TxnResponse,
  WatchRequest,
  type WatchResponse,
  WatchService,
} from '../../../src/proto/etcdserverpb.js';
import { Event_EventType } from '../../../src/proto/mvccpb.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;

function unary<Req, Res>(client: grpc.Client, method: string): (req: Req) => Promise<Res> {
  const fn = (client as unknown as Record<string, Unary<Req, Res>>)[method]!;
  return (req) =>
    new Promise<Res>((resolve, reject) => fn.call(client, req, (e, r) => (e ? reject(e) : resolve(r!))));
}

describe.skipIf(!existsSync(ETCD_BIN))('generated types against a real etcd 3.4', () => {
  const scope = new ResourceScope();
  let etcd: ServerInstance;
  let kv: grpc.Client;
  let lease: grpc.Client;
  let cluster: grpc.Client;
  let maint: grpc.Client;
  let watch: grpc.Client;

  beforeAll(async () => {
    const dir = scope.add(await makeTempDir('xetcd-proto-'), 'tempdir', (d) => d.remove());
    etcd = scope.add(await startEtcd({ dataDir: dir.path }), 'etcd', (e) => e.stop());
    const addr = `127.0.0.1:${etcd.port}`;
    const creds = grpc.credentials.createInsecure();
    const make = (def: grpc.ServiceDefinition, name: string): grpc.Client => {
      const Ctor = grpc.makeGenericClientConstructor(def, name);
      return scope.add(new Ctor(addr, creds), name, (c) => c.close());
    };
    kv = make(KVService, 'KV');
    lease = make(LeaseService, 'Lease');
    cluster = make(ClusterService, 'Cluster');
    maint = make(MaintenanceService, 'Maintenance');
    watch = make(WatchService, 'Watch');
  }, 60_000);

  afterAll(() => scope.close());

  it('agrees on IDs, leases, negative TTLs and headers', async () => {
    const members = await unary<MemberListRequest, MemberListResponse>(
      cluster,
      'MemberList',
    )(MemberListRequest.create());
    expect(members.members).toHaveLength(1);
    const me = members.members[0]!;
    expect(typeof me.id).toBe('bigint');
    expect(me.id).toBe(members.header!.memberId);
    expect(me.peerUrls).toEqual([etcd.peerUrl]);
    expect(me.clientUrls).toEqual([etcd.endpoint]);
    expect(me.name).toBe(etcd.name);

    const status = await unary<StatusRequest, StatusResponse>(maint, 'Status')(StatusRequest.create());
    expect(status.leader).toBe(me.id);
    expect(status.header!.clusterId).toBe(members.header!.clusterId);
    expect(status.version).toMatch(/^3\.4\./);

    const id = 0x7edcba9876543210n; // above 2^53: a bigint must carry it exactly
    const granted = await unary<LeaseGrantRequest, LeaseGrantResponse>(
      lease,
      'LeaseGrant',
    )(LeaseGrantRequest.create({ id, ttl: 60 }));
    expect(granted.id).toBe(id);
    expect(granted.ttl).toBe(60);

    const put = await unary<PutRequest, PutResponse>(
      kv,
      'Put',
    )(PutRequest.create({ key: enc.encode('proto/a'), value: enc.encode('1'), lease: id }));
    const range = await unary<RangeRequest, RangeResponse>(
      kv,
      'Range',
    )(RangeRequest.create({ key: enc.encode('proto/a') }));
    expect(range.count).toBe(1);
    expect(range.kvs[0]!.lease).toBe(id);
    expect(range.kvs[0]!.modRevision).toBe(put.header!.revision);
    expect(dec.decode(range.kvs[0]!.value)).toBe('1');

    const unknown = await unary<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>(
      lease,
      'LeaseTimeToLive',
    )(LeaseTimeToLiveRequest.create({ id: 12345n }));
    expect(unknown.ttl).toBe(-1);
  });

  it('runs a txn with a zero-valued oneof compare and nested ops', async () => {
    const key = enc.encode('proto/txn');
    const txn = TxnRequest.fromJSON({
      compare: [
        Compare.toJSON(
          Compare.create({
            key,
            target: Compare_CompareTarget.VERSION,
            result: Compare_CompareResult.EQUAL,
            version: 0,
          }),
        ),
      ],
      success: [
        { request_put: { key: Buffer.from(key).toString('base64'), value: 'eA==' } },
        { request_range: { key: Buffer.from(key).toString('base64') } },
      ],
      failure: [],
    });
    const first = await unary<TxnRequest, TxnResponse>(kv, 'Txn')(txn);
    expect(first.succeeded).toBe(true);
    expect(first.responses).toHaveLength(2);
    expect(first.responses[0]!.responsePut).toBeDefined();
    expect(dec.decode(first.responses[1]!.responseRange!.kvs[0]!.value)).toBe('x');
    const second = await unary<TxnRequest, TxnResponse>(kv, 'Txn')(txn);
    expect(second.succeeded).toBe(false);
  });

  it('streams watch events (field 11) to the generated decoder', async () => {
    const call = (
      watch as unknown as { Watch(): grpc.ClientDuplexStream<WatchRequest, WatchResponse> }
    ).Watch();
    try {
      const replies: WatchResponse[] = [];
      const gotEvent = new Promise<void>((resolve, reject) => {
        call.on('data', (r: WatchResponse) => {
          replies.push(r);
          if (r.events.length > 0) resolve();
        });
        call.on('error', reject);
      });
      call.write(
        WatchRequest.create({
          createRequest: {
            key: enc.encode('proto/w'),
            rangeEnd: enc.encode('proto/x'),
            prevKv: true,
            startRevision: 0,
            progressNotify: false,
            filters: [],
            watchId: 0,
            fragment: false,
          },
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
      await unary<PutRequest, PutResponse>(
        kv,
        'Put',
      )(PutRequest.create({ key: enc.encode('proto/w1'), value: enc.encode('v') }));
      await gotEvent;
      expect(replies[0]!.created).toBe(true);
      const ev = replies.at(-1)!.events[0]!;
      expect(ev.type).toBe(Event_EventType.PUT);
      expect(dec.decode(ev.kv!.key)).toBe('proto/w1');
      expect(ev.kv!.version).toBe(1);
    } finally {
      call.cancel();
    }
  });

  it('speaks the JSON gateway: our toJSON in, fromJSON out', async () => {
    await unary<PutRequest, PutResponse>(
      kv,
      'Put',
    )(PutRequest.create({ key: enc.encode('proto/json'), value: enc.encode('bar') }));
    const body = JSON.stringify(RangeRequest.toJSON(RangeRequest.create({ key: enc.encode('proto/json') })));
    const res = await fetch(`${etcd.endpoint}/v3/kv/range`, { method: 'POST', body });
    expect(res.status).toBe(200);
    const json: unknown = await res.json();
    const parsed = RangeResponse.fromJSON(json);
    expect(parsed.count).toBe(1);
    expect(dec.decode(parsed.kvs[0]!.value)).toBe('bar');
    expect(typeof parsed.header!.memberId).toBe('bigint');
    // What etcd prints is exactly what our toJSON prints for the same message.
    expect(RangeResponse.toJSON(parsed)).toEqual(json);
  });
});
