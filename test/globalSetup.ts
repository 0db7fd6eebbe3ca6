// Once per `npm test`: a place where the helpers record the processes they
// start, and at the end, whatever a killed worker left running is stopped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PID_DIR_ENV, killRecorded } from './helpers/orphans.js';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'xetcd-test-pids-'));
  process.env[PID_DIR_ENV] = dir;
  return () => {
    const killed = killRecorded(dir);
    if (killed.length > 0)
      console.warn(
        `test teardown: stopped ${killed.length} processes that outlived their tests (pids ${killed.join(', ')})`,
      );
    rmSync(dir, { recursive: true, force: true });
  };
}
