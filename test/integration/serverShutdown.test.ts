// A real member asked to stop (SIGTERM) while clients hold every kind of stream open and
// requests are in flight: it exits 0 within etcd's drain time, the streams end, nothing
// acknowledged is lost and no temp file is left in the data dir.
import * as grpc from '@grpc/grpc-js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdRpcClient, endpointAddress } from '../helpers/etcdRpc.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';
import {
  LeaseService,
  MaintenanceService,
  WatchCreateRequest,
  WatchRequest,
  WatchService,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type SnapshotRequest,
  type SnapshotResponse,
  type WatchResponse,
} from '../../src/proto/etcdserverpb.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a member stopped with SIGTERM while clients stream', () => {
  const scope = new ResourceScope();
  afterAll(() => scope.close());

  it('ends every stream, exits 0 promptly and keeps what it acknowledged', async () => {
    const dir = scope.add(await makeTempDir('xetcd-shutdown-'), 'data dir', (d) => d.remove());
    const member = await startXetcd({ dataDir: dir.path });
    scope.defer('member', () => member.stop(1_000));
    const rpc = new EtcdRpcClient(member.endpoint);
    scope.defer('rpc client', () => rpc.close());
    const raw = new grpc.Client(endpointAddress(member.endpoint), grpc.credentials.createInsecure());
    scope.defer('raw client', () => raw.close());

    // Enough data that a snapshot stream blocks on a client that does not read.
    const big = Buffer.alloc(64 * 1024, 3);
    for (let i = 0; i < 60; i++) await rpc.put({ key: Buffer.from(`big${i}`), value: big });

    const ended: Array<Promise<number>> = [];
    const statusOf = (
      call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>,
    ) => {
      call.on('error', () => undefined);
      call.on('data', () => undefined);
      ended.push(new Promise((resolve) => call.on('status', (s: grpc.StatusObject) => resolve(s.code))));
    };

    const w = WatchService.Watch;
    const watch = raw.makeBidiStreamRequest<WatchRequest, WatchResponse>(
      w.path,
      w.requestSerialize,
      w.responseDeserialize,
    );
    statusOf(watch);
    watch.write(
      WatchRequest.create({
        createRequest: WatchCreateRequest.create({ key: Buffer.from('\0'), rangeEnd: Buffer.from('\0') }),
      }),
    );

    const g = LeaseService.LeaseGrant;
    const lease = await new Promise<LeaseGrantResponse>((resolve, reject) =>
      raw.makeUnaryRequest<LeaseGrantRequest, LeaseGrantResponse>(
        g.path,
        g.requestSerialize,
        g.responseDeserialize,
        { id: 0n, ttl: 30 },
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
    const k = LeaseService.LeaseKeepAlive;
    const keepAlive = raw.makeBidiStreamRequest<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
      k.path,
      k.requestSerialize,
      k.responseDeserialize,
    );
    statusOf(keepAlive);
    keepAlive.write({ id: lease.id });

    const s = MaintenanceService.Snapshot;
    const snapshot = raw.makeServerStreamRequest<SnapshotRequest, SnapshotResponse>(
      s.path,
      s.requestSerialize,
      s.responseDeserialize,
      {},
    );
    snapshot.on('error', () => undefined);
    ended.push(new Promise((resolve) => snapshot.on('status', (st: grpc.StatusObject) => resolve(st.code))));
    snapshot.on('data', () => snapshot.pause());

    // Writes in flight when the signal lands.
    const acked = new Map<string, number>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          const r = await rpc.put({ key: Buffer.from(`w${i}`), value: Buffer.from('v') }, 3_000);
          acked.set(`w${i}`, r.header!.revision);
        } catch {
          return;
        }
      }
    })();
    await sleep(400);

    const signalled = Date.now();
    member.process.signal('SIGTERM');
    const exit = await member.process.exited;
    writing = false;
    const tookMs = Date.now() - signalled;
    expect(exit.code).toBe(0);
    // etcd gives in-flight client calls about 2 s to finish; a stream that never ends would hold it longer.
    expect(tookMs).toBeLessThan(5_000);
    const codes = await Promise.race([Promise.all(ended), sleep(5_000).then(() => 'streams still open')]);
    expect(Array.isArray(codes)).toBe(true);
    await writer;
    raw.close();
    rpc.close();

    const files = await readdir(join(dir.path, 'member'));
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const again = await startXetcd({ dataDir: dir.path });
    scope.defer('member again', () => again.stop(1_000));
    const check = new EtcdRpcClient(again.endpoint);
    scope.defer('check client', () => check.close());
    expect(acked.size).toBeGreaterThan(0);
    for (const [key, rev] of acked) {
      const got = await check.range({ key: Buffer.from(key) });
      expect(got.kvs[0]?.modRevision, `${key} lost`).toBe(rev);
    }
  }, 90_000);
});
