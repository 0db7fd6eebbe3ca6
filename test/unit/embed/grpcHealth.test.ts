// grpc.health.v1 as etcd registers it, through a real grpc-js server and client.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcHealth } from '../../../src/embed/grpcHealth.js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Status,
  HealthService,
} from '../../../src/proto/grpc_health_v1.js';

interface HealthClient extends grpc.Client {
  Check(r: HealthCheckRequest, cb: (e: grpc.ServiceError | null, v?: HealthCheckResponse) => void): void;
  Watch(r: HealthCheckRequest): grpc.ClientReadableStream<HealthCheckResponse>;
}
const Client = grpc.makeGenericClientConstructor(HealthService, 'Health') as unknown as new (
  address: string,
  creds: grpc.ChannelCredentials,
) => HealthClient;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

async function serve(): Promise<{ health: GrpcHealth; client: HealthClient }> {
  const server = new grpc.Server();
  const health = new GrpcHealth();
  health.register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanup.push(
    () => client.close(),
    () => server.forceShutdown(),
  );
  return { health, client };
}

const check = (c: HealthClient, service = '') =>
  new Promise<HealthCheckResponse>((resolve, reject) =>
    c.Check(HealthCheckRequest.create({ service }), (e, v) => (e ? reject(e) : resolve(v!))),
  );

describe('grpc.health.v1.Health', () => {
  it('the server ("") is SERVING; an unknown service is NOT_FOUND "unknown service"', async () => {
    const { client } = await serve();
    expect((await check(client)).status).toBe(Status.SERVING);
    await expect(check(client, 'etcdserverpb.KV')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'unknown service',
    });
  });

  it('Watch sends the current status, then changes; shutdown reports NOT_SERVING and ends the stream', async () => {
    const { client, health } = await serve();
    const stream = client.Watch(HealthCheckRequest.create());
    const seen: number[] = [];
    const ended = new Promise<void>((resolve) => stream.on('end', () => resolve()));
    stream.on('data', (m: HealthCheckResponse) => seen.push(m.status));
    stream.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    health.set('', Status.NOT_SERVING);
    health.set('', Status.SERVING);
    await new Promise((r) => setTimeout(r, 100));
    health.shutdown();
    await ended;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING, Status.NOT_SERVING]);
    expect((await check(client)).status).toBe(Status.NOT_SERVING);
  });

  it('Watch of an unknown service says SERVICE_UNKNOWN', async () => {
    const { client } = await serve();
    const stream = client.Watch(HealthCheckRequest.create({ service: 'nope' }));
    stream.on('error', () => undefined);
    const first = await new Promise<HealthCheckResponse>((resolve) => stream.once('data', resolve));
    stream.cancel();
    expect(first.status).toBe(Status.SERVICE_UNKNOWN);
  });
});
