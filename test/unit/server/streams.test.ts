// The streaming RPCs over real gRPC (loopback) against an in-process EtcdServer: answers
// as etcd gives them, and every stream ending cleanly whichever side goes away first.
import * as grpc from '@grpc/grpc-js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openServer, removeFixtureDirs, text, utf8, type ServerFixture } from './serverFixture.js';
import {
  LeaseService,
  MaintenanceService,
  PutRequest,
  SnapshotRequest,
  WatchCreateRequest,
  WatchRequest,
  WatchService,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type SnapshotResponse,
  type StatusRequest,
  type StatusResponse,
  type WatchResponse,
} from '../../../src/proto/etcdserverpb.js';

let fx: ServerFixture | undefined;
let client: grpc.Client | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await fx?.stop();
  fx = undefined;
});
afterAll(removeFixtureDirs);

async function connect(f: ServerFixture): Promise<grpc.Client> {
  const address = await f.grpc();
  client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  return client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects a stream's messages and how it ended. */
function record<T>(call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>) {
  const messages: T[] = [];
  const waiters: Array<() => void> = [];
  let status: grpc.StatusObject | undefined;
  call.on('data', (m: T) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  call.on('error', () => undefined); // the status below says it all
  const ended = new Promise<grpc.StatusObject>((resolve) =>
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      resolve(s);
    }),
  );
  const next = async (count: number, timeoutMs = 3_000): Promise<T[]> => {
    const deadline = Date.now() + timeoutMs;
    while (messages.length < count) {
      if (Date.now() > deadline) throw new Error(`got ${messages.length} of ${count} messages`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(50)]);
    }
    return messages.slice(0, count);
  };
  return { messages, next, ended, status: () => status };
}

function keepAliveStream(c: grpc.Client) {
  const m = LeaseService.LeaseKeepAlive;
  return c.makeBidiStreamRequest<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
    m.path,
    m.requestSerialize,
    m.responseDeserialize,
  );
}

function watchStream(c: grpc.Client) {
  const m = WatchService.Watch;
  return c.makeBidiStreamRequest<WatchRequest, WatchResponse>(
    m.path,
    m.requestSerialize,
    m.responseDeserialize,
  );
}

