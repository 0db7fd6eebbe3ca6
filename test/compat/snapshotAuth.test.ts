// The auth store travels in etcd's snapshot format (its `auth`, `authUsers` and `authRoles`
// buckets): users, roles, permissions and "auth is on" saved from xetcd are what a real
// etcd 3.4 restored from the snapshot enforces, and the other way round. Each restored
// server answers a set of auth checks exactly as the server the snapshot came from did.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { restoreDataDirFromSnapshot } from '../../src/cli/snapshotRestore.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { startEtcd, type ServerInstance } from '../helpers/etcd.js';
import { startXetcd, xetcdServerExists } from '../helpers/xetcd.js';
import { freePorts } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { ResourceScope } from '../helpers/scope.js';

const ROOT = ['--user', 'root:rootpw'];
const APP = ['--user', 'app:apppw'];

async function on(endpoint: string, args: string[]): Promise<string> {
  const r = await runEtcdctl(args, { endpoints: endpoint });
  expect(r.code, `etcdctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function setUp(endpoint: string): Promise<void> {
  for (const args of [
    ['user', 'add', 'root:rootpw'],
    ['user', 'add', 'app:apppw'],
    ['user', 'add', 'nopass', '--no-password'],
    ['role', 'add', 'app'],
    ['role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/'],
    ['role', 'grant-permission', 'app', 'read', 'shared'],
    ['user', 'grant-role', 'app', 'app'],
    ['auth', 'enable'],
    [...ROOT, 'put', 'app/x', '1'],
    [...ROOT, 'put', 'shared', '2'],
    [...ROOT, 'put', 'secret', '3'],
  ])
    await on(endpoint, args);
}

/** What the server answers to requests that depend on every part of the auth store. */
async function authAnswers(endpoint: string): Promise<string[]> {
  const out: string[] = [];
  for (const args of [
    ['get', 'app/x'],
    [...APP, 'get', 'app/', '--prefix'],
    [...APP, 'get', 'shared'],
    [...APP, 'put', 'shared', 'no'],
    [...APP, 'get', 'secret'],
    ['--user', 'app:wrong', 'get', 'app/x'],
    [...ROOT, 'user', 'list'],
    [...ROOT, 'role', 'get', 'app'],
    [...ROOT, 'user', 'get', 'app'],
    [...ROOT, 'get', 'secret'],
  ]) {
    const r = await runEtcdctl(args, { endpoints: endpoint });
    out.push(
      `${args.join(' ')} → ${r.code}\n${r.stdout}${r.stderr
        .split('\n')
        .filter((l) => l.startsWith('Error:'))
        .join('\n')}`,
    );
  }
  return out;
}

async function restoreIntoEtcd(file: string, dir: string, scope: ResourceScope): Promise<ServerInstance> {
  const [peerPort] = await freePorts(1);
  const peer = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(dir, 'etcd-restored');
  const restore = await runEtcdctl(
    ['snapshot', 'restore', file, '--name', 'restored', '--data-dir', dataDir].concat([
      '--initial-cluster',
      `restored=${peer}`,
      '--initial-advertise-peer-urls',
      peer,
    ]),
    { endpoints: 'http://127.0.0.1:1' },
  );
  expect(restore.code, restore.stderr).toBe(0);
  const etcd = await startEtcd({ dataDir, name: 'restored', peerPort: peerPort! });
  scope.defer('stop restored etcd', () => etcd.stop());
  return etcd;
}

describe.skipIf(!xetcdServerExists())('the auth store in etcd snapshots', () => {
  it('xetcd → snapshot → etcd 3.4: the restored etcd enforces the same users, roles and permissions', async () => {
    const scope = new ResourceScope();
    const dir = await makeTempDir('xetcd-snap-auth-');
    scope.defer('remove dir', () => dir.remove());
    try {
      const xetcd = await startXetcd({ dataDir: join(dir.path, 'xetcd') });
      scope.defer('stop xetcd', () => xetcd.stop());
      await setUp(xetcd.endpoint);
      const want = await authAnswers(xetcd.endpoint);
      const file = join(dir.path, 'x.db');
      // Snapshot is for the root role once auth is on.
      const anonymous = await runEtcdctl(['snapshot', 'save', file], { endpoints: xetcd.endpoint });
      expect(anonymous.stderr).toContain('auth: user name is empty');
      await on(xetcd.endpoint, [...ROOT, 'snapshot', 'save', file]);
      const etcd = await restoreIntoEtcd(file, dir.path, scope);
      expect(await authAnswers(etcd.endpoint)).toEqual(want);
      expect(want[2]).toContain('shared\n2');
      expect(want[4]).toContain('Error: etcdserver: permission denied');
    } finally {
      await scope.close();
    }
  });

  it('etcd 3.4 → snapshot → xetcd: the restored xetcd enforces the same users, roles and permissions', async () => {
    const scope = new ResourceScope();
    const dir = await makeTempDir('xetcd-snap-auth-');
    scope.defer('remove dir', () => dir.remove());
    try {
      const etcd = await startEtcd({ dataDir: join(dir.path, 'etcd') });
      scope.defer('stop etcd', () => etcd.stop());
      await setUp(etcd.endpoint);
      const want = await authAnswers(etcd.endpoint);
      const file = join(dir.path, 'e.db');
      await on(etcd.endpoint, [...ROOT, 'snapshot', 'save', file]);
      const dataDir = join(dir.path, 'xetcd-restored');
      await restoreDataDirFromSnapshot({ snapshot: file, dataDir, logger: pino({ level: 'silent' }) });
      const xetcd = await startXetcd({ dataDir, name: 'restored' });
      scope.defer('stop restored xetcd', () => xetcd.stop());
      expect(await authAnswers(xetcd.endpoint)).toEqual(want);
      // The restored member goes on changing the store it was given.
      await on(xetcd.endpoint, [...ROOT, 'user', 'add', 'later:pw']);
      expect(await on(xetcd.endpoint, [...ROOT, 'user', 'list'])).toBe('app\nlater\nnopass\nroot\n');
    } finally {
      await scope.close();
    }
  });
});
