// Auth on a three-member cluster over a real nats-server: changes made through one member
// hold on every other at once; simple tokens belong to the member that issued them while
// JWTs are good on every member; a member restarted and a member that caught up by
// snapshot enforce the same permissions; a write made with a stale auth revision is
// refused alike by every member, so no member applies it (etcd #11651, #14571); and JWTs
// signed with another key, expired or altered are refused by every member.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService, AuthenticateRequest } from '../../src/proto/etcdserverpb.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';

const b = (s: string): Buffer => Buffer.from(s);
const ROOT = ['--user', 'root:rootpw'];
const APP = ['--user', 'app:apppw'];

async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return [e.code, e.details];
  }
  throw new Error('the call succeeded');
}

async function until(cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('auth on a three-member cluster', () => {
  let cluster: TestCluster;
  const clients: EtcdRpcClient[] = [];
  const client = (m: ClusterMember, token?: string): EtcdRpcClient => {
    const c = new EtcdRpcClient(m.endpoint, token !== undefined ? { token } : {});
    clients.push(c);
    return c;
  };
  const login = async (m: ClusterMember, name: string, password: string): Promise<string> =>
    (await client(m).call(AuthService.Authenticate, AuthenticateRequest.create({ name, password }))).token;
  const etcdctl = async (
    m: ClusterMember,
    ...args: string[]
  ): Promise<{ code: number | null; out: string }> => {
    const r = await runEtcdctl(args, { endpoints: m.endpoint });
    return {
      code: r.code,
      out:
        r.stdout +
        r.stderr
          .split('\n')
          .filter((l) => l.startsWith('Error:'))
          .join('\n'),
    };
  };
  /** What a member answers to the app user's reads (allowed and not) and an anonymous read. */
  const answers = async (m: ClusterMember): Promise<string[]> =>
    Promise.all([
      etcdctl(m, ...APP, 'get', 'app/a', '--print-value-only'),
      etcdctl(m, ...APP, 'get', 'secret'),
      etcdctl(m, ...APP, 'get', 'late/a'),
      etcdctl(m, 'get', 'app/a'),
    ]).then((rs) => rs.map((r) => `${r.code}:${r.out}`));

  beforeAll(async () => {
    cluster = await TestCluster.start({
      size: 3,
      args: ['--bcrypt-cost', '4', '--snapshot-count', '50', '--experimental-snapshot-catchup-entries', '10'],
    });
    const [a] = cluster.members;
    await cluster.waitForLeader();
    for (const args of [
      ['user', 'add', 'root:rootpw'],
      ['user', 'add', 'app:apppw'],
      ['role', 'add', 'app'],
      ['role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/'],
      ['user', 'grant-role', 'app', 'app'],
      ['auth', 'enable'],
      [...ROOT, 'put', 'app/a', '1'],
      [...ROOT, 'put', 'secret', 's'],
    ]) {
      const r = await etcdctl(a!, ...args);
      expect(r.code, `${args.join(' ')}: ${r.out}`).toBe(0);
    }
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  it('a change made on one member holds on the others at once; a simple token is its issuer’s', async () => {
    const [a, b2, c] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    const fromA = await login(a, 'app', 'apppw');
    expect((await client(a, fromA).range({ key: b('app/a') })).kvs).toHaveLength(1);
    expect(await failure(client(b2, fromA).range({ key: b('app/a') }))).toEqual([
      grpc.status.UNAUTHENTICATED,
      'etcdserver: invalid auth token',
    ]);
    const onC = client(c, await login(c, 'app', 'apppw'));
    await onC.put({ key: b('app/from-c'), value: b('1') });
    expect((await etcdctl(a, ...ROOT, 'role', 'revoke-permission', 'app', 'app/', '--prefix')).code).toBe(0);
    // No wait: C's linearizable read sees the revoke A committed.
    expect(await failure(onC.range({ key: b('app/a') }))).toEqual([
      grpc.status.PERMISSION_DENIED,
      'etcdserver: permission denied',
    ]);
    expect(await failure(onC.put({ key: b('app/from-c'), value: b('2') }))).toEqual([
      grpc.status.PERMISSION_DENIED,
      'etcdserver: permission denied',
    ]);
    expect(
      (await etcdctl(b2, ...ROOT, 'role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/')).code,
    ).toBe(0);
    expect(Buffer.from((await onC.range({ key: b('app/from-c') })).kvs[0]!.value).toString()).toBe('1');
  }, 60_000);

  it('a restarted member and one that caught up by snapshot enforce what the others do', async () => {
    const [a, , c] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    const before = await answers(a);
    await c.kill('SIGKILL');
    await c.start();
    expect(await answers(c)).toEqual(before);

    // Down while the cluster goes on past a log compaction, and while auth changes.
    await c.kill('SIGKILL');
    const root = client(a, await login(a, 'root', 'rootpw'));
    for (let i = 0; i < 120; i++) await root.put({ key: b(`app/filler${i % 10}`), value: b(String(i)) });
    for (const args of [
      ['user', 'add', 'late:latepw'],
      ['role', 'add', 'late'],
      ['role', 'grant-permission', 'late', 'read', '--prefix', 'late/'],
      ['user', 'grant-role', 'late', 'late'],
      ['role', 'grant-permission', 'app', 'read', 'late/a'],
    ]) {
      expect((await etcdctl(a, ...ROOT, ...args)).code).toBe(0);
    }
    await root.put({ key: b('late/a'), value: b('L') });
    const now = await answers(a);
    expect(now).not.toEqual(before);
    await c.start();
    await until(async () => /installed a snapshot from the leader/.test(c.output()));
    await until(async () => (await answers(c)).join() === now.join());
    expect((await etcdctl(c, '--user', 'late:latepw', 'get', 'late/a', '--print-value-only')).out).toBe(
      'L\n',
    );
  }, 120_000);

  it('with JWTs a token of one member is good on all, and a write at a stale auth revision is refused by all', async () => {
    const dir = cluster.dir.path;
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = join(dir, 'jwt.pub');
    const priv = join(dir, 'jwt.key');
    await writeFile(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const jwt = ['--auth-token', `jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,ttl=5m`];
    for (const m of cluster.members) await m.kill('SIGTERM');
    await Promise.all(cluster.members.map((m) => m.start({ args: jwt })));
    await cluster.waitForLeader();
    const [a, b2, c] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];

    const token = await login(a, 'app', 'apppw');
    for (const m of [a, b2, c])
      expect((await client(m, token).range({ key: b('app/a') })).kvs).toHaveLength(1);

    // The same claims signed with another key, already expired, or altered after signing:
    // no member takes them, and nothing is written.
    const [head, body, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const sign = (key: KeyObject, exp: number): Promise<string> =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(exp).sign(key);
    const inFiveMinutes = Math.floor(Date.now() / 1000) + 300;
    const forged = {
      'another key': await sign(
        generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
        inFiveMinutes,
      ),
      expired: await sign(privateKey, Math.floor(Date.now() / 1000) - 60),
      altered: [
        head,
        Buffer.from(JSON.stringify({ ...claims, username: 'root' })).toString('base64url'),
        signature,
      ].join('.'),
    };
    for (const m of [a, b2, c])
      for (const [kind, t] of Object.entries(forged))
        expect(
          await failure(client(m, t).put({ key: b('forged'), value: b(kind) })),
          `${kind} on ${m.name}`,
        ).toEqual([grpc.status.UNAUTHENTICATED, 'etcdserver: invalid auth token']);

    // Any auth change moves the revision; the token still names the one it was issued at.
    expect((await etcdctl(b2, ...ROOT, 'role', 'add', 'another')).code).toBe(0);
    for (const m of [a, b2, c]) {
      expect(await failure(client(m, token).put({ key: b(`app/stale-${m.name}`), value: b('x') }))).toEqual([
        grpc.status.INVALID_ARGUMENT,
        'etcdserver: revision of auth store is old',
      ]);
    }
    const fresh = client(c, await login(a, 'app', 'apppw'));
    const marker = await fresh.put({ key: b('app/after-stale'), value: b('y') });
    for (const m of [a, b2, c]) {
      const reader = client(m, await login(m, 'root', 'rootpw'));
      await until(
        async () => (await reader.range({ key: b('app/after-stale'), serializable: true })).kvs.length === 1,
      );
      const stale = await reader.range({
        key: b('app/stale-'),
        rangeEnd: b('app/stale.'),
        serializable: true,
      });
      expect(stale.kvs, `member ${m.name}`).toEqual([]);
      expect((await reader.range({ key: b('forged'), serializable: true })).kvs, `member ${m.name}`).toEqual(
        [],
      );
      expect(stale.header!.revision).toBe(marker.header!.revision);
    }
  }, 120_000);
});
