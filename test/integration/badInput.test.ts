// Bad input gets a clear error and changes nothing: malformed protobuf, bad
// JSON on the gateway, a peer that is not speaking HTTP at all, garbage after
// the HTTP/2 preface, an oversized value. After each, the member still serves
// and its revision has not moved.
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdRpcClient, endpointAddress } from '../helpers/etcdRpc.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { KVService, RangeResponse } from '../../src/proto/etcdserverpb.js';

describe('bad input at the client port', () => {
  const scope = new ResourceScope();
  let member: ServerInstance;
  let client: EtcdRpcClient;
  afterAll(() => scope.close());

  beforeAll(async () => {
    const dir = scope.add(await makeTempDir('xetcd-bad-input-'), 'data dir', (d) => d.remove());
    member = await startXetcd({ dataDir: dir.path, args: ['--max-request-bytes', '65536'] });
    scope.defer('member', () => member.stop());
    client = scope.add(new EtcdRpcClient(member.endpoint), 'client', (c) => c.close());
    await client.put({ key: Buffer.from('k'), value: Buffer.from('v') });
  }, 60_000);

  const revision = async (): Promise<number> =>
    (await client.range({ key: Buffer.from('k') })).header!.revision;

  async function stillServing(before: number): Promise<void> {
    expect(await revision()).toBe(before);
    const got = await client.range({ key: Buffer.from('k') });
    expect(Buffer.from(got.kvs[0]!.value).toString()).toBe('v');
  }

  it('a request that is not a valid protobuf message gets an error, and nothing changes', async () => {
    const before = await revision();
    const raw = new grpc.Client(endpointAddress(member.endpoint), grpc.credentials.createInsecure());
    scope.defer('raw client', () => raw.close());
    // Field 1 (key) announced as 200 bytes long, then the message ends.
    const garbage = Buffer.from([0x0a, 0xc8, 0x01, 0x61]);
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      raw.makeUnaryRequest(
        KVService.Put.path,
        () => garbage,
        (b: Buffer) => RangeResponse.decode(b),
        {},
        (e) => (e ? resolve(e) : reject(new Error('a malformed request was accepted'))),
      );
    });
    expect([grpc.status.INTERNAL, grpc.status.INVALID_ARGUMENT]).toContain(err.code);
    expect(err.details.length).toBeGreaterThan(0);
    await stillServing(before);
  });

  it('the gateway answers bad JSON and bad field types with 400 and a message naming the problem', async () => {
    const before = await revision();
    const post = async (body: string) => {
      const res = await fetch(`${member.endpoint}/v3/kv/put`, { method: 'POST', body });
      return { status: res.status, body: (await res.json()) as { error: string; code: number } };
    };
    const notJson = await post('{"key": "aw==",');
    expect(notJson.status).toBe(400);
    expect(notJson.body.code).toBe(grpc.status.INVALID_ARGUMENT);
    const wrongType = await post('{"key": {"nested": true}, "value": "dg=="}');
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatch(/key/);
    await stillServing(before);
  });

  it('a client that speaks neither HTTP/1 nor HTTP/2, or garbage after the HTTP/2 preface, is disconnected', async () => {
    const before = await revision();
    const port = Number(new URL(member.endpoint).port);
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
        s.on('data', () => undefined);
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.setTimeout(5_000, () => s.destroy());
      });
    await send(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0xde, 0xad, 0xbe, 0xef]));
    await send(
      Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.alloc(64, 0xff)]),
    );
    await stillServing(before);
  });

  it('a value over --max-request-bytes is refused with etcd’s error and not written', async () => {
    const before = await revision();
    const err = await client.put({ key: Buffer.from('big'), value: Buffer.alloc(70_000, 1) }).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err).toBeDefined();
    expect(err!.details).toBe('etcdserver: request is too large');
    expect((await client.range({ key: Buffer.from('big') })).kvs).toEqual([]);
    await stillServing(before);
  });
});
