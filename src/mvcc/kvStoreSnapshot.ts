import { rename, rm } from 'node:fs/promises';
import { Backend } from '../storage/backend/backend.js';
import { BACKEND_FORMAT, describeBackendKey, encodeCounter, metaKey } from '../storage/backend/layout.js';
import { pathExists } from '../storage/pathExists.js';

/** A store's records as KvStore.snapshotRecords() hands them out: raw, checksum frames included. */
export type SnapshotRecords = AsyncIterable<Array<[Buffer, Buffer]>>;

/**
 * Writes a backend in `dir` (which must not exist) from another store's
 * snapshot records. Records are verified as they arrive; the data is written
 * and synced in a sibling directory and renamed into place, so a crash leaves
 * either no store or the whole one.
 */
export async function writeBackendFromRecords(dir: string, records: SnapshotRecords): Promise<void> {
  if (await pathExists(dir)) throw new Error(`mvcc: cannot restore into ${dir}: it exists`);
  const staging = `${dir}.restoring`;
  await rm(staging, { recursive: true, force: true });
  const backend = await Backend.open(staging, describeBackendKey);
  try {
    for await (const page of records) await backend.writeRaw(page, false);
    // A synced write of the format record makes everything before it durable too.
    await backend.write(
      [{ type: 'put', key: metaKey('format'), value: encodeCounter(BACKEND_FORMAT) }],
      true,
    );
  } finally {
    await backend.close();
  }
  await rename(staging, dir);
}
