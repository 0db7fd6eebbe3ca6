// Simple tokens (member-local, sliding TTL) and JWTs (claims username, revision and exp,
// signed with jose): what each accepts and refuses.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwtTokens } from '../../../src/auth/jwtTokens.js';
import { SimpleTokens } from '../../../src/auth/simpleTokens.js';
import { parseTokenOptions } from '../../../src/embed/authTokenFlag.js';

describe('simple tokens', () => {
  it("look like etcd's, live their TTL after the last use, and report the store's current revision", async () => {
    let now = 0;
    const tokens = new SimpleTokens({ ttlMs: 1_000, now: () => now });
    const t = await tokens.assign('alice');
    expect(t).toMatch(/^[a-zA-Z]{16}\.\d+$/);
    expect(await tokens.info(t, 7)).toEqual({ username: 'alice', revision: 7 });
    now = 900;
    expect(await tokens.info(t, 8)).toEqual({ username: 'alice', revision: 8 });
    now = 1_800; // 900 ms after the last use: still good
    expect(await tokens.info(t, 8)).toBeDefined();
    now = 3_000;
    expect(await tokens.info(t, 8)).toBeUndefined();
    tokens.sweep();
    expect(tokens.size).toBe(0);
    expect(await tokens.info('garbage', 8)).toBeUndefined();
    const u = await tokens.assign('bob');
    tokens.forgetAll();
    expect(await tokens.info(u, 8)).toBeUndefined();
    tokens.stop();
  });
});

describe('JWT tokens', () => {
  let dir: string;
  const file = async (name: string, content: string | Buffer): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xetcd-jwt-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const rsa = async (name: string): Promise<{ pub: string; priv: string }> => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return {
      pub: await file(`${name}.pub`, publicKey.export({ type: 'spki', format: 'pem' })),
      // PKCS#1, as `openssl genrsa` writes it and etcd's docs use.
      priv: await file(`${name}.key`, privateKey.export({ type: 'pkcs1', format: 'pem' })),
    };
  };

  it('are verified by any member with the public key; tampered, foreign, expired or garbage ones are not', async () => {
    const k = await rsa('a');
    const other = await rsa('b');
    const signer = new JwtTokens({
      kind: 'jwt',
      signMethod: 'RS256',
      pubKeyFile: k.pub,
      privKeyFile: k.priv,
      ttlMs: 60_000,
    });
    const verifier = new JwtTokens({ kind: 'jwt', signMethod: 'RS256', pubKeyFile: k.pub, ttlMs: 60_000 });
    const stranger = new JwtTokens({
      kind: 'jwt',
      signMethod: 'RS256',
      pubKeyFile: other.pub,
      privKeyFile: other.priv,
      ttlMs: 60_000,
    });
    const token = await signer.assign('alice', 5);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({ username: 'alice', revision: 5 });
    expect(typeof claims['exp']).toBe('number');
    expect(await verifier.info(token)).toEqual({ username: 'alice', revision: 5 });
    // Remembered once verified: the same answer again.
    expect(await verifier.info(token)).toEqual({ username: 'alice', revision: 5 });
    expect(await stranger.info(token)).toBeUndefined();
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, username: 'root' })).toString('base64url')}.${s}`;
    expect(await verifier.info(forged)).toBeUndefined();
    expect(await verifier.info('garbage')).toBeUndefined();
    await expect(verifier.assign('alice', 5)).rejects.toThrow(/no JWT private key/);

    const shortLived = new JwtTokens({
      kind: 'jwt',
      signMethod: 'RS256',
      pubKeyFile: k.pub,
      privKeyFile: k.priv,
      ttlMs: 1,
    });
    const expired = await shortLived.assign('alice', 5);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await verifier.info(expired)).toBeUndefined();
  });

  it('ES256 and HS256 work too; a token signed with another algorithm is refused', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = await file('ec.pub', publicKey.export({ type: 'spki', format: 'pem' }));
    const priv = await file('ec.key', privateKey.export({ type: 'sec1', format: 'pem' }));
    const es = new JwtTokens({
      kind: 'jwt',
      signMethod: 'ES256',
      pubKeyFile: pub,
      privKeyFile: priv,
      ttlMs: 60_000,
    });
    expect(await es.info(await es.assign('bob', 2))).toEqual({ username: 'bob', revision: 2 });
    const secret = await file('hs.secret', randomBytes(32));
    const hs = new JwtTokens({ kind: 'jwt', signMethod: 'HS256', privKeyFile: secret, ttlMs: 60_000 });
    const hsToken = await hs.assign('carol', 3);
    expect(await hs.info(hsToken)).toEqual({ username: 'carol', revision: 3 });
    expect(await es.info(hsToken)).toBeUndefined();
  });

  it('--auth-token parses as etcd writes it, and says what is wrong otherwise', () => {
    expect(parseTokenOptions('simple')).toEqual({ kind: 'simple' });
    expect(parseTokenOptions('jwt,pub-key=/k.pub,priv-key=/k,sign-method=RS256,ttl=10m')).toEqual({
      kind: 'jwt',
      signMethod: 'RS256',
      pubKeyFile: '/k.pub',
      privKeyFile: '/k',
      ttlMs: 600_000,
    });
    expect(parseTokenOptions('jwt,pub-key=/k.pub,sign-method=RS256')).toMatchObject({ ttlMs: 300_000 });
    expect(parseTokenOptions('opaque')).toMatch(/not a token type/);
    expect(parseTokenOptions('jwt,sign-method=RS256')).toMatch(/needs pub-key/);
    expect(parseTokenOptions('jwt,sign-method=XX1')).toMatch(/sign-method/);
    expect(parseTokenOptions('jwt,sign-method=HS256')).toMatch(/needs priv-key/);
    expect(parseTokenOptions('jwt,pub-key=a,pub-key=b,sign-method=RS256')).toMatch(/twice/);
    expect(parseTokenOptions('jwt,pub-key=a,sign-method=RS256,ttl=soon')).toMatch(/not a positive duration/);
  });
});
