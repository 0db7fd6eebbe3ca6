// Scenario E49 on a real member: a lease granted below the minimum TTL gets the minimum,
// counts down, expires on the leader with nobody renewing it, and its keys go at one
// revision that a watcher sees as one response; afterwards TimeToLive says -1 and a
// keep-alive says TTL 0. A second lease kept alive over the same time stays.
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdRpcClient, endpointAddress, type WatchResponse } from '../helpers/etcdRpc.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';
import {
  LeaseService,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
} from '../../src/proto/etcdserverpb.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('lease expiry on a real member (heartbeat 100 ms, election 1 s)', () => {
  const scope = new ResourceScope();
  afterAll(() => scope.close());

  it('raises TTL 1 to 2 s, expires it without keep-alives and deletes its keys in one revision', async () => {
    const dir = scope.add(await makeTempDir('xetcd-lease-'), 'data dir', (d) => d.remove());
    const member = await startXetcd({ dataDir: dir.path });
    scope.defer('member', () => member.stop(2_000));
    const kv = new EtcdRpcClient(member.endpoint);
    scope.defer('kv client', () => kv.close());
    const raw = new grpc.Client(endpointAddress(member.endpoint), grpc.credentials.createInsecure());
    scope.defer('lease client', () => raw.close());
    const unary = <Req, Res>(
      m: { path: string; requestSerialize: (r: Req) => Buffer; responseDeserialize: (b: Buffer) => Res },
      req: Req,
    ) =>
      new Promise<Res>((resolve, reject) =>
        raw.makeUnaryRequest<Req, Res>(m.path, m.requestSerialize, m.responseDeserialize, req, (err, res) =>
          err ? reject(err) : resolve(res!),
        ),
      );
    const grant = (ttl: number) =>
      unary<LeaseGrantRequest, LeaseGrantResponse>(LeaseService.LeaseGrant, { id: 0n, ttl });
    const timeToLive = (id: bigint) =>
      unary<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>(LeaseService.LeaseTimeToLive, {
        id,
        keys: true,
      });

    const doomed = await grant(1);
    expect(doomed.ttl).toBe(2);
    const kept = await grant(1);
    await kv.put({ key: Buffer.from('lease/k1'), value: Buffer.from('1'), lease: doomed.id });
    await kv.put({ key: Buffer.from('lease/k2'), value: Buffer.from('2'), lease: doomed.id });
    await kv.put({ key: Buffer.from('lease/kept'), value: Buffer.from('3'), lease: kept.id });
    const before = (await kv.range({ key: Buffer.from('x') })).header!.revision;

    const responses: WatchResponse[] = [];
    const watch = kv.watch();
    scope.defer('watch', () => watch.close());
    watch.onResponse((r) => responses.push(r));
    watch.create({ key: Buffer.from('lease/'), rangeEnd: Buffer.from('lease0') });

    const k = LeaseService.LeaseKeepAlive;
    const keepAlive = raw.makeBidiStreamRequest<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
      k.path,
      k.requestSerialize,
      k.responseDeserialize,
    );
    const replies: LeaseKeepAliveResponse[] = [];
    keepAlive.on('data', (r: LeaseKeepAliveResponse) => replies.push(r));
    keepAlive.on('error', () => undefined);
    scope.defer('keep-alive', () => keepAlive.cancel());

    const first = await timeToLive(doomed.id);
    expect(first.grantedTtl).toBe(2);
    expect(first.keys.map((b) => Buffer.from(b).toString())).toEqual(['lease/k1', 'lease/k2']);
    const started = Date.now();
    let gone = false;
    while (Date.now() - started < 6_000) {
      keepAlive.write({ id: kept.id });
      if ((await timeToLive(doomed.id)).ttl === -1) {
        gone = true;
        break;
      }
      await sleep(200);
    }
    expect(gone).toBe(true);
    // Not before its TTL ran out (2 s from the grant; the first TimeToLive came after it).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);

    const deletes = responses.filter((r) => r.events.length > 0);
    expect(deletes).toHaveLength(1);
    expect(
      deletes[0]!.events.map((e) => [e.type, Buffer.from(e.kv!.key).toString(), e.kv!.modRevision]),
    ).toEqual([
      [1, 'lease/k1', before + 1],
      [1, 'lease/k2', before + 1],
    ]);
    const after = await kv.range({ key: Buffer.from('lease/'), rangeEnd: Buffer.from('lease0') });
    expect(after.kvs.map((x) => Buffer.from(x.key).toString())).toEqual(['lease/kept']);
    expect(after.header!.revision).toBe(before + 1);

    // A keep-alive of the expired lease answers TTL 0; the kept one still has its TTL.
    const seen = replies.length;
    keepAlive.write({ id: doomed.id });
    keepAlive.write({ id: kept.id });
    const deadline = Date.now() + 3_000;
    while (replies.length < seen + 2 && Date.now() < deadline) await sleep(20);
    expect(replies.slice(seen).map((r) => [r.id, r.ttl])).toEqual([
      [doomed.id, 0],
      [kept.id, 2],
    ]);
  }, 60_000);
});
