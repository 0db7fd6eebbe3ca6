// Auth on one member, through what etcdctl cannot send: tokens that are garbage, expired or
// of a deleted user; bad admin input; leases whose keys the user may not touch (revoke, a
// put onto them, TTL with keys: the CVE-2023-32082 fix); nested txns; refused watches; the
// gateway's Authorization header; the lock and election services acting as their caller;
// the Maintenance RPCs etcd 3.4 keeps for root.
// Each refusal gets etcd's error and changes nothing.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import {
  AlarmRequest,
  AuthService,
  AuthRoleGrantPermissionRequest,
  AuthUserAddRequest,
  AuthenticateRequest,
  CompactionRequest,
  DefragmentRequest,
  HashKVRequest,
  HashRequest,
  KVService,
  LeaseService,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  LeaseTimeToLiveRequest,
  MaintenanceService,
  MoveLeaderRequest,
  PutRequest,
  RequestOp,
  TxnRequest,
  type WatchResponse,
} from '../../src/proto/etcdserverpb.js';
import { LockRequest, LockService } from '../../src/proto/v3lockpb.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';

const b = (s: string): Buffer => Buffer.from(s);

/** The gRPC status a call failed with, as [code, details]. */
async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return [e.code, e.details];
  }
  throw new Error('the call succeeded');
}

