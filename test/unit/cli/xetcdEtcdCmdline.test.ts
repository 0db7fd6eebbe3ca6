// An etcd 3.4 command line, environment and config file, given to `xetcd`
// with only the binary's name changed: it starts, logs as zap does, serves
// /metrics and /health on --listen-metrics-urls, TLS from --auto-tls, V8
// profiles from --enable-pprof, and says once why the flags it cannot use
// change nothing.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/ports.js';
import { startProcess, type ManagedProcess } from '../../helpers/process.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { makeTestPki, serverTlsFlags } from '../../helpers/tls.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'xetcd.js');

let procs: ManagedProcess[] = [];
let dirs: TempDir[] = [];
afterEach(async () => {
  await Promise.all(procs.map((p) => p.stop(5000)));
  await Promise.all(dirs.map((d) => d.remove()));
  procs = [];
  dirs = [];
});

async function tempDir(): Promise<TempDir> {
  const d = await makeTempDir('xetcd-etcd-cmdline-');
  dirs.push(d);
  return d;
}

async function start(args: string[], env: Record<string, string> = {}): Promise<ManagedProcess> {
  const p = await startProcess({
    name: 'xetcd',
    command: process.execPath,
    args: [BIN, ...args],
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  procs.push(p);
  await p.waitForOutput(/"msg":"member is serving"/, 30_000, 'stderr');
  return p;
}

/** GET over https, trusting exactly `ca` (and presenting a client certificate when given). */
function httpsGet(
  url: string,
  ca: string,
  client: { cert?: string; key?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, ...client }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('an etcd 3.4 command line, unchanged', () => {
  it('starts with etcd flags; zap JSON lines; metrics listener; inert flags warn once each', async () => {
    const d = await tempDir();
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    const p = await start(
      [
        '-name', // Go's single dash
        'infra0',
        '--data-dir',
        join(d.path, 'infra0.etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${client}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-cluster',
        `infra0=http://127.0.0.1:${peer}`,
        '--listen-metrics-urls',
        `http://127.0.0.1:${metrics}`,
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
        '--enable-v2=false',
        '--max-wals',
        '3',
        '--backend-batch-limit',
        '100',
        '--metrics',
        'extensive',
      ],
      { ETCD_INITIAL_CLUSTER_TOKEN: 'tok', ETCD_HEARTBEAT_INTERVAL: '100' },
    );
    const lines = p
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) expect(Object.keys(l).slice(0, 2)).toEqual(['level', 'ts']);
    // One naming style for fields, etcd's: lower case words joined by dashes.
    const keys = new Set(lines.flatMap((l) => Object.keys(l)));
    expect([...keys].filter((k) => !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(k))).toEqual([]);
    const warnings = lines.filter((l) => l['level'] === 'warn').map((l) => String(l['msg']));
    expect(warnings.filter((w) => w.startsWith('--max-wals changes nothing'))).toHaveLength(1);
    expect(warnings.filter((w) => w.startsWith('--backend-batch-limit changes nothing'))).toHaveLength(1);
    const started = lines.find((l) => l['msg'] === 'starting an etcd server');
    expect(started).toMatchObject({ name: 'infra0', 'initial-cluster-token': 'tok' });

    const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    expect(text).toContain('etcd_server_has_leader 1');
    expect(text).toMatch(/^# TYPE grpc_server_handling_seconds histogram$/m);
    expect(await (await fetch(`http://127.0.0.1:${metrics}/health`)).json()).toEqual({ health: 'true' });
    // Only /metrics and /health there, as etcd's metrics listener.
    expect((await fetch(`http://127.0.0.1:${metrics}/version`)).status).toBe(404);
  });

  it('--auto-tls serves https with a self-signed certificate kept under the data dir; --enable-pprof profiles', async () => {
    const d = await tempDir();
    const [client, metrics] = [await freePort(), await freePort()];
    const url = `https://127.0.0.1:${client}`;
    const dataDir = join(d.path, 'data');
    const args = [
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--auto-tls',
      '--listen-metrics-urls',
      `https://127.0.0.1:${metrics}`,
      '--enable-pprof',
    ];
    const p = await start(args);
    const certFile = join(dataDir, 'fixtures', 'client', 'cert.pem');
    expect(existsSync(join(dataDir, 'fixtures', 'client', 'key.pem'))).toBe(true);
    const ca = readFileSync(certFile, 'utf8');
    expect(new X509Certificate(ca).checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(await httpsGet(`${url}/health`, ca)).toMatchObject({ status: 200 });
    expect((await httpsGet(`https://127.0.0.1:${metrics}/metrics`, ca)).body).toContain('etcd_server_id');

    const heap = await httpsGet(`${url}/debug/pprof/heap`, ca);
    expect(heap.status).toBe(200);
    expect(JSON.parse(heap.body)).toHaveProperty('head');
    const cpu = await httpsGet(`${url}/debug/pprof/profile?seconds=0.2`, ca);
    expect(cpu.status).toBe(200);
    expect(JSON.parse(cpu.body)).toHaveProperty('nodes');

    // A restart keeps the certificate it made (clients that pinned it still connect).
    await p.stop(5000);
    await start(args);
    expect(readFileSync(certFile, 'utf8')).toBe(ca);
  });

  it('--log-outputs writes to a file; --logger capnslog writes lines for people', async () => {
    const d = await tempDir();
    const port = await freePort();
    const file = join(d.path, 'etcd.log');
    const url = `http://127.0.0.1:${port}`;
    const args = [
      '--data-dir',
      join(d.path, 'data'),
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
    ];
    const p = await startProcess({
      name: 'xetcd',
      command: process.execPath,
      args: [BIN, ...args, '--log-outputs', file, '--logger', 'capnslog'],
      cwd: ROOT,
    });
    procs.push(p);
    for (
      let i = 0;
      i < 150 && !(existsSync(file) && readFileSync(file, 'utf8').includes('member is serving'));
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('member is serving');
    expect(text.split('\n')[0]?.startsWith('{')).toBe(false);
    expect(p.stderr()).not.toContain('member is serving');
  });

  it('an etcd YAML config file with enable-v2: true is refused, once, in plain words', async () => {
    const d = await tempDir();
    const file = join(d.path, 'etcd.conf.yml');
    writeFileSync(file, `name: x\ndata-dir: ${join(d.path, 'never')}\nenable-v2: true\n`);
    const p = await startProcess({
      name: 'xetcd',
      command: process.execPath,
      args: [BIN, '--config-file', file],
      cwd: ROOT,
    });
    procs.push(p);
    const status = await p.exited;
    expect(status.code).toBe(1);
    const refusals = p
      .stderr()
      .split('\n')
      .filter((l) => l.includes('enable-v2'));
    expect(refusals).toEqual([
      'xetcd: --enable-v2 (from the config file): xetcd serves only the v3 API (gRPC and the /v3/ gateway), not v2; leave it false or migrate v2 clients to v3',
    ]);
    expect(existsSync(join(d.path, 'never'))).toBe(false);
  });

  it('--client-cert-allowed-hostname: a client certificate of the right CA must also name that host', async () => {
    const d = await tempDir();
    const pki = await makeTestPki(d.path);
    const client = {
      cert: readFileSync(pki.clientCertFile, 'utf8'),
      key: readFileSync(pki.clientKeyFile, 'utf8'),
    };
    const ca = readFileSync(pki.caFile, 'utf8');
    const run = async (hostname: string): Promise<string> => {
      const port = await freePort();
      const url = `https://127.0.0.1:${port}`;
      const p = await start([
        '--data-dir',
        join(d.path, hostname),
        '--listen-client-urls',
        url,
        '--advertise-client-urls',
        url,
        ...serverTlsFlags({ pki, clientCertAuth: true }),
        '--client-cert-allowed-hostname',
        hostname,
      ]);
      try {
        return String((await httpsGet(`${url}/health`, ca, client)).status);
      } catch (err) {
        return (err as Error).message;
      } finally {
        await p.stop(5000);
      }
    };
    // The test PKI's client certificate has no SAN: Node's check then takes its CN as the name.
    expect(await run('xetcd-test-client')).toBe('200');
    expect(await run('other.example')).toMatch(/socket hang up|ECONNRESET/);
  });
});
