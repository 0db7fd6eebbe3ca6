// Passwords go nowhere but into bcrypt: a member logging at debug level, streaming its
// actors to an inspector and serving /metrics is given passwords over gRPC and the gateway
// (users added, signed in with right and wrong passwords, a password changed), and none of
// them shows up in its log, its inspection events or its metrics.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import {
  AuthEnableRequest,
  AuthService,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
  AuthUserGrantRoleRequest,
  AuthenticateRequest,
} from '../../src/proto/etcdserverpb.js';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { inspectorServer } from '../helpers/wsInspector.js';
import { startXetcd } from '../helpers/xetcd.js';

/** Random, so that no other text in a log can match one by chance. */
const secret = (): string => `pw-${randomBytes(12).toString('hex')}`;

describe('passwords stay out of logs, inspection and metrics', () => {
  let dir: TempDir;
  let server: ServerInstance;
  let inspector: Awaited<ReturnType<typeof inspectorServer>>;
  const clients: EtcdRpcClient[] = [];
  const client = (token?: string): EtcdRpcClient => {
    const c = new EtcdRpcClient(server.endpoint, token !== undefined ? { token } : {});
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = await makeTempDir('xetcd-auth-secrets-');
    inspector = await inspectorServer();
    server = await startXetcd({
      dataDir: join(dir.path, 'data'),
      args: ['--bcrypt-cost', '4', '--log-level', 'debug'],
      env: { XETCD_INSPECT: inspector.url },
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    await inspector?.close();
    await dir?.remove();
  });

  it('users added, signed in (right and wrong), a password changed: no password anywhere', async () => {
    const rootPw = secret();
    const appPw = secret();
    const wrongPw = secret();
    const newPw = secret();
    const anon = client();
    await anon.call(AuthService.UserAdd, AuthUserAddRequest.create({ name: 'root', password: rootPw }));
    await anon.call(
      AuthService.UserGrantRole,
      AuthUserGrantRoleRequest.create({ user: 'root', role: 'root' }),
    );
    await anon.call(AuthService.UserAdd, AuthUserAddRequest.create({ name: 'app', password: appPw }));
    await anon.call(AuthService.AuthEnable, AuthEnableRequest.create());
    const login = (name: string, password: string): Promise<string> =>
      anon
        .call(AuthService.Authenticate, AuthenticateRequest.create({ name, password }))
        .then((r) => r.token);
    const rootToken = await login('root', rootPw);
    await expect(login('app', wrongPw)).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'etcdserver: authentication failed, invalid user ID or password',
    });
    // The gateway takes passwords in JSON bodies.
    const post = (path: string, body: unknown, token?: string): Promise<Response> =>
      fetch(`${server.endpoint}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: token !== undefined ? { Authorization: token } : {},
      });
    expect((await post('/v3/auth/authenticate', { name: 'app', password: appPw })).status).toBe(200);
    expect((await post('/v3/auth/authenticate', { name: 'app', password: wrongPw })).status).not.toBe(200);
    await client(rootToken).call(
      AuthService.UserChangePassword,
      AuthUserChangePasswordRequest.create({ name: 'app', password: newPw }),
    );
    expect((await post('/v3/auth/user/changepw', { name: 'root', password: newPw }, rootToken)).status).toBe(
      200,
    );
    await login('app', newPw);

    const metrics = await (await fetch(`${server.endpoint}/metrics`)).text();
    // Each place is really being written to, so finding nothing there means something.
    await server.process.waitForOutput(/authenticated a user/, 5_000);
    expect(metrics).toContain('etcd_server_proposals_committed_total');
    expect(inspector.messages.length).toBeGreaterThan(0);
    const places = { log: server.process.output(), inspection: inspector.messages.join('\n'), metrics };
    for (const pw of [rootPw, appPw, wrongPw, newPw])
      for (const [place, text] of Object.entries(places))
        expect(text.includes(pw), `a password in the ${place}`).toBe(false);
  }, 60_000);
});
