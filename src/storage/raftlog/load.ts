import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { syncDir } from '../syncDir.js';
import { Entry, HardState, SnapshotMetadata } from '../../proto/raftpb.js';
import { CorruptDataError } from '../corruptDataError.js';
import { checkCorruptionMarker, checkRecoveryReport } from '../levelRecovery.js';
import { pathExists } from '../pathExists.js';
import { describeError } from './errors.js';
import { RaftLogOutline } from './outline.js';
import {
  RecordError,
  RecordKind,
  boundsKey,
  decodeBounds,
  decodeEntryPayload,
  decodeRecord,
  encodeBounds,
  encodeRecord,
  metaKey,
  parseKey,
  type LogBounds,
} from './records.js';

/** What the store held when it was opened: enough to rebuild the Raft core's MemoryStorage. */
export interface RaftLogState {
  /** The persisted term, vote and commit; all zero on a fresh store. */
  hardState: HardState;
  /** The newest snapshot's metadata (index, term, conf state), if any. */
  snapshotMetadata?: SnapshotMetadata;
  /**
   * Every stored entry, in index order, contiguous. Entries at or below the
   * snapshot index may be among them (compact() may keep some below a local
   * snapshot, as etcd keeps catch-up entries); a MemoryStorage that applies the
   * snapshot first ignores those.
   */
  entries: Entry[];
}

export type RaftLogDb = ClassicLevel<Uint8Array, Uint8Array>;

/** An opened, verified store: its database, the outline its writes are checked against, and what it holds. */
export interface LoadedRaftLog {
  db: RaftLogDb;
  outline: RaftLogOutline;
  state: RaftLogState;
  /** Whether this open created the store. */
  fresh: boolean;
}

const FORMAT = { format: 'xetcd-raft-log', version: 1 } as const;

/**
 * Opens (or creates) the store in `dir` and verifies every record. Throws
 * CorruptDataError when a record fails its checksum, the records do not form
 * a valid log, or LevelDB reported damage of its own.
 */
