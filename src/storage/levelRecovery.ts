import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CorruptDataError } from './corruptDataError.js';

// Checks of LevelDB's own recovery, for any classic-level database that must
// not lose acknowledged writes silently (the raft log; the MVCC backend has the
// same exposure). Call checkCorruptionMarker(dir) before opening the database
// and checkRecoveryReport(dir, logger) right after its open() resolved.

/**
 * LevelDB replays its write-ahead log (*.log) on open and, as classic-level
 * configures it (no paranoid checks), skips a damaged record silently, with
 * everything after it in the same 32 KiB block or file: acknowledged writes
 * would vanish without an error. It does say so in its info log (`LOG`, begun
 * afresh by every open): "<file>: dropping N bytes; Corruption: ...". A write
 * cut off at the end of the file (a torn tail) is not reported there: LevelDB
 * treats an incomplete last record as the end of the log. So a report means
 * damage before the end, which is corruption (etcd's WAL, too, repairs only an
 * unexpected EOF).
 */
export async function checkRecoveryReport(dir: string, logger: Logger): Promise<void> {
  let text: string;
  try {
    text = await readFile(join(dir, 'LOG'), 'utf8');
  } catch (err) {
    logger.warn({ dir, err }, "cannot read LevelDB's info log to check its recovery");
    return;
  }
  const drops = text.split('\n').filter((line) => /dropping \d+ bytes/.test(line));
  if (drops.length === 0) return;
  const detail =
    'LevelDB found damaged records in its write-ahead log and skipped them, so acknowledged writes may be missing: ' +
    drops.map((line) => line.replace(/^\S+ \S+ \S+ /, '')).join('; ');
  // LevelDB has already folded what it could read into a table and deleted the damaged log: the next
  // open would find nothing wrong. The marker keeps the member from starting on the remains.
  const marker = await open(join(dir, CORRUPTION_MARKER), 'w');
  try {
    await marker.writeFile(`${new Date().toISOString()} ${detail}\n`);
    await marker.sync();
  } finally {
    await marker.close();
  }
  throw new CorruptDataError({ dir, record: 'log', detail });
}

/** Left in the directory when open() found damage that LevelDB itself will not remember. */
export const CORRUPTION_MARKER = 'CORRUPT';

export async function checkCorruptionMarker(dir: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(join(dir, CORRUPTION_MARKER), 'utf8');
  } catch {
    return;
  }
  throw new CorruptDataError({
    dir,
    record: 'log',
    detail: `an earlier start found this store damaged (${CORRUPTION_MARKER} file): ${text.trim()}`,
  });
}
