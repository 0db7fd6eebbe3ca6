// `node bin/xetcd.js` with the real server layer: etcdctl over plaintext and over
// TLS with client certificates on one port, a clean SIGTERM, and a restart that
// finds its data (the chart's `restarting` path).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/ports.js';
import { startProcess, type ManagedProcess } from '../../helpers/process.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'xetcd.js');
const run = promisify(execFile);

function hasEtcdctl(): boolean {
  try {
    execFileSync('etcdctl', ['version'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    return true;
  } catch {
    return false;
  }
}
const ready = existsSync(join(ROOT, 'src', 'embed', 'serverLayer.ts')) && hasEtcdctl();

async function etcdctl(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run('etcdctl', ['--dial-timeout=3s', '--command-timeout=5s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    return { ok: true, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

let procs: ManagedProcess[] = [];
let dirs: TempDir[] = [];
afterEach(async () => {
  await Promise.all(procs.map((p) => p.stop(5000)));
  await Promise.all(dirs.map((d) => d.remove()));
  procs = [];
  dirs = [];
});

async function startMember(args: string[]): Promise<ManagedProcess> {
  const p = await startProcess({ name: 'xetcd', command: process.execPath, args: [BIN, ...args], cwd: ROOT });
  procs.push(p);
  await p.waitForOutput(/"msg":"member is serving"/, 30_000, 'stderr');
  return p;
}

describe.runIf(ready)('the xetcd command with the real server', () => {
  let tls: TempDir;
  beforeAll(async () => {
    tls = await makeTempDir('xetcd-cli-tls-');
    const sh = (a: string[]) => execFileSync('openssl', a, { cwd: tls.path, stdio: 'ignore' });
    sh([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=ca',
    ]);
    writeFileSync(join(tls.path, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const w of ['server', 'client']) {
      sh([
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${w}.key`,
        '-out',
        `${w}.csr`,
        '-subj',
        `/CN=${w}`,
      ]);
      sh([
        'x509',
        '-req',
        '-in',
        `${w}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${w}.pem`,
        '-days',
        '1',
        '-extfile',
        'san.cnf',
      ]);
    }
    return () => tls.remove();
  });

  it('serves etcdctl, stops on SIGTERM with exit 0, and restarts from its data', async () => {
    const d = await makeTempDir('xetcd-cli-real-');
    dirs.push(d);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = [
      '--data-dir',
      join(d.path, 'm'),
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
    ];
    const first = await startMember(args);
    expect(first.stderr()).toContain('"state":"bootstrapping (new)"');
    expect((await etcdctl([`--endpoints=${url}`, 'put', 'k', 'v1'])).out).toContain('OK');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('etcd_server_has_leader 1');
    expect(metrics).toContain(
      'grpc_server_handled_total{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put",grpc_code="OK"} 1',
    );
    expect(metrics).toMatch(/^etcd_network_client_grpc_received_bytes_total [1-9]/m);
    first.signal('SIGTERM');
    expect((await first.exited).code).toBe(0);

    const second = await startMember(args);
    expect(second.stderr()).toContain('"state":"bootstrapping (restarting)"');
    expect((await etcdctl([`--endpoints=${url}`, 'get', 'k', '--print-value-only'])).out.trim()).toBe('v1');
    second.signal('SIGINT');
    expect((await second.exited).code).toBe(0);
  });

  it('https with --client-cert-auth: etcdctl with certificates works, without is refused; HTTPS on the same port', async () => {
    const d = await makeTempDir('xetcd-cli-real-');
    dirs.push(d);
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const f = (n: string) => join(tls.path, n);
    await startMember([
      '--data-dir',
      join(d.path, 'm'),
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--cert-file',
      f('server.pem'),
      '--key-file',
      f('server.key'),
      '--client-cert-auth',
      '--trusted-ca-file',
      f('ca.pem'),
    ]);
    const certs = [`--cacert=${f('ca.pem')}`, `--cert=${f('client.pem')}`, `--key=${f('client.key')}`];
    expect((await etcdctl([`--endpoints=${url}`, ...certs, 'put', 'tls', 'yes'])).out).toContain('OK');
    expect((await etcdctl([`--endpoints=${url}`, ...certs, 'endpoint', 'health'])).out).toContain(
      'is healthy',
    );
    const anon = await etcdctl([`--endpoints=${url}`, `--cacert=${f('ca.pem')}`, 'get', 'tls']);
    expect(anon.ok).toBe(false);

    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(
          `${url}/health`,
          {
            ca: readFileSync(f('ca.pem')),
            cert: readFileSync(f('client.pem')),
            key: readFileSync(f('client.key')),
            agent: false,
          },
          (res) => {
            let b = '';
            res.on('data', (c: Buffer) => (b += c.toString()));
            res.on('end', () => resolve(b));
          },
        )
        .on('error', reject);
    });
    expect(body).toBe('{"health":"true"}');
  });
});