export async function loadRaftLog(dir: string, logger: Logger): Promise<LoadedRaftLog> {
  const fresh = await createIfMissing(dir);
  await checkCorruptionMarker(dir);
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (err) {
    throw openError(dir, err);
  }
  try {
    await checkRecoveryReport(dir, logger);
    const { outline, state } = checkLog(dir, await readRecords(dir, db));
    return { db, outline, state, fresh };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Creates the store if `dir` holds none, and says whether it did. A new store
 * is built beside its final place and renamed into it once its format marker
 * is durable, so `dir` either does not exist or holds a complete store: a
 * crash during creation leaves only the side directory, which the next open
 * discards. That is what lets loading treat a store without records as
 * damaged rather than new.
 */
async function createIfMissing(dir: string): Promise<boolean> {
  if (await pathExists(join(dir, 'CURRENT'))) return false;
  if (await pathExists(dir)) {
    const files = await readdir(dir);
    if (files.length > 0) {
      throw new Error(
        `${dir} is not empty but holds no raft log store (no LevelDB CURRENT file; found ${files.slice(0, 5).join(', ')}); ` +
          'refusing to overwrite it',
      );
    }
    await rmdir(dir);
  }
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const side = `${dir}.creating`;
  await rm(side, { recursive: true, force: true });
  const db = new ClassicLevel<Uint8Array, Uint8Array>(side, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await db.batch(
      [
        {
          type: 'put',
          key: metaKey,
          value: encodeRecord(RecordKind.Meta, 0, Buffer.from(JSON.stringify(FORMAT))),
        },
        { type: 'put', key: boundsKey, value: encodeBounds(new RaftLogOutline().bounds()) },
      ],
      { sync: true },
    );
  } finally {
    await db.close();
  }
  await rename(side, dir);
  // The rename is durable only once the directory that holds the entry is synced.
  await syncDir(parent);
  return true;
}

/** The records as read, each verified on its own and the entries against their neighbours. */
interface StoredRecords {
  records: number;
  meta: boolean;
  entries: Entry[];
  hardState: HardState | undefined;
  snapshot: SnapshotMetadata | undefined;
  bounds: LogBounds | undefined;
  /** The term of the entry before the first stored entry, as it was when that entry was written. */
  firstPrevTerm: number;
}

function corrupt(
  dir: string,
  record: string,
  index: number | undefined,
  detail: string,
  cause?: unknown,
): CorruptDataError {
  return new CorruptDataError({ dir, record, ...(index === undefined ? {} : { index }), detail, cause });
}

/** Reads every record and verifies each one: checksum, key, kind, index, and the entries' chain. */
async function readRecords(dir: string, db: RaftLogDb): Promise<StoredRecords> {
  const found: StoredRecords = {
    records: 0,
    meta: false,
    entries: [],
    hardState: undefined,
    snapshot: undefined,
    bounds: undefined,
    firstPrevTerm: 0,
  };
  const { entries } = found;
  const take = (key: Uint8Array, value: Uint8Array): void => {
    found.records++;
    const { kind, index } = parseKey(key);
    const payload = decodeRecord(kind, index, value);
    switch (kind) {
      case RecordKind.Entry: {
        const { prevTerm, entry } = decodeEntryPayload(index, payload);
        const e = decodePayload('entry', index, () => Entry.decode(entry));
        if (e.index !== index) throw new RecordError('entry', index, `holds entry ${e.index}`);
        const prev = entries[entries.length - 1];
        if (prev !== undefined) {
          if (prevTerm !== prev.term) {
            throw new RecordError(
              'entry',
              prev.index,
              `holds term ${prev.term}, but entry ${index} was written after a term-${prevTerm} entry there: a newer write of entry ${prev.index} is missing`,
            );
          }
        } else {
          found.firstPrevTerm = prevTerm;
        }
        if (prev !== undefined && index !== prev.index + 1) {
          throw new RecordError(
            'entry',
            prev.index + 1,
            `missing: the log jumps from ${prev.index} to ${index}`,
          );
        }
        if (prev !== undefined && e.term < prev.term) {
          throw new RecordError(
            'entry',
            index,
            `term ${e.term} is below the term ${prev.term} of entry ${prev.index}`,
          );
        }
        entries.push(e);
        break;
      }
      case RecordKind.HardState:
        found.hardState = decodePayload('hardState', undefined, () => HardState.decode(payload));
        break;
      case RecordKind.Snapshot:
        found.snapshot = decodePayload('snapshot', undefined, () => SnapshotMetadata.decode(payload));
        break;
      case RecordKind.Bounds:
        found.bounds = decodeBounds(payload);
        break;
      case RecordKind.Meta: {
        const text = Buffer.from(payload).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new RecordError('meta', undefined, 'format marker is not JSON');
        }
        if (!isFormat(parsed)) throw new RecordError('meta', undefined, `not a raft log store: ${text}`);
        if (parsed.version !== FORMAT.version) {
          throw new Error(
            `${dir} holds a raft log of format version ${parsed.version}; this xetcd reads version ${FORMAT.version}`,
          );
        }
        found.meta = true;
        break;
      }
    }
  };
  // nextv: one native call per thousand records instead of one per record (open time is restart time).
  const iterator = db.iterator();
  try {
    for (;;) {
      const chunk = await iterator.nextv(1024);
      if (chunk.length === 0) break;
      for (const [key, value] of chunk) take(key, value);
    }
  } catch (err) {
    if (err instanceof RecordError) throw corrupt(dir, err.record, err.index, err.message, err);
    // While reading, an I/O error is as fatal as a corruption report: a damaged table block can
    // point outside its file (EINVAL), and either way the records cannot be trusted or read.
    if (isLevelCorruption(err) || levelCode(err) === 'LEVEL_IO_ERROR') {
      throw corrupt(dir, 'leveldb', undefined, `LevelDB cannot read its files: ${describeError(err)}`, err);
    }
    throw err;
  } finally {
    await iterator.close();
  }
  return found;
}

/**
 * Checks the records as a whole: present, reaching back to the snapshot, the
 * hard state within the log, and matching the bounds the last write left.
 */
function checkLog(dir: string, found: StoredRecords): { outline: RaftLogOutline; state: RaftLogState } {
  const { entries, snapshot, hardState, bounds, firstPrevTerm } = found;
  // A store is created with its format marker and bounds (createIfMissing): without them it is damaged.
  if (found.records === 0)
    throw corrupt(dir, 'meta', undefined, 'the database exists but no record could be read');
  if (!found.meta) throw corrupt(dir, 'meta', undefined, 'the format marker is missing');
  if (bounds === undefined) throw corrupt(dir, 'bounds', undefined, 'the bounds record is missing');
  const outline = new RaftLogOutline();
  if (entries.length > 0) outline.offset = entries[0]!.index;
  else if (snapshot !== undefined) outline.offset = snapshot.index + 1;
  outline.terms = entries.map((e) => e.term);
  outline.snapshot = snapshot;
  outline.hardState = hardState;
  if (snapshot === undefined && entries.length > 0 && entries[0]!.index !== 1) {
    throw corrupt(
      dir,
      'entry',
      1,
      `missing: the log starts at ${entries[0]!.index} and there is no snapshot`,
    );
  }
  // The first entry's predecessor is known when it is the snapshot (or nothing, at index 1).
  const first = entries[0];
  const snapIndex = snapshot?.index ?? 0;
  if (first !== undefined && first.index === snapIndex + 1 && firstPrevTerm !== (snapshot?.term ?? 0)) {
    throw corrupt(
      dir,
      'entry',
      first.index,
      `was written after a term-${firstPrevTerm} entry ${snapIndex} but the snapshot there has term ${snapshot?.term ?? 0}`,
    );
  }
  const read = outline.bounds();
  if (read.term !== bounds.term || read.vote !== bounds.vote) {
    throw corrupt(
      dir,
      'hardState',
      undefined,
      `holds term ${read.term} and vote ${read.vote.toString(16)} but the last write left term ${bounds.term} and vote ${bounds.vote.toString(16)}`,
    );
  }
  if (read.last < bounds.last) {
    throw corrupt(
      dir,
      'entry',
      read.last + 1,
      `missing: the last write left entries up to ${bounds.last} but the log ends at ${read.last}`,
    );
  }
  if (
    read.first !== bounds.first ||
    read.last !== bounds.last ||
    read.lastTerm !== bounds.lastTerm ||
    read.snapshotIndex !== bounds.snapshotIndex
  ) {
    throw corrupt(
      dir,
      'bounds',
      undefined,
      `the log read (entries ${read.first}..${read.last}, last term ${read.lastTerm}, snapshot ${read.snapshotIndex}) ` +
        `differs from what the last write left (entries ${bounds.first}..${bounds.last}, last term ${bounds.lastTerm}, snapshot ${bounds.snapshotIndex})`,
    );
  }
  const problem = outline.problem();
  if (problem !== undefined) {
    const record = problem.index === undefined ? 'hardState' : 'entry';
    throw corrupt(dir, record, problem.index, problem.detail);
  }
  const state: RaftLogState = { hardState: hardState ?? HardState.create(), entries };
  if (snapshot !== undefined) state.snapshotMetadata = snapshot;
  return { outline, state };
}

function decodePayload<T>(record: string, index: number | undefined, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new RecordError(record, index, `payload does not decode: ${describeError(err)}`);
  }
}

function isFormat(v: unknown): v is { format: string; version: number } {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as { format?: unknown }).format === FORMAT.format &&
    typeof (v as { version?: unknown }).version === 'number'
  );
}

/** LevelDB reports damage to its own files (table blocks, manifest) as LEVEL_CORRUPTION. */
function isLevelCorruption(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === 'LEVEL_CORRUPTION') return true;
    if (/corrupt/i.test(e.message)) return true;
  }
  return false;
}

function levelCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function openError(dir: string, err: unknown): Error {
  if (isLevelCorruption(err))
    return new CorruptDataError({ dir, record: 'leveldb', detail: describeError(err), cause: err });
  return new Error(`cannot open the raft log in ${dir}: ${describeError(err)}`, { cause: err });
}
