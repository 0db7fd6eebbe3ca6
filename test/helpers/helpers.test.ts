// The process helpers every integration and compat test relies on: readiness, output capture,
// SIGTERM-then-SIGKILL by PID, early-exit and timeout reporting, ports, scopes, nats-server.
import { createServer, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessError, startProcess } from './process.js';
import { logLine, portOpen } from './probes.js';
import { freePort, freePorts, isPortOpen } from './ports.js';
import { ResourceScope } from './scope.js';
import { makeTempDir } from './tempdir.js';
import { startNats } from './nats.js';
import { runEtcdctl } from './etcdctl.js';
import { retryOnPortClash } from './portRetry.js';
import { startEtcd } from './etcd.js';

const node = process.execPath;
const scope = new ResourceScope();
afterAll(() => scope.close());

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startProcess', () => {
  it('waits for a log line, keeps stdout and stderr, and stops with SIGTERM', async () => {
    const p = await startProcess({
      name: 'logger',
      command: node,
      args: [
        '-e',
        'console.error("warming up"); setTimeout(() => console.log("ready now"), 200); setInterval(() => {}, 1000);',
      ],
      ready: logLine(/ready now/),
    });
    scope.add(p, 'logger', (x) => x.stop());
    expect(p.stdout()).toContain('ready now');
    expect(p.stderr()).toContain('warming up');
    expect(p.output()).toMatch(/warming up[^]*ready now/);
    const st = await p.stop();
    expect(st.signal).toBe('SIGTERM');
    expect(p.isRunning()).toBe(false);
    expect(isAlive(p.pid)).toBe(false);
  });

  it('kills with SIGKILL a process that ignores SIGTERM, after the grace period', async () => {
    const p = await startProcess({
      name: 'stubborn',
      command: node,
      args: [
        '-e',
        'process.on("SIGTERM", () => console.log("ignoring")); console.log("up"); setInterval(() => {}, 1000);',
      ],
      ready: logLine(/up/),
    });
    scope.add(p, 'stubborn', (x) => x.stop(100));
    const t0 = Date.now();
    const st = await p.stop(300);
    expect(st.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(p.stdout()).toContain('ignoring');
  });

  it('reports a process that exits before it is ready, with its output', async () => {
    const err = await startProcess({
      name: 'crasher',
      command: node,
      args: ['-e', 'console.error("bad flag --nope"); process.exit(3)'],
      ready: logLine(/never/),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcessError);
    expect((err as ProcessError).message).toMatch(/crasher \(pid \d+\) exited before it was ready \(code 3/);
    expect((err as ProcessError).outputTail).toContain('bad flag --nope');
  });

  it('gives up on readiness after the timeout and stops the process', async () => {
    let pid = 0;
    const err = await startProcess({
      name: 'silent',
      command: node,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      ready: async (p) => {
        pid = p.pid;
        return false;
      },
      readyTimeoutMs: 300,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/silent \(pid \d+\) not ready after 300 ms/);
    expect(isAlive(pid)).toBe(false);
  });

  it('waitForOutput resolves on a match and rejects when the process exits first', async () => {
    const p = await startProcess({
      name: 'echo',
      command: node,
      args: ['-e', 'setTimeout(() => console.log("value=42"), 100)'],
    });
    const m = await p.waitForOutput(/value=(\d+)/);
    expect(m[1]).toBe('42');
    await expect(p.waitForOutput(/never/, 5_000)).rejects.toThrow(/exited while waiting/);
  });

  it('passes stdin input through', async () => {
    const p = await startProcess({
      name: 'cat',
      command: node,
      args: ['-e', 'process.stdin.pipe(process.stdout)'],
      input: 'hello through stdin',
    });
    await p.exited;
    expect(p.stdout()).toBe('hello through stdin');
  });
});

describe('ports, temp dirs, scopes', () => {
  it('freePort gives bindable loopback ports; portOpen sees a listener', async () => {
    const [a, b] = await freePorts(2);
    expect(a).not.toBe(b);
    const port = await freePort();
    expect(await isPortOpen(port)).toBe(false);
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
    expect(await isPortOpen(port)).toBe(true);
    const probe = portOpen(port);
    const fake = await startProcess({ name: 'noop', command: node, args: ['-e', ''] });
    expect(await probe(fake)).toBe(true);
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });

  it('temp dirs are removed; a scope releases in reverse order and reports failures together', async () => {
    const d = await makeTempDir();
    expect(existsSync(d.path)).toBe(true);
    const order: string[] = [];
    const s = new ResourceScope();
    s.defer('dir', () => d.remove());
    s.defer('first', () => void order.push('first'));
    s.defer('broken', () => {
      throw new Error('boom');
    });
    s.defer('last', () => void order.push('last'));
    await expect(s.close()).rejects.toThrow(/broken: boom/);
    expect(order).toEqual(['last', 'first']);
    expect(existsSync(d.path)).toBe(false);
    expect(() => s.defer('late', () => undefined)).toThrow(/closed/);
  });
});

describe('external tools', () => {
  it('startNats reads its port from the ports file and stops by PID', async () => {
    const nats = await startNats();
    scope.add(nats, 'nats', (n) => n.stop());
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    expect(await isPortOpen(nats.port)).toBe(true);
    await nats.stop();
    expect(await isPortOpen(nats.port)).toBe(false);
    expect(isAlive(nats.process.pid)).toBe(false);
  });

  it('runEtcdctl runs with ETCDCTL_API=3 and times out against a silent endpoint', async () => {
    const v = await runEtcdctl(['version'], { endpoints: '127.0.0.1:1' });
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/etcdctl version: 3\.4\.\d+\nAPI version: 3\.4/);
    // A listener that accepts and never answers: the command is killed at the timeout.
    const port = await freePort();
    const sockets = new Set<Socket>();
    const srv = createServer((sock) => void sockets.add(sock));
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
    const r = await runEtcdctl(['get', 'x', '--command-timeout=30s', '--dial-timeout=30s'], {
      endpoints: `127.0.0.1:${port}`,
      timeoutMs: 500,
    });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBeNull();
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});

describe('port clashes', () => {
  it('a start that fails with "address already in use" is retried on new ports, unless the caller chose them', async () => {
    const clash = (): ProcessError =>
      new ProcessError(
        'etcd exited before it was ready',
        'listen tcp 127.0.0.1:1: bind: address already in use',
      );
    let calls = 0;
    const flaky = async (): Promise<string> => {
      calls++;
      if (calls < 3) throw clash();
      return 'started';
    };
    expect(await retryOnPortClash(false, flaky)).toBe('started');
    expect(calls).toBe(3);

    calls = 0;
    await expect(retryOnPortClash(true, flaky)).rejects.toThrow(/address already in use/);
    expect(calls).toBe(1);

    await expect(retryOnPortClash(false, () => Promise.reject(new Error('other failure')))).rejects.toThrow(
      'other failure',
    );
  });

  it('etcd on a taken port fails with the message the retry looks for', async () => {
    const port = await freePort();
    const sockets = new Set<Socket>();
    const srv = createServer((sock) => void sockets.add(sock));
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
    const dir = scope.add(await makeTempDir(), 'etcd dir', (d) => d.remove());
    const err = await startEtcd({ dataDir: dir.path, port, readyTimeoutMs: 10_000 }).then(
      async (s) => {
        await s.stop();
        return new Error('etcd started on a taken port');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProcessError);
    expect((err as ProcessError).outputTail).toMatch(/address already in use/);
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});
