// docker-compose.yml and the Dockerfile as far as this machine allows (Docker
// cannot run here): the services the compose file describes are started as
// local processes with the same command and environment, loopback ports in
// place of service host names and published ports, a temp dir in place of
// each volume; the cluster must form, serve, pass its own health checks, and
// keep its data across a full stop and start, as `docker compose down` and
// `up` would.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsInstance } from '../helpers/nats.js';
import { freePorts } from '../helpers/ports.js';
import { startProcess, type ManagedProcess } from '../helpers/process.js';
import { httpOk } from '../helpers/probes.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { REPO_ROOT } from '../helpers/xetcd.js';
import { runEtcdctl } from '../helpers/etcdctl.js';

const run = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
}

interface Dockerfile {
  readonly instructions: { op: string; args: string }[];
  readonly env: Record<string, string>;
  readonly entrypoint: string[];
}

function parseDockerfile(text: string): Dockerfile {
  const instructions = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
  const env: Record<string, string> = {};
  for (const i of instructions.filter((i) => i.op === 'ENV')) {
    const [k, v] = i.args.split('=');
    env[k!] = v!;
  }
  const entry = instructions.find((i) => i.op === 'ENTRYPOINT');
  return { instructions, env, entrypoint: entry ? (JSON.parse(entry.args) as string[]) : [] };
}

describe('docker-compose.yml, run as local processes', () => {
  let compose: { services: Record<string, ComposeService> };
  let dockerfile: Dockerfile;
  let dir: TempDir;
  let nats: NatsInstance;
  const members: { name: string; port: number; dataDir: string; env: Record<string, string> }[] = [];
  let running: ManagedProcess[] = [];

  beforeAll(async () => {
    compose = parse(await readFile(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, ComposeService>;
    };
    dockerfile = parseDockerfile(await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
    dir = await makeTempDir('xetcd-compose-');
    // The nats service: its own config file, with a loopback port for 0.0.0.0:4222.
    const natsService = compose.services['nats']!;
    const mount = natsService.volumes!.find((v) => v.includes('nats.conf'))!;
    const [hostConf] = mount.split(':');
    const conf = (await readFile(join(REPO_ROOT, hostConf!), 'utf8')).replace(
      /^listen: .*$/m,
      'listen: 127.0.0.1:-1',
    );
    await writeFile(join(dir.path, 'nats.conf'), conf);
    nats = await startNats(['-c', join(dir.path, 'nats.conf')]);
    const names = Object.keys(compose.services).filter((n) => compose.services[n]!.build !== undefined);
    const ports = await freePorts(names.length);
    names.forEach((name, i) => {
      const service = compose.services[name]!;
      const published = service.ports![0]!.split(':')[0]!;
      const port = ports[i]!;
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...dockerfile.env, ...service.environment })) {
        env[k] = v
          .replace('nats://nats:4222', nats.url)
          .replace('http://0.0.0.0:2379', `http://127.0.0.1:${port}`)
          .replace(`http://127.0.0.1:${published}`, `http://127.0.0.1:${port}`);
      }
      const dataDir = join(dir.path, `${name}-volume`);
      env['XETCD_DATA_DIR'] = dataDir;
      members.push({ name, port, dataDir, env });
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await nats?.stop();
    await dir?.remove();
  });

  async function up(): Promise<void> {
    const [command, ...args] = dockerfile.entrypoint;
    running = await Promise.all(
      members.map((m) =>
        startProcess({
          name: `compose:${m.name}`,
          command: command === 'node' ? process.execPath : command!,
          args,
          cwd: REPO_ROOT,
          env: { ...process.env, ...m.env },
          ready: httpOk(`http://127.0.0.1:${m.port}/health`),
          readyTimeoutMs: 30_000,
        }),
      ),
    );
  }

  async function down(): Promise<void> {
    const stopped = await Promise.all(running.map((p) => p.stop(10_000)));
    for (const s of stopped) expect(s.code).toBe(0);
    running = [];
  }

  it('the Dockerfile copies what exists, installs without dev dependencies, builds once the sources are in, runs unprivileged', () => {
    const copies = dockerfile.instructions.filter((i) => i.op === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const sources = c.args.split(/\s+/).slice(0, -1);
      for (const s of sources) expect(existsSync(join(REPO_ROOT, s)), `COPY ${s}`).toBe(true);
    }
    expect(dockerfile.instructions.some((i) => i.op === 'RUN' && i.args.includes('npm ci --omit=dev'))).toBe(
      true,
    );
    // npm ci's `prepare` would build before the sources are there: the build runs once they are.
    const ops = dockerfile.instructions.map((i) => `${i.op} ${i.args}`);
    expect(ops.find((o) => o.includes('npm ci'))).toContain('--ignore-scripts');
    const build = ops.findIndex((o) => o === 'RUN npm run build');
    expect(build).toBeGreaterThan(ops.findIndex((o) => o.startsWith('COPY src ')));
    expect(build).toBeGreaterThan(ops.findIndex((o) => o.startsWith('COPY web ')));
    expect(build).toBeGreaterThan(ops.findIndex((o) => o.startsWith('COPY scripts/build.ts ')));
    const user = dockerfile.instructions.filter((i) => i.op === 'USER').at(-1);
    expect(user?.args).toBe('node');
    expect(dockerfile.instructions[0]!.args).toMatch(/^node:20/);
    expect(dockerfile.entrypoint).toEqual(['node', 'bin/xetcd.js']);
  });

  it('describes one NATS server and three members configured only through XETCD_* variables', () => {
    expect(compose.services['nats']!.image).toMatch(/^nats:/);
    expect(members.map((m) => m.name)).toEqual(['xetcd1', 'xetcd2', 'xetcd3']);
    for (const name of ['xetcd1', 'xetcd2', 'xetcd3']) {
      const s = compose.services[name]!;
      expect(s.command).toBeUndefined();
      for (const k of Object.keys(s.environment!)) expect(k).toMatch(/^XETCD_/);
      expect(s.volumes![0]).toMatch(/^xetcd\d-data:\/var\/lib\/xetcd$/);
    }
    expect(compose.services['xetcd1']!.ports).toEqual(['2379:2379']);
    expect(compose.services['xetcd2']!.ports).toEqual(['22379:2379']);
    expect(compose.services['xetcd3']!.ports).toEqual(['32379:2379']);
  });

  it('forms a cluster that serves, passes its health checks, and keeps its data across down and up', async () => {
    await up();
    const endpoints = members.map((m) => `127.0.0.1:${m.port}`);
    const put = await runEtcdctl(['put', 'compose-key', 'kept'], { endpoints });
    expect(put.code, put.stderr).toBe(0);
    const list = await runEtcdctl(['member', 'list'], { endpoints });
    expect(list.stdout.trim().split('\n')).toHaveLength(3);
    for (const m of members) {
      const check = compose.services[m.name]!.healthcheck!.test.slice(1);
      const [command, ...args] = check.map((a) => a.replace('127.0.0.1:2379', `127.0.0.1:${m.port}`));
      const result = await run(command === 'node' ? process.execPath : command!, args);
      expect(result.stderr).toBe('');
    }
    await down();
    await up();
    const get = await runEtcdctl(['get', 'compose-key', '--print-value-only'], { endpoints });
    expect(get.stdout.trim()).toBe('kept');
    await down();
  }, 120_000);
});
