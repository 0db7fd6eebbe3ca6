// Debian's etcdctl 3.4, run with ETCDCTL_API=3 against given endpoints: one-shot commands
// return {code, stdout, stderr}; long-running ones (watch, elect, lock, lease keep-alive)
// are started as managed processes the test reads from and stops.
import { spawn } from 'node:child_process';
import type { ManagedProcess } from './process.js';
import { startProcess } from './process.js';

export const ETCDCTL_BIN = process.env['ETCDCTL_BIN'] ?? '/usr/bin/etcdctl';

export interface EtcdctlResult {
  /** Exit code; null when the command was killed (timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface EtcdctlOptions {
  readonly endpoints: string | readonly string[];
  /** Written to stdin, then stdin is closed (txn scripts, put values). */
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

function etcdctlEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Only the variables etcdctl needs: a caller's ETCDCTL_* settings must not leak in.
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    ETCDCTL_API: '3',
    ...extra,
  };
}

function endpointsFlag(endpoints: string | readonly string[]): string {
  return `--endpoints=${typeof endpoints === 'string' ? endpoints : endpoints.join(',')}`;
}

export function runEtcdctl(args: readonly string[], opts: EtcdctlOptions): Promise<EtcdctlResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise<EtcdctlResult>((resolve, reject) => {
    const child = spawn(ETCDCTL_BIN, [endpointsFlag(opts.endpoints), ...args], {
      env: etcdctlEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (stdout += c));
    child.stderr.on('data', (c: string) => (stderr += c));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    if (opts.input !== undefined) child.stdin.write(opts.input);
    child.stdin.end();
  });
}

/** Starts a long-running etcdctl command; the caller waits on its output and stops it. */
export function spawnEtcdctl(
  args: readonly string[],
  opts: { endpoints: string | readonly string[]; env?: NodeJS.ProcessEnv; keepStdinOpen?: boolean },
): Promise<ManagedProcess> {
  return startProcess({
    name: `etcdctl ${args.slice(0, 2).join(' ')}`,
    command: ETCDCTL_BIN,
    args: [endpointsFlag(opts.endpoints), ...args],
    env: etcdctlEnv(opts.env),
    keepStdinOpen: opts.keepStdinOpen ?? false,
  });
}