describe('auth on one member', () => {
  let dir: TempDir;
  let server: ServerInstance;
  const clients: EtcdRpcClient[] = [];
  const client = (token?: string): EtcdRpcClient => {
    const c = new EtcdRpcClient(server.endpoint, token !== undefined ? { token } : {});
    clients.push(c);
    return c;
  };
  const login = async (name: string, password: string): Promise<string> =>
    (await client().call(AuthService.Authenticate, AuthenticateRequest.create({ name, password }))).token;
  const etcdctl = async (...args: string[]): Promise<void> => {
    const r = await runEtcdctl(args, { endpoints: server.endpoint });
    expect(r.code, `etcdctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  };

  beforeAll(async () => {
    dir = await makeTempDir('xetcd-auth-member-');
    server = await startXetcd({
      dataDir: join(dir.path, 'data'),
      args: ['--bcrypt-cost', '4', '--auth-token-ttl', '2'],
    });
    await etcdctl('user', 'add', 'root:rootpw');
    await etcdctl('user', 'add', 'app:apppw');
    await etcdctl('role', 'add', 'app');
    await etcdctl('role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/');
    await etcdctl('role', 'grant-permission', 'app', 'readwrite', '/locks/', '/locks0');
    await etcdctl('user', 'grant-role', 'app', 'app');
    await etcdctl('auth', 'enable');
    await etcdctl('--user', 'root:rootpw', 'put', 'secret', 's');
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    await dir?.remove();
  });

  it('garbage, expired and deleted-user tokens are invalid; no token is no user', async () => {
    expect(await failure(client('garbage').range({ key: b('app/x') }))).toEqual([
      grpc.status.UNAUTHENTICATED,
      'etcdserver: invalid auth token',
    ]);
    expect(await failure(client().range({ key: b('app/x') }))).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'etcdserver: user name is empty',
    ]);
    const app = client(await login('app', 'apppw'));
    await app.put({ key: b('app/x'), value: b('1') });
    // --auth-token-ttl 2: unused for longer than that, the token is gone.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await failure(app.range({ key: b('app/x') }))).toEqual([
      grpc.status.UNAUTHENTICATED,
      'etcdserver: invalid auth token',
    ]);
    await etcdctl('--user', 'root:rootpw', 'user', 'add', 'temp:temppw');
    const temp = client(await login('temp', 'temppw'));
    await etcdctl('--user', 'root:rootpw', 'user', 'delete', 'temp');
    expect(await failure(temp.range({ key: b('app/x') }))).toEqual([
      grpc.status.UNAUTHENTICATED,
      'etcdserver: invalid auth token',
    ]);
  });

  it("bad admin input gets etcd's answer; very long names and passwords work", async () => {
    const root = client(await login('root', 'rootpw'));
    expect(await failure(root.call(AuthService.UserAdd, AuthUserAddRequest.create({ name: '' })))).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'etcdserver: user name is empty',
    ]);
    expect(
      await failure(
        root.call(AuthService.RoleGrantPermission, AuthRoleGrantPermissionRequest.create({ name: 'app' })),
      ),
    ).toEqual([grpc.status.INVALID_ARGUMENT, 'etcdserver: permission not given']);
    const longName = 'u'.repeat(100_000);
    const longPassword = 'p'.repeat(10_000);
    await root.call(
      AuthService.UserAdd,
      AuthUserAddRequest.create({ name: longName, password: longPassword }),
    );
    expect(await login(longName, longPassword)).toMatch(/\.\d+$/);
    expect(await failure(login(longName, 'p'))).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'etcdserver: authentication failed, invalid user ID or password',
    ]);
  });

  it('leases: keys the user may not write cannot be revoked with the lease, joined, or listed', async () => {
    const root = client(await login('root', 'rootpw'));
    const app = client(await login('app', 'apppw'));
    const { id } = await root.call(LeaseService.LeaseGrant, LeaseGrantRequest.create({ ttl: 600 }));
    await root.put({ key: b('secret/leased'), value: b('v'), lease: id });
    expect(await failure(app.call(LeaseService.LeaseRevoke, LeaseRevokeRequest.create({ id })))).toEqual([
      grpc.status.PERMISSION_DENIED,
      'etcdserver: permission denied',
    ]);
    expect(await failure(app.put({ key: b('app/joined'), value: b('v'), lease: id }))).toEqual([
      grpc.status.PERMISSION_DENIED,
      'etcdserver: permission denied',
    ]);
    expect(
      await failure(
        app.call(LeaseService.LeaseTimeToLive, LeaseTimeToLiveRequest.create({ id, keys: true })),
      ),
    ).toEqual([grpc.status.PERMISSION_DENIED, 'etcdserver: permission denied']);
    expect(
      await failure(
        client().call(LeaseService.LeaseTimeToLive, LeaseTimeToLiveRequest.create({ id, keys: true })),
      ),
    ).toEqual([grpc.status.INVALID_ARGUMENT, 'etcdserver: user name is empty']);
    const ttl = await app.call(LeaseService.LeaseTimeToLive, LeaseTimeToLiveRequest.create({ id }));
    expect(ttl.grantedTtl).toBe(600);
    const withKeys = await root.call(
      LeaseService.LeaseTimeToLive,
      LeaseTimeToLiveRequest.create({ id, keys: true }),
    );
    expect(withKeys.keys.map((k) => Buffer.from(k).toString())).toEqual(['secret/leased']);
    expect((await root.range({ key: b('app/joined') })).kvs).toHaveLength(0);
    expect((await root.range({ key: b('secret/leased') })).kvs).toHaveLength(1);
  });

  it('a txn is checked through its nested txns, whichever branch runs', async () => {
    const app = client(await login('app', 'apppw'));
    const nested = (key: string): TxnRequest =>
      TxnRequest.create({
        failure: [
          RequestOp.create({
            requestTxn: TxnRequest.create({ success: [{ requestPut: PutRequest.create({ key: b(key) }) }] }),
          }),
        ],
      });
    expect(await failure(app.txn(nested('secret')))).toEqual([
      grpc.status.PERMISSION_DENIED,
      'etcdserver: permission denied',
    ]);
    const ok = await app.txn(nested('app/nested'));
    expect(ok.succeeded).toBe(true);
  });

  it("a watch on keys the user may not read is refused with etcd's reason", async () => {
    const app = client(await login('app', 'apppw'));
    const w = app.watch();
    const replies: WatchResponse[] = [];
    w.onResponse((r) => replies.push(r));
    w.create({ key: b('secret') });
    w.create({ key: b('app/'), rangeEnd: b('app0') });
    for (let i = 0; i < 50 && replies.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    w.close();
    expect(replies.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason])).toEqual([
      [-1, true, true, 'rpc error: code = PermissionDenied desc = etcdserver: permission denied'],
      [0, true, false, ''],
    ]);
  });

  it('Maintenance: Defragment, Hash, HashKV and Snapshot are root’s; Status, Alarm and MoveLeader anyone’s', async () => {
    const app = client(await login('app', 'apppw'));
    const root = client(await login('root', 'rootpw'));
    const refused = [grpc.status.UNKNOWN, 'auth: permission denied'];
    const m = MaintenanceService;
    expect(await failure(app.call(m.Defragment, DefragmentRequest.create()))).toEqual(refused);
    expect(await failure(app.call(m.Hash, HashRequest.create()))).toEqual(refused);
    expect(await failure(app.call(m.HashKV, HashKVRequest.create()))).toEqual(refused);
    expect(await snapshotStatus(await login('app', 'apppw'))).toEqual(refused);
    expect(await snapshotStatus(await login('root', 'rootpw'))).toEqual([grpc.status.OK, 'OK']);
    expect((await root.call(m.Hash, HashRequest.create())).hash).toBeGreaterThan(0);
    const status = await app.status();
    expect(status.leader).toBe(status.header!.memberId);
    await app.call(m.Alarm, AlarmRequest.create());
    await app.call(m.MoveLeader, MoveLeaderRequest.create({ targetId: status.header!.memberId }));
  });

  it('Compact needs a user, any user (etcd 3.4 lets anyone compact)', async () => {
    const app = client(await login('app', 'apppw'));
    const { header } = await app.put({ key: b('app/compact'), value: b('1') });
    const revision = header!.revision;
    expect(
      await failure(client().call(KVService.Compact, CompactionRequest.create({ revision, physical: true }))),
    ).toEqual([grpc.status.INVALID_ARGUMENT, 'etcdserver: user name is empty']);
    // Nothing was compacted: the revision before it can still be read.
    expect((await app.range({ key: b('app/compact'), revision: revision - 1 })).kvs).toHaveLength(0);
    await app.call(KVService.Compact, CompactionRequest.create({ revision, physical: true }));
    expect(await failure(app.range({ key: b('app/compact'), revision: revision - 1 }))).toEqual([
      grpc.status.OUT_OF_RANGE,
      'etcdserver: mvcc: required revision has been compacted',
    ]);
  });

  /** How a Snapshot stream with this token ends: [code, details]. */
  const snapshotStatus = (token: string): Promise<[number, string]> => {
    const raw = new grpc.Client(server.endpoint.replace(/^http:\/\//, ''), grpc.credentials.createInsecure());
    const meta = new grpc.Metadata();
    meta.set('token', token);
    const s = MaintenanceService.Snapshot;
    const call = raw.makeServerStreamRequest(s.path, s.requestSerialize, s.responseDeserialize, {}, meta);
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    return new Promise((resolve) =>
      call.on('status', (st: grpc.StatusObject) => {
        raw.close();
        resolve([st.code, st.details]);
      }),
    );
  };

  it('the gateway: /v3/auth/authenticate, then the Authorization header', async () => {
    const post = async (path: string, body: unknown, token?: string): Promise<[number, unknown]> => {
      const res = await fetch(`${server.endpoint}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: token !== undefined ? { Authorization: token } : {},
      });
      return [res.status, await res.json()];
    };
    const [status, login] = await post('/v3/auth/authenticate', { name: 'app', password: 'apppw' });
    expect(status).toBe(200);
    const token = (login as { token: string }).token;
    const key = Buffer.from('app/x').toString('base64');
    expect((await post('/v3/kv/range', { key }, token))[0]).toBe(200);
    expect(await post('/v3/kv/range', { key })).toEqual([
      400,
      { error: 'etcdserver: user name is empty', message: 'etcdserver: user name is empty', code: 3 },
    ]);
    expect((await post('/v3/kv/range', { key: Buffer.from('secret').toString('base64') }, token))[0]).toBe(
      403,
    );
    expect((await post('/v3/auth/user/list', {}, token))[0]).toBe(403);
  });

  it('the lock service acts as its caller', async () => {
    const lock = (token?: string): Promise<unknown> =>
      client(token).call(LockService.Lock, LockRequest.create({ name: b('app/lock') }));
    expect(await failure(lock())).toEqual([grpc.status.UNKNOWN, 'etcdserver: user name is empty']);
    const held = (await client(await login('app', 'apppw')).call(
      LockService.Lock,
      LockRequest.create({ name: b('app/lock') }),
    )) as { key: Uint8Array };
    expect(Buffer.from(held.key).toString()).toMatch(/^app\/lock\//);
  });
});
