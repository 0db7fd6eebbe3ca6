// The `xetcd` command as a user runs it: real child processes, real signals, exit codes.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { FLAGS, envName } from '../../../src/embed/flags.js';
import { HealthCheckRequest, HealthCheckResponse, HealthService } from '../../../src/proto/grpc_health_v1.js';
import { freePort } from '../../helpers/ports.js';
import { startProcess, type ManagedProcess } from '../../helpers/process.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'xetcd.js');
const FAKE = join(ROOT, 'test', 'unit', 'cli', 'fixtures', 'fakeServerCli.ts');

const procs: ManagedProcess[] = [];
const dirs: TempDir[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop(2000)));
  await Promise.all(dirs.splice(0).map((d) => d.remove()));
});

async function run(args: string[], env: NodeJS.ProcessEnv = {}, script = BIN): Promise<ManagedProcess> {
  const nodeArgs = script === FAKE ? ['--import', 'tsx', FAKE] : [script];
  const p = await startProcess({
    name: 'xetcd-cli',
    command: process.execPath,
    args: [...nodeArgs, ...args],
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  procs.push(p);
  return p;
}

async function exitOf(p: ManagedProcess, timeoutMs = 20_000): Promise<number | null> {
  const timer = new Promise<never>((_, rej) =>
    setTimeout(() => rej(new Error(`no exit:\n${p.tail(30)}`)), timeoutMs),
  );
  const s = await Promise.race([p.exited, timer]);
  return s.code;
}

async function tempDir(): Promise<TempDir> {
  const d = await makeTempDir('xetcd-cli-');
  dirs.push(d);
  return d;
}

function clientFlags(port: number, dataDir: string): string[] {
  const url = `http://127.0.0.1:${port}`;
  return ['--listen-client-urls', url, '--advertise-client-urls', url, '--data-dir', dataDir];
}

async function waitHealthy(port: number, p: ManagedProcess): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (!p.isRunning()) throw new Error(`exited early:\n${p.tail(30)}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never healthy:\n${p.tail(30)}`);
}

describe('xetcd command line', () => {
  it('refuses an unknown flag with one clear line, exit 1', async () => {
    const p = await run(['--bogus-flag']);
    expect(await exitOf(p)).toBe(1);
    expect(p.stderr()).toContain("xetcd: unknown option '--bogus-flag'");
  });

  it('refuses a stray argument, exit 1', async () => {
    const p = await run(['serve']);
    expect(await exitOf(p)).toBe(1);
    expect(p.stderr()).toMatch(/^xetcd: too many arguments/m);
  });

  it('--version prints the versions, exit 0', async () => {
    const p = await run(['--version']);
    expect(await exitOf(p)).toBe(0);
    expect(p.stdout()).toMatch(/^xetcd Version: \d+\.\d+\.\d+\netcd API Version: 3\.4 /);
  });

  it('--help lists every flag with its environment variable, exit 0', async () => {
    const p = await run(['--help']);
    expect(await exitOf(p)).toBe(0);
    const help = p.stdout();
    for (const f of [...FLAGS.filter((x) => x.secret !== true).map((x) => x.name), 'config-file']) {
      expect(help).toContain(`--${f} `);
      expect(help).toContain(`[env ${envName(f)}]`);
    }
    // Secrets are named with their environment variable and are no command-line flag.
    for (const f of FLAGS.filter((x) => x.secret === true).map((x) => x.name)) {
      expect(help).not.toContain(`--${f} `);
      expect(help).toContain(`${envName(f)} (config key ${f})`);
    }
    expect(help).toContain('--version');
  });

  it('refuses a bad configuration before anything starts: one line per problem, exit 1, no data dir', async () => {
    const d = await tempDir();
    const dataDir = join(d.path, 'never');
    const port = await freePort();
    const p = await run([...clientFlags(port, dataDir), '--election-timeout', '50'], {
      XETCD_LOG_LEVEL: 'loudest',
    });
    expect(await exitOf(p)).toBe(1);
    expect(p.stderr()).toContain(
      "xetcd: --log-level (from XETCD_LOG_LEVEL): 'loudest' is not valid; use one of debug, info, warn, error, panic, fatal",
    );
    expect(existsSync(dataDir)).toBe(false);

    const q = await run([...clientFlags(port, dataDir), '--election-timeout', '50']);
    expect(await exitOf(q)).toBe(1);
    expect(q.stderr()).toContain(
      'xetcd: --election-timeout: 50 must be at least 5 × --heartbeat-interval (100), i.e. ≥ 500',
    );
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('--config-file', () => {
  it('reads etcd-style YAML, flags override it, unknown keys are refused', async () => {
    const d = await tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const file = join(d.path, 'xetcd.yml');
    writeFileSync(
      file,
      [
        `name: from-file`,
        `data-dir: ${join(d.path, 'data')}`,
        `listen-client-urls: ${url}`,
        `advertise-client-urls: ${url}`,
        'heartbeat-interval: 50',
        'election-timeout: 500',
      ].join('\n'),
    );
    const p = await run(['--config-file', file, '--log-level', 'debug'], {}, FAKE);
    await waitHealthy(port, p);
    expect(p.stderr()).toMatch(
      /"name":"from-file".*"heartbeat-interval":"50ms".*"msg":"starting an etcd server"/,
    );
    p.signal('SIGTERM');
    expect(await exitOf(p)).toBe(0);

    writeFileSync(file, 'name: x\nlisten-client-url: http://127.0.0.1:1\n');
    const q = await run([], { XETCD_CONFIG_FILE: file });
    expect(await exitOf(q)).toBe(1);
    expect(q.stderr()).toContain(`xetcd: --config-file: unknown key 'listen-client-url' in '${file}'`);
  });
});

describe('xetcd process lifecycle (fake server layer, real client port)', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'serves gRPC and HTTP on one port; %s stops it cleanly, exit 0',
    async (sig) => {
      const d = await tempDir();
      const port = await freePort();
      const p = await run(clientFlags(port, d.path), {}, FAKE);
      await waitHealthy(port, p);
      expect(await (await fetch(`http://127.0.0.1:${port}/fake`)).text()).toBe('fake server');
      expect(await (await fetch(`http://127.0.0.1:${port}/version`)).json()).toEqual({
        etcdserver: '3.4.23',
        etcdcluster: '3.4.0',
      });
      const Client = grpc.makeGenericClientConstructor(HealthService, 'Health');
      const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const status = await new Promise<number>((resolve, reject) =>
        (
          c as unknown as {
            Check(r: HealthCheckRequest, cb: (e: Error | null, v?: HealthCheckResponse) => void): void;
          }
        ).Check(HealthCheckRequest.create(), (e, v) => (e ? reject(e) : resolve(v!.status))),
      );
      c.close();
      expect(status).toBe(1);

      p.signal(sig);
      expect(await exitOf(p)).toBe(0);
      const log = p.stderr();
      expect(log).toContain('fake server stopped');
      expect(log).toMatch(new RegExp(`"signal":"${sig}".*"msg":"received signal; shutting down"`));
      expect(log).toMatch(/"msg":"member stopped"/);
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    },
  );

  it('a second signal while stopping exits at once with 1', async () => {
    const d = await tempDir();
    const port = await freePort();
    const p = await run(clientFlags(port, d.path), { FAKE_STOP_MS: '20000' }, FAKE);
    await waitHealthy(port, p);
    p.signal('SIGTERM');
    await p.waitForOutput(/member stopping/, 5000, 'stderr');
    const started = Date.now();
    p.signal('SIGTERM');
    expect(await exitOf(p, 5000)).toBe(1);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(p.stderr()).toContain('received a second signal; exiting without a graceful stop');
  });

  it.each(['openStorage', 'startRaft', 'publish'])(
    'a failing %s: logged reason, exit 1, nothing left listening',
    async (step) => {
      const d = await tempDir();
      const port = await freePort();
      const p = await run(clientFlags(port, d.path), { FAKE_FAIL_STEP: step }, FAKE);
      expect(await exitOf(p)).toBe(1);
      expect(p.stderr()).toMatch(new RegExp(`"reason":"fake ${step} failure".*"msg":"member failed"`));
      expect(p.stderr()).toContain('fake server stopped');
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    },
  );

  it('an unhandled error in a running member is logged as one fatal line, exit 1', async () => {
    const d = await tempDir();
    const port = await freePort();
    const p = await run(clientFlags(port, d.path), { FAKE_CRASH: '1' }, FAKE);
    expect(await exitOf(p)).toBe(1);
    expect(p.stderr()).toMatch(
      /"level":"fatal".*"error":"fake bug".*"msg":"unhandled promise rejection; exiting"/,
    );
  });

  it('a client port already in use fails the member before its data dir exists, exit 1', async () => {
    const d = await tempDir();
    const port = await freePort();
    const first = await run(clientFlags(port, join(d.path, 'a')), {}, FAKE);
    await waitHealthy(port, first);
    const second = await run(clientFlags(port, join(d.path, 'b')), {}, BIN);
    expect(await exitOf(second)).toBe(1);
    expect(second.stderr()).toMatch(
      /"step":"openingStorage","reason":"cannot listen on http:\/\/127\.0\.0\.1:\d+: listen EADDRINUSE/,
    );
    expect(existsSync(join(d.path, 'b'))).toBe(false);
  });
});
