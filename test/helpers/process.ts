// A child process owned by a test: started, awaited until it is ready, its output kept
// for failure messages, and always stopped by its own PID (never by name), SIGTERM first
// and SIGKILL when it does not leave in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { forgetChild, recordChild } from './orphans.js';

/** How much of a process's output is kept: enough to explain a failure, bounded for long runs. */
const OUTPUT_LIMIT = 256 * 1024;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  isRunning(): boolean;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved in arrival order (bounded to the last 256 KiB). */
  output(): string;
  /** The last `lines` lines of the interleaved output, for error messages. */
  tail(lines?: number): string;
  /** Waits until the interleaved output matches `pattern`; rejects with the output tail on timeout or exit. */
  waitForOutput(
    pattern: RegExp,
    timeoutMs?: number,
    from?: 'stdout' | 'stderr' | 'all',
  ): Promise<RegExpMatchArray>;
  /** Writes to the process's stdin. */
  write(text: string): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<ExitStatus>;
  /** Sends one signal by PID (SIGKILL for crash tests, SIGSTOP/SIGCONT for pauses). */
  signal(sig: NodeJS.Signals): void;
}

/** A readiness probe: resolves true once the process is ready; polled until a deadline. */
export type ReadinessProbe = (proc: ManagedProcess) => Promise<boolean>;

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Omitted: the process counts as ready as soon as it is spawned. */
  readonly ready?: ReadinessProbe;
  readonly readyTimeoutMs?: number;
  readonly pollMs?: number;
  /** Text written to stdin right after spawning; stdin is closed after it unless keepStdinOpen. */
  readonly input?: string;
  readonly keepStdinOpen?: boolean;
}

/**
 * Every process any helper started and that has not exited yet. If a test worker dies
 * without running its afterAll, the exit hook below still kills them by PID; if the
 * worker itself is killed, the run's teardown does (orphans.ts).
 */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export class ProcessError extends Error {
  constructor(
    message: string,
    readonly outputTail: string,
  ) {
    super(`${message}\n--- output (tail) ---\n${outputTail}`);
    this.name = 'ProcessError';
  }
}

export async function startProcess(opts: StartOptions): Promise<ManagedProcess> {
  installExitHook();
  const child = spawn(opts.command, [...opts.args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (err) => resolve(err));
  });
  if (spawned !== null || child.pid === undefined) {
    throw new Error(`${opts.name}: cannot start ${opts.command}: ${spawned?.message ?? 'no pid'}`);
  }
  const proc = wrap(opts.name, child, child.pid);
  if (opts.input !== undefined) child.stdin?.write(opts.input);
  if (!opts.keepStdinOpen) child.stdin?.end();
  if (opts.ready) {
    try {
      await waitUntilReady(proc, opts.ready, opts.readyTimeoutMs ?? 20_000, opts.pollMs ?? 100);
    } catch (err) {
      await proc.stop(2_000);
      throw err;
    }
  }
  return proc;
}

async function waitUntilReady(
  proc: ManagedProcess,
  probe: ReadinessProbe,
  timeoutMs: number,
  pollMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    if (!proc.isRunning()) {
      const st = await proc.exited;
      throw new ProcessError(
        `${proc.name} (pid ${proc.pid}) exited before it was ready (code ${st.code}, signal ${st.signal})`,
        proc.tail(60),
      );
    }
    try {
      if (await probe(proc)) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `; last probe error: ${lastError.message}` : '';
      throw new ProcessError(
        `${proc.name} (pid ${proc.pid}) not ready after ${timeoutMs} ms${why}`,
        proc.tail(60),
      );
    }
    await sleep(pollMs);
  }
}

function wrap(name: string, child: ChildProcess, pid: number): ManagedProcess {
  let out = '';
  let err = '';
  let all = '';
  let running = true;
  const listeners = new Set<() => void>();
  const append = (cur: string, chunk: string): string => {
    const next = cur + chunk;
    return next.length > OUTPUT_LIMIT ? next.slice(next.length - OUTPUT_LIMIT) : next;
  };
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out = append(out, chunk);
    all = append(all, chunk);
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (chunk: string) => {
    err = append(err, chunk);
    all = append(all, chunk);
    for (const l of listeners) l();
  });
  // A process that exits while a test still writes to it must not crash the worker.
  child.stdin?.on('error', () => undefined);

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(proc);
      forgetChild(pid);
      for (const l of listeners) l();
      resolve({ code, signal });
    });
  });

  const proc: ManagedProcess = {
    name,
    pid,
    child,
    exited,
    isRunning: () => running,
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    tail: (lines = 40) => all.split('\n').slice(-lines).join('\n'),
    waitForOutput(pattern, timeoutMs = 10_000, from = 'all') {
      const text = (): string => (from === 'stdout' ? out : from === 'stderr' ? err : all);
      return new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = (): void => {
          const m = text().match(pattern);
          if (m) {
            done();
            resolve(m);
          } else if (!running) {
            done();
            reject(new ProcessError(`${name} exited while waiting for ${String(pattern)}`, proc.tail()));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new ProcessError(
              `${name}: no output matching ${String(pattern)} within ${timeoutMs} ms`,
              proc.tail(),
            ),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    write(text) {
      child.stdin?.write(text);
    },
    signal(sig) {
      if (!running) return;
      try {
        process.kill(pid, sig);
      } catch {
        // exited between the check and the kill
      }
    },
    async stop(graceMs = 5_000) {
      if (running) {
        proc.signal('SIGCONT'); // a paused process cannot handle SIGTERM
        proc.signal('SIGTERM');
        const timer = setTimeout(() => proc.signal('SIGKILL'), graceMs);
        const st = await exited;
        clearTimeout(timer);
        return st;
      }
      return exited;
    },
  };
  live.add(proc);
  recordChild(pid);
  return proc;
}

/** Stops every process the helpers started in this worker that is still running. */
export async function stopAllProcesses(graceMs = 5_000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
}
