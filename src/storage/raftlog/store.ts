import { access, mkdir, open as openFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { Entry, HardState, SnapshotMetadata } from '../../proto/raftpb.js';
import type { Snapshot } from '../../proto/raftpb.js';
import { CorruptDataError } from '../corruptDataError.js';
import { checkCorruptionMarker, checkRecoveryReport } from '../levelRecovery.js';
import { RaftLogOutline, RaftLogWriteError } from './outline.js';
import {
  RecordError,
  RecordKind,
  boundsKey,
  decodeBounds,
  decodeEntryPayload,
  decodeRecord,
  encodeBounds,
  encodeEntryPayload,
  encodeRecord,
  entryKey,
  hardStateKey,
  metaKey,
  parseKey,
  snapshotKey,
} from './records.js';

export { RaftLogWriteError } from './outline.js';

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

/** The durable part of a Ready. A Ready itself fits this type. */
export interface RaftLogWrite {
  hardState?: HardState;
  entries: readonly Entry[];
  /** A snapshot received from the leader: it replaces the log (only its metadata is stored here). */
  snapshot?: Snapshot;
}

export interface RaftLogStoreOptions {
  logger: Logger;
  /**
   * Observes the seconds each synced batch took (write + fsync): hand it
   * etcd_disk_wal_fsync_duration_seconds (src/api/metrics.ts), the metric etcd
   * operators watch for a disk too slow for Raft.
   */
  fsyncDuration?: { observe(seconds: number): void };
}

/** etcd warns when one WAL sync takes longer than this (wal.warnSyncDuration). */
const WARN_SYNC_SECONDS = 1;

/** The store failed a write earlier; nothing after that write can be made durable in order. */
export class RaftLogFailedError extends Error {
  constructor(cause: unknown) {
    super(`raft log store failed and refuses further writes: ${describe(cause)}`, { cause });
    this.name = 'RaftLogFailedError';
  }
}

/** The store was closed. */
export class RaftLogClosedError extends Error {
  constructor() {
    super('raft log store is closed');
    this.name = 'RaftLogClosedError';
  }
}

type Op = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

interface PendingWrite {
  ops: Op[];
  sync: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

const FORMAT = { format: 'xetcd-raft-log', version: 1 } as const;

/**
 * The durable Raft log: entries, hard state and snapshot metadata in a
 * classic-level (LevelDB) database, doing for xetcd what etcd's WAL does.
 *
 * The design splits reading from writing. Raft reads its log synchronously
 * from the server's MemoryStorage (src/raft/memoryStorage.ts), as etcd's raft
 * does; this store only makes that log durable and hands it back on open
 * (`RaftLogStore.open` returns the state; `restoreMemoryStorage` fills a
 * MemoryStorage from it). Keeping a second in-memory copy of entries here
 * would only be a second source of truth to get out of step.
 *
 * Writes:
 * - every save/saveSnapshot/compact is one atomic LevelDB batch; the promise
 *   resolves only once the batch is written (and fsynced when `sync`);
 * - writes are checked when they are issued, against the state all earlier
 *   writes will leave (see RaftLogOutline), and refused with RaftLogWriteError
 *   if they would leave a gap, regress a term, change a vote or commit past the
 *   log;
 * - writes land in the order they were issued. LevelDB may run two batches
 *   issued back to back on different threads, so the store never has two in
 *   flight: writes issued while one is in flight wait in a queue and then go
 *   down together as one batch (group commit), in issue order, so a newer write
 *   for the same indexes always wins (testing-scenarios 27);
 * - if a write fails, every queued and later write fails too: the disk no
 *   longer matches what the later writes were checked against.
 */
export class RaftLogStore {
  private readonly queue: PendingWrite[] = [];
  private draining: Promise<void> | undefined;
  private failure: unknown = undefined;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly db: ClassicLevel<Uint8Array, Uint8Array>,
    private readonly outline: RaftLogOutline,
    private readonly logger: Logger,
    private readonly fsyncDuration: { observe(seconds: number): void } | undefined,
  ) {}

  /**
   * Opens (or creates) the store in `dir`, verifies every record, and returns
   * it with the state it holds. Throws CorruptDataError when a record fails its
   * checksum or the records do not form a valid log.
   */
  static async open(
    dir: string,
    opts: RaftLogStoreOptions,
  ): Promise<{ store: RaftLogStore; state: RaftLogState }> {
    const started = performance.now();
    const logger = opts.logger.child({ component: 'raft-log' });
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
      const { outline, state } = await load(dir, db);
      const store = new RaftLogStore(dir, db, outline, logger, opts.fsyncDuration);
      logger.info(
        {
          dir,
          fresh,
          firstIndex: state.entries[0]?.index ?? outline.snapshotIndex + 1,
          lastIndex: outline.lastIndex,
          entries: state.entries.length,
          snapshotIndex: outline.snapshotIndex,
          term: state.hardState.term,
          vote: state.hardState.vote.toString(16),
          commit: state.hardState.commit,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        },
        'raft log opened',
      );
      return { store, state };
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** The first index of the log: one past the snapshot. */
  get firstIndex(): number {
    return this.outline.snapshotIndex + 1;
  }

  /** The last index of the log once every issued write has landed. */
  get lastIndex(): number {
    return this.outline.lastIndex;
  }

  /** The hard state once every issued write has landed (zero if none was ever written). */
  get hardState(): HardState {
    return this.outline.hardState ?? HardState.create();
  }

  /** The newest snapshot's metadata once every issued write has landed. */
  get snapshotMetadata(): SnapshotMetadata | undefined {
    return this.outline.snapshot;
  }

  /**
   * Makes the durable part of a Ready durable: appends the entries (replacing
   * any stored suffix from the first of them), stores the hard state, and
   * installs the snapshot's metadata (a snapshot from the leader replaces the
   * whole log, so every stored entry goes). One atomic batch, fsynced when
   * `sync` (a Ready's mustSync) and always when it holds entries or a
   * snapshot. Resolves once written.
   */
  save(write: RaftLogWrite, opts: { sync: boolean } = { sync: true }): Promise<void> {
    const usable = this.usable();
    if (usable) return Promise.reject(usable);
    let checked: { hardState?: HardState; entries: readonly Entry[]; snapshot?: SnapshotMetadata };
    try {
      const meta = write.snapshot === undefined ? undefined : snapshotMetadataOf(write.snapshot);
      checked = { hardState: write.hardState, entries: write.entries, snapshot: meta };
      this.outline.checkWrite(checked);
    } catch (err) {
      return Promise.reject(err);
    }
    const meta = checked.snapshot;
    const ops: Op[] = [];
    const before = { offset: this.outline.offset, lastEntry: this.outline.lastEntryIndex };
    if (meta !== undefined) {
      for (let i = before.offset; i <= before.lastEntry; i++) ops.push({ type: 'del', key: entryKey(i) });
      ops.push({ type: 'put', key: snapshotKey, value: encodeSnapshotMetadata(meta) });
    } else if (write.entries.length > 0) {
      // The suffix beyond the new entries goes; the new entries overwrite the rest in place.
      const from = write.entries[write.entries.length - 1]!.index + 1;
      for (let i = from; i <= before.lastEntry; i++) ops.push({ type: 'del', key: entryKey(i) });
    }
    const first = write.entries[0]?.index ?? 0;
    let prevTerm = meta !== undefined ? meta.term : (this.outline.term(first - 1) ?? 0);
    for (const e of write.entries) {
      ops.push({
        type: 'put',
        key: entryKey(e.index),
        value: encodeRecord(RecordKind.Entry, e.index, encodeEntryPayload(prevTerm, Entry.encode(e))),
      });
      prevTerm = e.term;
    }
    if (write.hardState !== undefined) {
      ops.push({
        type: 'put',
        key: hardStateKey,
        value: encodeRecord(RecordKind.HardState, 0, HardState.encode(write.hardState)),
      });
    }
    if (ops.length === 0) return this.enqueue([], false);
    this.outline.applyWrite(checked);
    ops.push(this.boundsOp());
    // Entries and snapshots are always synced, whatever the caller says: an unsynced batch can be
    // lost on power failure while a later synced one (in LevelDB's next log file) survives, and a
    // hole in the log is corruption. Only a hard-state-only write may skip the sync (Raft's mustSync).
    const sync = opts.sync || write.entries.length > 0 || meta !== undefined;
    return this.enqueue(ops, sync);
  }

  /**
   * Records a snapshot the server took of its own state machine at
   * `metadata.index` (etcd's SaveSnap for a local snapshot). Unlike a snapshot
   * in a Ready, it keeps the entries: the index must be committed and the term
   * must match the stored entry there. Replay after a restart starts here.
   *
   * A new member persists its initial configuration the same way, before its
   * first Ready: `saveSnapshot({ index: 0, term: 0, confState })`, the
   * metadata RaftNode.bootstrap put into its MemoryStorage.
   */
  saveSnapshot(metadata: SnapshotMetadata): Promise<void> {
    const usable = this.usable();
    if (usable) return Promise.reject(usable);
    const o = this.outline;
    const commit = o.hardState?.commit ?? 0;
    if (metadata.index < o.snapshotIndex) {
      return Promise.reject(
        new RaftLogWriteError(
          `snapshot ${metadata.index} is older than the stored snapshot ${o.snapshotIndex}`,
        ),
      );
    }
    if (metadata.index > commit) {
      return Promise.reject(
        new RaftLogWriteError(`snapshot ${metadata.index} is beyond the commit index ${commit}`),
      );
    }
    const term = o.term(metadata.index);
    if (term !== metadata.term) {
      return Promise.reject(
        new RaftLogWriteError(
          `snapshot ${metadata.index} has term ${metadata.term} but the log has ${term ?? 'no entry'} there`,
        ),
      );
    }
    o.snapshot = metadata;
    return this.enqueue(
      [{ type: 'put', key: snapshotKey, value: encodeSnapshotMetadata(metadata) }, this.boundsOp()],
      true,
    );
  }

  /**
   * Drops the entries at and below `index` (etcd's MemoryStorage.Compact, made
   * durable). The index may not pass the stored snapshot: what is dropped must
   * be covered by a snapshot, or a restart could not rebuild the log.
   */
  compact(index: number): Promise<void> {
    const usable = this.usable();
    if (usable) return Promise.reject(usable);
    const o = this.outline;
    if (index > o.snapshotIndex) {
      return Promise.reject(
        new RaftLogWriteError(`cannot compact to ${index}: the newest snapshot is at ${o.snapshotIndex}`),
      );
    }
    const ops: Op[] = [];
    for (let i = o.offset; i <= Math.min(index, o.lastEntryIndex); i++)
      ops.push({ type: 'del', key: entryKey(i) });
    o.compact(index);
    ops.push(this.boundsOp());
    // Synced although losing it would only bring entries back: see save() on unsynced batches
    // lost behind synced ones; the bounds record of a later write would then not match.
    return this.enqueue(ops, true);
  }

  /** Waits for every issued write, then closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.draining;
    await this.db.close();
  }

  private observeSync(seconds: number, writes: number): void {
    this.fsyncDuration?.observe(seconds);
    if (seconds > WARN_SYNC_SECONDS) {
      this.logger.warn(
        { dir: this.dir, tookMs: Math.round(seconds * 1000), expectedMs: WARN_SYNC_SECONDS * 1000, writes },
        'slow raft log sync: the disk is too slow for Raft (elections may time out)',
      );
    }
  }

  private boundsOp(): Op {
    return { type: 'put', key: boundsKey, value: encodeBounds(this.outline.bounds()) };
  }

  private usable(): Error | undefined {
    if (this.closed) return new RaftLogClosedError();
    if (this.failure !== undefined) return new RaftLogFailedError(this.failure);
    return undefined;
  }

  private enqueue(ops: Op[], sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, sync, resolve, reject });
      if (this.draining === undefined) this.draining = this.drain();
    });
  }

  /** Writes the queue in issue order, one batch at a time, grouping what queued up meanwhile. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.queue.length);
      if (this.failure !== undefined) {
        for (const w of group) w.reject(new RaftLogFailedError(this.failure));
        continue;
      }
      const ops = group.length === 1 ? group[0]!.ops : group.flatMap((w) => w.ops);
      const sync = group.some((w) => w.sync);
      try {
        if (ops.length > 0) {
          const started = performance.now();
          await this.db.batch(ops, { sync });
          if (sync) this.observeSync((performance.now() - started) / 1000, group.length);
        }
        for (const w of group) w.resolve();
      } catch (err) {
        this.failure = err;
        this.logger.error({ dir: this.dir, err }, 'raft log write failed; refusing further writes');
        for (const w of group) w.reject(new RaftLogFailedError(err));
      }
    }
    this.draining = undefined;
  }
}

function snapshotMetadataOf(s: Snapshot): SnapshotMetadata {
  // A Ready carries a snapshot only when there is one to install; without metadata it is meaningless.
  if (s.metadata === undefined || s.metadata.index === 0) {
    throw new RaftLogWriteError('a snapshot to install needs metadata with an index above 0');
  }
  return s.metadata;
}

function encodeSnapshotMetadata(meta: SnapshotMetadata): Uint8Array {
  return encodeRecord(RecordKind.Snapshot, 0, SnapshotMetadata.encode(meta));
}

/** Reads and verifies every record. */
/**
 * Creates the store if `dir` holds none, and says whether it did. A new store
 * is built beside its final place and renamed into it once its format marker
 * is durable, so `dir` either does not exist or holds a complete store: a
 * crash during creation leaves only the side directory, which the next open
 * discards. That is what lets open() treat a store without records as damaged
 * rather than new.
 */
async function createIfMissing(dir: string): Promise<boolean> {
  if (await exists(join(dir, 'CURRENT'))) return false;
  if (await exists(dir)) {
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
  const handle = await openFile(parent, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function load(
  dir: string,
  db: ClassicLevel<Uint8Array, Uint8Array>,
): Promise<{ outline: RaftLogOutline; state: RaftLogState }> {
  const outline = new RaftLogOutline();
  const entries: Entry[] = [];
  let hardState: HardState | undefined;
  let snapshot: SnapshotMetadata | undefined;
  let meta = false;
  let bounds: ReturnType<typeof decodeBounds> | undefined;
  let firstPrevTerm = 0;
  let records = 0;
  const corrupt = (
    record: string,
    index: number | undefined,
    detail: string,
    cause?: unknown,
  ): CorruptDataError =>
    new CorruptDataError({ dir, record, ...(index === undefined ? {} : { index }), detail, cause });
  const take = (key: Uint8Array, value: Uint8Array): void => {
    records++;
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
          firstPrevTerm = prevTerm;
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
        hardState = decodePayload('hardState', undefined, () => HardState.decode(payload));
        break;
      case RecordKind.Snapshot:
        snapshot = decodePayload('snapshot', undefined, () => SnapshotMetadata.decode(payload));
        break;
      case RecordKind.Bounds:
        bounds = decodeBounds(payload);
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
        meta = true;
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
    if (err instanceof RecordError) throw corrupt(err.record, err.index, err.message, err);
    // While reading, an I/O error is as fatal as a corruption report: a damaged table block can
    // point outside its file (EINVAL), and either way the records cannot be trusted or read.
    if (isLevelCorruption(err) || levelCode(err) === 'LEVEL_IO_ERROR') {
      throw corrupt('leveldb', undefined, `LevelDB cannot read its files: ${describe(err)}`, err);
    }
    throw err;
  } finally {
    await iterator.close();
  }
  // A store is created with its format marker and bounds (createIfMissing): without them it is damaged.
  if (records === 0) throw corrupt('meta', undefined, 'the database exists but no record could be read');
  if (!meta) throw corrupt('meta', undefined, 'the format marker is missing');
  if (bounds === undefined) throw corrupt('bounds', undefined, 'the bounds record is missing');
  if (entries.length > 0) outline.offset = entries[0]!.index;
  else if (snapshot !== undefined) outline.offset = snapshot.index + 1;
  outline.terms = entries.map((e) => e.term);
  outline.snapshot = snapshot;
  outline.hardState = hardState;
  if (snapshot === undefined && entries.length > 0 && entries[0]!.index !== 1) {
    throw corrupt('entry', 1, `missing: the log starts at ${entries[0]!.index} and there is no snapshot`);
  }
  // The first entry's predecessor is known when it is the snapshot (or nothing, at index 1).
  const first = entries[0];
  const snapIndex = snapshot?.index ?? 0;
  if (first !== undefined && first.index === snapIndex + 1 && firstPrevTerm !== (snapshot?.term ?? 0)) {
    throw corrupt(
      'entry',
      first.index,
      `was written after a term-${firstPrevTerm} entry ${snapIndex} but the snapshot there has term ${snapshot?.term ?? 0}`,
    );
  }
  if (bounds !== undefined) {
    const found = outline.bounds();
    if (found.term !== bounds.term || found.vote !== bounds.vote) {
      throw corrupt(
        'hardState',
        undefined,
        `holds term ${found.term} and vote ${found.vote.toString(16)} but the last write left term ${bounds.term} and vote ${bounds.vote.toString(16)}`,
      );
    }
    if (found.last < bounds.last) {
      throw corrupt(
        'entry',
        found.last + 1,
        `missing: the last write left entries up to ${bounds.last} but the log ends at ${found.last}`,
      );
    }
    if (
      found.first !== bounds.first ||
      found.last !== bounds.last ||
      found.lastTerm !== bounds.lastTerm ||
      found.snapshotIndex !== bounds.snapshotIndex
    ) {
      throw corrupt(
        'bounds',
        undefined,
        `the log read (entries ${found.first}..${found.last}, last term ${found.lastTerm}, snapshot ${found.snapshotIndex}) ` +
          `differs from what the last write left (entries ${bounds.first}..${bounds.last}, last term ${bounds.lastTerm}, snapshot ${bounds.snapshotIndex})`,
      );
    }
  }
  const problem = outline.problem();
  if (problem !== undefined) {
    const record = problem.index === undefined ? 'hardState' : 'entry';
    throw corrupt(record, problem.index, problem.detail);
  }
  const state: RaftLogState = { hardState: hardState ?? HardState.create(), entries };
  if (snapshot !== undefined) state.snapshotMetadata = snapshot;
  return { outline, state };
}

function decodePayload<T>(record: string, index: number | undefined, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new RecordError(record, index, `payload does not decode: ${describe(err)}`);
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
    return new CorruptDataError({ dir, record: 'leveldb', detail: describe(err), cause: err });
  return new Error(`cannot open the raft log in ${dir}: ${describe(err)}`, { cause: err });
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(': ');
}
