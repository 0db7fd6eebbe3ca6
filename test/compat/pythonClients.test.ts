// Third-party clients besides etcdctl and etcd3: Debian's python3-etcd3 (gRPC) and
// python3-etcd3gw (the JSON gateway) drive the same scenarios (KV, leases with keys, locks,
// watches, auth) against a real etcd 3.4 and the target, over TLS; their transcripts must
// be equal. The scenarios are in python/scenarios.py. Debian's packages install into the
// system Python (/usr/bin/python3), not whatever python3 comes first on PATH.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { selectedTargets, startTarget, targetAvailable, type TargetName } from './targets.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SCENARIOS = fileURLToPath(new URL('./python/scenarios.py', import.meta.url));

async function pythonClientsInstalled(): Promise<boolean> {
  if (!existsSync(PYTHON)) return false;
  try {
    await run(PYTHON, ['-c', 'import etcd3, etcd3gw']);
    return true;
  } catch {
    return false;
  }
}

/** Users and roles as the scenarios expect them, made with etcdctl. */
async function setUpAuth(endpoint: string, pki: TestPki): Promise<void> {
  const steps = [
    ['user', 'add', 'root:rootpw'],
    ['user', 'add', 'app:apppw'],
    ['role', 'add', 'app'],
    ['role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/'],
    ['user', 'grant-role', 'app', 'app'],
    ['auth', 'enable'],
    ['--user', 'root:rootpw', 'put', 'secret', 's'],
  ];
  for (const args of steps) {
    const r = await runEtcdctl(['--cacert', pki.caFile, ...args], { endpoints: endpoint });
    if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
  }
}

async function transcript(name: string, server: ServerInstance, pki: TestPki): Promise<unknown> {
  await setUpAuth(server.endpoint, pki);
  const { hostname, port } = new URL(server.endpoint);
  // requests prefers REQUESTS_CA_BUNDLE (and CURL_CA_BUNDLE) to the client's own CA file: leave them out.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' };
  try {
    const { stdout } = await run(PYTHON, [SCENARIOS, hostname, port, pki.caFile], { timeout: 120_000, env });
    return JSON.parse(stdout);
  } catch (err) {
    throw new Error(`the scenarios against ${name} failed: ${(err as Error).message}`);
  }
}

function describePython(target: TargetName): void {
  describe.skipIf(!targetAvailable(target))(`Python clients: etcd 3.4 vs ${target}`, () => {
    const scope = new ResourceScope();
    let installed = false;
    let pki: TestPki | null = null;
    const servers: Array<[string, ServerInstance]> = [];
    beforeAll(async () => {
      installed = await pythonClientsInstalled();
      if (!installed) return;
      const dirs = await Promise.all([0, 1, 2].map((i) => makeTempDir(`xetcd-py-${i}-`)));
      for (const d of dirs) scope.defer(`remove ${d.path}`, () => d.remove());
      pki = await makeTestPki(dirs[0]!.path);
      const tls = { pki, clientCertAuth: false };
      for (const [name, dir] of [
        ['etcd', dirs[1]!],
        [target, dirs[2]!],
      ] as const) {
        const s = await startTarget(name, dir.path, ['--bcrypt-cost=4'], tls);
        scope.defer(`stop ${name}`, () => s.stop());
        servers.push([name, s]);
      }
    });
    afterAll(() => scope.close());

    it('python3-etcd3 and python3-etcd3gw see the same answers', async (t) => {
      if (!installed) {
        // .ci/run installs them, so in CI a missing client fails instead of skipping unseen.
        if ((process.env['CI'] ?? '') !== '')
          throw new Error(
            'python3-etcd3 and python3-etcd3gw are not installed: .ci/run should have installed them',
          );
        t.skip('python3-etcd3 and python3-etcd3gw are not installed (.ci/run installs them)');
      }
      const [want, got] = await Promise.all(servers.map(([name, s]) => transcript(name, s, pki!)));
      expect(got).toEqual(want);
      // The transcript is not empty talk: the permissions held and were refused where they should be.
      expect(want).toContainEqual([
        'grpc: read outside the role',
        ['PERMISSION_DENIED', 'etcdserver: permission denied'],
      ]);
      expect(want).toContainEqual([
        'gw: garbage token',
        [
          'Etcd3Exception',
          { error: 'etcdserver: invalid auth token', message: 'etcdserver: invalid auth token', code: 16 },
        ],
      ]);
    });
  });
}

for (const t of selectedTargets()) describePython(t);
