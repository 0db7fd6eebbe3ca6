// What the client-load benchmark needs to measure a server with auth on: the server flags of
// each token mode, the users and roles (a non-root user, so every request is checked against
// a permission range, as an application's would be), and a token for each endpoint (a simple
// token is good only on the member that issued it).
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AuthEnableRequest,
  AuthRoleAddRequest,
  AuthRoleGrantPermissionRequest,
  AuthService,
  AuthUserAddRequest,
  AuthUserGrantRoleRequest,
  AuthenticateRequest,
} from '../src/proto/etcdserverpb.js';
import { Permission_Type } from '../src/proto/authpb.js';
import { EtcdRpcClient } from '../test/helpers/etcdRpc.js';

export const AUTH_MODES = ['off', 'simple', 'jwt'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface Credentials {
  readonly name: string;
  readonly password: string;
}

/** The user the load runs as: read and write on every key, and nothing else. */
export const BENCH_USER: Credentials = { name: 'bench', password: 'bench-password' };
const ROOT: Credentials = { name: 'root', password: 'root-password' };

/** Server flags for a token mode, the same for etcd 3.4 and xetcd; a JWT key pair is written to `dir`. */
export async function authServerArgs(mode: AuthMode, dir: string): Promise<string[]> {
  switch (mode) {
    case 'off':
      return [];
    case 'simple':
      return ['--auth-token', 'simple'];
    case 'jwt': {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pub = join(dir, 'bench-jwt.pub');
      const priv = join(dir, 'bench-jwt.key');
      await writeFile(pub, publicKey.export({ type: 'spki', format: 'pem' }));
      await writeFile(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      return ['--auth-token', `jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,ttl=10m`];
    }
  }
}

/** root (with the root role), the bench user with a read-write role over all keys, then AuthEnable. */
export async function enableAuth(endpoint: string): Promise<void> {
  const c = new EtcdRpcClient(endpoint);
  try {
    const allKeys = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
    await c.call(AuthService.UserAdd, AuthUserAddRequest.create(ROOT));
    await c.call(
      AuthService.UserGrantRole,
      AuthUserGrantRoleRequest.create({ user: ROOT.name, role: 'root' }),
    );
    await c.call(AuthService.RoleAdd, AuthRoleAddRequest.create({ name: BENCH_USER.name }));
    await c.call(
      AuthService.RoleGrantPermission,
      AuthRoleGrantPermissionRequest.create({
        name: BENCH_USER.name,
        perm: { permType: Permission_Type.READWRITE, ...allKeys },
      }),
    );
    await c.call(AuthService.UserAdd, AuthUserAddRequest.create(BENCH_USER));
    await c.call(
      AuthService.UserGrantRole,
      AuthUserGrantRoleRequest.create({ user: BENCH_USER.name, role: BENCH_USER.name }),
    );
    await c.call(AuthService.AuthEnable, AuthEnableRequest.create());
  } finally {
    c.close();
  }
}

/** One token per endpoint, each issued by that endpoint. */
export async function tokensFor(
  endpoints: readonly string[],
  user: Credentials,
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const ep of endpoints) {
    const c = new EtcdRpcClient(ep);
    try {
      tokens.set(ep, (await c.call(AuthService.Authenticate, AuthenticateRequest.create(user))).token);
    } finally {
      c.close();
    }
  }
  return tokens;
}