describe('LeaseKeepAlive stream', () => {
  it('answers each request in order: TTL for a live lease, TTL 0 for an unknown one; half-close ends it OK', async () => {
    fx = await openServer();
    const c = await connect(fx);
    const { id } = await fx.server.leaseGrant({ id: 0n, ttl: 30 });
    const call = keepAliveStream(c);
    const rec = record(call);
    call.write({ id });
    call.write({ id: 0x5eadn });
    call.write({ id });
    const replies = await rec.next(3);
    expect(replies.map((r) => [r.id, r.ttl])).toEqual([
      [id, 30],
      [0x5eadn, 0],
      [id, 30],
    ]);
    expect(replies[0]!.header).toMatchObject({
      memberId: fx.server.memberId,
      clusterId: fx.server.clusterId,
    });
    call.end();
    expect((await rec.ended).code).toBe(grpc.status.OK);
  });

  it('a client that goes away mid-stream leaves the server able to stop at once', async () => {
    fx = await openServer();
    const c = await connect(fx);
    const { id } = await fx.server.leaseGrant({ id: 0n, ttl: 30 });
    const call = keepAliveStream(c);
    const rec = record(call);
    call.write({ id });
    await rec.next(1);
    call.cancel();
    expect((await rec.ended).code).toBe(grpc.status.CANCELLED);
    const started = Date.now();
    await fx.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('Watch stream', () => {
  it('creates, streams events, cancels; a client half-close keeps the stream, as etcd does', async () => {
    fx = await openServer();
    const c = await connect(fx);
    const call = watchStream(c);
    const rec = record(call);
    call.write(
      WatchRequest.create({
        createRequest: WatchCreateRequest.create({ key: utf8('w'), rangeEnd: utf8('x') }),
      }),
    );
    const [created] = await rec.next(1);
    expect(created).toMatchObject({ created: true, watchId: 0 });
    expect(created!.header?.revision).toBe(1);
    await fx.server.put(PutRequest.create({ key: utf8('w1'), value: utf8('a') }));
    const [, event] = await rec.next(2);
    expect(event!.events.map((e) => text(e.kv?.key))).toEqual(['w1']);
    expect(event!.header?.revision).toBe(2);
    // etcd's recvLoop ends quietly on EOF; the stream lives until the client goes away.
    call.end();
    await fx.server.put(PutRequest.create({ key: utf8('w2'), value: utf8('b') }));
    const [, , later] = await rec.next(3);
    expect(later!.events.map((e) => text(e.kv?.key))).toEqual(['w2']);
    expect(rec.status()).toBeUndefined();
    call.cancel();
    expect((await rec.ended).code).toBe(grpc.status.CANCELLED);
  });

  it('a cancelled stream closes its watchers on the server', async () => {
    fx = await openServer();
    const c = await connect(fx);
    const before = fx.server.watchable.syncedCount + fx.server.watchable.unsyncedCount;
    const call = watchStream(c);
    const rec = record(call);
    for (let i = 0; i < 3; i++)
      call.write(WatchRequest.create({ createRequest: WatchCreateRequest.create({ key: utf8(`k${i}`) }) }));
    await rec.next(3);
    expect(fx.server.watchable.syncedCount + fx.server.watchable.unsyncedCount).toBe(before + 3);
    call.cancel();
    await rec.ended;
    const deadline = Date.now() + 2_000;
    while (
      fx.server.watchable.syncedCount + fx.server.watchable.unsyncedCount > before &&
      Date.now() < deadline
    )
      await sleep(20);
    expect(fx.server.watchable.syncedCount + fx.server.watchable.unsyncedCount).toBe(before);
  });
});

describe('Snapshot stream', () => {
  const tmpFiles = async (dataDir: string) =>
    (await readdir(join(dataDir, 'member'))).filter((f) => f.endsWith('.tmp'));

  it('streams the whole file ending with its checksum, and leaves no temp file', async () => {
    fx = await openServer();
    for (let i = 0; i < 50; i++)
      await fx.server.put(PutRequest.create({ key: utf8(`s${i}`), value: Buffer.alloc(1024, i) }));
    const c = await connect(fx);
    const m = MaintenanceService.Snapshot;
    const call = c.makeServerStreamRequest<SnapshotRequest, SnapshotResponse>(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      {},
    );
    const rec = record(call);
    expect((await rec.ended).code).toBe(grpc.status.OK);
    const total = rec.messages.reduce((n, r) => n + r.blob.length, 0);
    expect(total % 512).toBe(32);
    expect(rec.messages.at(-1)!.remainingBytes).toBe(0);
    expect(await tmpFiles(fx.dataDir)).toEqual([]);
  });

  it('a client that stops reading and goes away does not leave the stream or its temp file behind', async () => {
    fx = await openServer();
    // Far more than the HTTP/2 windows hold, so the server blocks on a full send buffer.
    const value = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 240; i++) await fx.server.put(PutRequest.create({ key: utf8(`big${i}`), value }));
    const c = await connect(fx);
    const m = MaintenanceService.Snapshot;
    const call = c.makeServerStreamRequest<SnapshotRequest, SnapshotResponse>(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      {},
    );
    let received = 0;
    call.on('data', () => {
      received++;
      if (received === 1) call.pause();
    });
    call.on('error', () => undefined);
    const deadline = Date.now() + 5_000;
    while (received === 0 && Date.now() < deadline) await sleep(20);
    await sleep(300);
    // Still streaming: the client has not read, so the snapshot cannot have finished.
    expect(await tmpFiles(fx.dataDir)).toHaveLength(1);
    call.cancel();
    const gone = Date.now() + 3_000;
    while ((await tmpFiles(fx.dataDir)).length > 0 && Date.now() < gone) await sleep(50);
    expect(await tmpFiles(fx.dataDir)).toEqual([]);
  });
});

describe('Status', () => {
  const status = (c: grpc.Client) =>
    new Promise<StatusResponse>((resolve, reject) => {
      const m = MaintenanceService.Status;
      c.makeUnaryRequest<StatusRequest, StatusResponse>(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        {},
        (err, res) => (err ? reject(err) : resolve(res!)),
      );
    });

  it("names this member as leader, and lists alarms in etcd's text form", async () => {
    fx = await openServer();
    const c = await connect(fx);
    await fx.server.alarm({ action: 1 /* ACTIVATE */, memberId: fx.server.memberId, alarm: 1 /* NOSPACE */ });
    const s = await status(c);
    expect(s.leader).toBe(fx.server.memberId);
    expect(s.header?.memberId).toBe(fx.server.memberId);
    expect(s.errors).toEqual([`memberID:${fx.server.memberId.toString(10)} alarm:NOSPACE `]);
  });

  it('says "etcdserver: no leader" among its errors when there is none', async () => {
    fx = await openServer({ members: 3 });
    const c = await connect(fx);
    const s = await status(c);
    expect(s.leader).toBe(0n);
    expect(s.errors).toEqual(['etcdserver: no leader']);
  });
});
