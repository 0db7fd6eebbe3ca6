// The run-wide record of started processes: a process a killed worker left
// behind is stopped by the teardown, and nothing else ever is.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PID_DIR_ENV, killRecorded } from './orphans.js';
import { startProcess } from './process.js';
import { makeTempDir, type TempDir } from './tempdir.js';

const runDir = process.env[PID_DIR_ENV];
let dir: TempDir | undefined;
afterEach(async () => {
  if (runDir === undefined) delete process.env[PID_DIR_ENV];
  else process.env[PID_DIR_ENV] = runDir;
  await dir?.remove();
});

describe('the record of started processes', () => {
  it('is set up for every test worker by the global setup', () => {
    expect(runDir).toBeDefined();
    expect(existsSync(runDir!)).toBe(true);
  });

  it('holds a started process while it runs, and the teardown kills it if nobody else did', async () => {
    dir = await makeTempDir('xetcd-orphans-');
    process.env[PID_DIR_ENV] = dir.path;
    const proc = await startProcess({ name: 'sleeper', command: 'sleep', args: ['60'] });
    expect(existsSync(join(dir.path, String(proc.pid)))).toBe(true);
    expect(killRecorded(dir.path)).toEqual([proc.pid]);
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(existsSync(join(dir.path, String(proc.pid)))).toBe(false);
  });

  it('forgets a process once it exits', async () => {
    dir = await makeTempDir('xetcd-orphans-');
    process.env[PID_DIR_ENV] = dir.path;
    const proc = await startProcess({ name: 'quick', command: 'true', args: [] });
    await proc.exited;
    expect(existsSync(join(dir.path, String(proc.pid)))).toBe(false);
    expect(killRecorded(dir.path)).toEqual([]);
  });

  it('never kills a process that only has a recorded PID (the PID was reused)', async () => {
    dir = await makeTempDir('xetcd-orphans-');
    // This very process, recorded with a start time it does not have.
    writeFileSync(join(dir.path, String(process.pid)), '1');
    expect(killRecorded(dir.path)).toEqual([]);
  });
});
