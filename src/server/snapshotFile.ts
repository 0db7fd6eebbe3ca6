import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { AlarmMember, Member } from '../proto/etcdserverpb.js';
import { writeEtcdSnapshot } from '../storage/bolt/snapshotExport.js';

/**
 * The bytes of Maintenance.Snapshot, as etcd sends them: the member's backend
 * as an etcd 3.4 bbolt database file (see storage/bolt/snapshotExport.ts), followed
 * by one last message holding the SHA-256 of everything before it. bbolt
 * files are whole 4 KiB pages, so the size is a multiple of 512, which is how
 * etcdctl's `snapshot save` knows the trailing 32 bytes are a checksum and
 * verifies them; `snapshot status` and `snapshot restore` then read the file
 * as etcd's own backend.
 */
const CHUNK_BYTES = 32 * 1024;

export interface SnapshotChunk {
  blob: Uint8Array;
  remaining: number;
}

/** The member state a snapshot carries beside the key space. */
export interface SnapshotClusterState {
  members: readonly Member[];
  removedMemberIds?: readonly bigint[];
  alarms: readonly AlarmMember[];
}

/**
 * Writes the snapshot to `path` first (the records are read from one
 * consistent view), so the stream can say exactly how many bytes remain; the
 * file is removed when the stream ends, however it ends.
 */
export async function* streamSnapshot(
  records: AsyncIterable<Array<[Buffer, Buffer]>>,
  path: string,
  cluster: SnapshotClusterState = { members: [], alarms: [] },
): AsyncGenerator<SnapshotChunk> {
  try {
    const size = await writeEtcdSnapshot(path, { records, ...cluster });
    const hash = createHash('sha256');
    let sent = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
      const blob = chunk as Buffer;
      hash.update(blob);
      sent += blob.length;
      // As etcd counts: bytes of the database still to come; the checksum message says 0.
      yield { blob, remaining: size - sent };
    }
    if (sent !== size)
      throw new Error(`snapshot: ${path} changed while it was sent (${sent} of ${size} bytes)`);
    yield { blob: hash.digest(), remaining: 0 };
  } finally {
    await rm(path, { force: true });
  }
}
