import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import {
  KVService,
  LeaseService,
  type LeaseGrantRequest,
  LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  type PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
} from '../../../src/proto/etcdserverpb.js';
import { KeyValue } from '../../../src/proto/mvccpb.js';

// The generated service objects go straight into grpc-js, and the npm etcd3
// client (built from its own copy of etcd's protos) talks to them unchanged.
const header = (): ResponseHeader =>
  ResponseHeader.create({
    clusterId: 0xdeadbeefcafef00dn,
    memberId: 0x8000000000000001n,
    revision: 7,
    raftTerm: 2,
  });

describe('generated gRPC service definitions', () => {
  let server: grpc.Server;
  let port = 0;
  const store = new Map<string, { value: Uint8Array; lease: bigint }>();
  const seen: { puts: PutRequest[]; ranges: RangeRequest[] } = { puts: [], ranges: [] };

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(KVService, {
      range: (
        call: grpc.ServerUnaryCall<RangeRequest, RangeResponse>,
        cb: grpc.sendUnaryData<RangeResponse>,
      ) => {
        seen.ranges.push(call.request);
        const key = Buffer.from(call.request.key).toString('latin1');
        const hit = store.get(key);
        const kvs = hit
          ? [
              KeyValue.create({
                key: call.request.key,
                value: hit.value,
                createRevision: 5,
                modRevision: 6,
                version: 2,
                lease: hit.lease,
              }),
            ]
          : [];
        cb(null, RangeResponse.create({ header: header(), kvs, count: kvs.length }));
      },
      put: (call: grpc.ServerUnaryCall<PutRequest, PutResponse>, cb: grpc.sendUnaryData<PutResponse>) => {
        seen.puts.push(call.request);
        store.set(Buffer.from(call.request.key).toString('latin1'), {
          value: call.request.value,
          lease: call.request.lease,
        });
        cb(null, PutResponse.create({ header: header() }));
      },
    });
    server.addService(LeaseService, {
      leaseGrant: (
        call: grpc.ServerUnaryCall<LeaseGrantRequest, LeaseGrantResponse>,
        cb: grpc.sendUnaryData<LeaseGrantResponse>,
      ) => {
        cb(
          null,
          LeaseGrantResponse.create({ header: header(), id: 0x7fffffffffffff01n, ttl: call.request.ttl }),
        );
      },
      leaseKeepAlive: (call: grpc.ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>) => {
        call.on('data', (req: LeaseKeepAliveRequest) => {
          call.write(LeaseKeepAliveResponse.create({ header: header(), id: req.id, ttl: 30 }));
        });
        call.on('end', () => call.end());
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('serves a generic grpc-js client built from the same definitions', async () => {
    const Client = grpc.makeGenericClientConstructor(KVService, 'KV');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const range = client['range'] as (
      req: RangeRequest,
      cb: (err: grpc.ServiceError | null, res?: RangeResponse) => void,
    ) => void;
    try {
      store.set('k', { value: new Uint8Array([1, 2, 3]), lease: 0x7fffffffffffff01n });
      const res = await new Promise<RangeResponse>((resolve, reject) =>
        range.call(client, RangeRequest.create({ key: new Uint8Array(Buffer.from('k')) }), (err, r) =>
          err ? reject(err) : resolve(r!),
        ),
      );
      expect(res.header?.clusterId).toBe(0xdeadbeefcafef00dn);
      expect(res.header?.memberId).toBe(0x8000000000000001n);
      expect(res.kvs[0]?.lease).toBe(0x7fffffffffffff01n);
      expect([...res.kvs[0]!.value]).toEqual([1, 2, 3]);
      expect(res.count).toBe(1);
    } finally {
      client.close();
    }
  });

  it('works with the npm etcd3 client: put, get, lease grant and keep-alive', async () => {
    const etcd = new Etcd3({ hosts: `127.0.0.1:${port}` });
    try {
      await etcd.put('foo').value('bar');
      expect(Buffer.from(seen.puts.at(-1)!.key).toString()).toBe('foo');
      expect(await etcd.get('foo').string()).toBe('bar');
      expect(seen.ranges.at(-1)!.limit).toBe(1);

      const lease = etcd.lease(10, { autoKeepAlive: false });
      expect(await lease.grant()).toBe(String(0x7fffffffffffff01n));
      await lease.put('leased').value('v');
      expect(seen.puts.at(-1)!.lease).toBe(0x7fffffffffffff01n);
      const ka = await lease.keepaliveOnce();
      expect(ka.ID).toBe(String(0x7fffffffffffff01n));
      expect(ka.TTL).toBe('30');
      expect(ka.header.cluster_id).toBe(String(0xdeadbeefcafef00dn));
      lease.release();
    } finally {
      etcd.close();
    }
  });
});
