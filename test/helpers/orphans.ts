// A record, outside any test worker, of the processes the helpers start, so the
// run's teardown (test/globalSetup.ts) can stop those a dead worker left
// behind: a worker's own exit hook (process.ts) does not run when the worker
// is killed. Each live process is a file named for its PID holding its start
// time, so a PID the system has since given to another process is never hit.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The directory the record lives in; unset outside a vitest run (benchmarks use the helpers too). */
export const PID_DIR_ENV = 'XETCD_TEST_PID_DIR';

/** The process's start time in clock ticks since boot (/proc/PID/stat field 22), or undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): starttime is the 20th.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function recordChild(pid: number): void {
  const dir = process.env[PID_DIR_ENV];
  const started = startTime(pid);
  if (dir === undefined || started === undefined) return;
  writeFileSync(join(dir, String(pid)), started);
}

export function forgetChild(pid: number): void {
  const dir = process.env[PID_DIR_ENV];
  if (dir !== undefined) rmSync(join(dir, String(pid)), { force: true });
}

/** SIGKILLs every recorded process still running as the same process; returns their PIDs. */
export function killRecorded(dir: string): number[] {
  const killed: number[] = [];
  for (const name of readdirSync(dir)) {
    const pid = Number(name);
    const recorded = readFileSync(join(dir, name), 'utf8');
    if (startTime(pid) !== recorded) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone between the check and the kill
    }
  }
  return killed;
}
