import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';

/**
 * The bytes of Maintenance.Snapshot: every record of the key space in one
 * consistent view, framed as `magic, then (u32 key length, key, u32 value
 * length, value)*`, zero-padded to a multiple of 512 bytes and followed by the
 * SHA-256 of everything before it. The padding and trailer are what etcdctl's
 * `snapshot save` checks (size % 512 == 32 means "has a checksum"), so the
 * file it writes is verified end to end.
 */
export const SNAPSHOT_MAGIC = Buffer.from('xetcd-snapshot-v1\n', 'latin1');
const ALIGN = 512;
const CHUNK_BYTES = 32 * 1024;

export interface SnapshotChunk {
  blob: Uint8Array;
  remaining: number;
}

/** Writes the snapshot to `path` first, so the stream can say exactly how many bytes remain. */
export async function* streamSnapshot(
  records: AsyncIterable<Array<[Buffer, Buffer]>>,
  path: string,
): AsyncGenerator<SnapshotChunk> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    let size = 0;
    const write = async (b: Buffer): Promise<void> => {
      hash.update(b);
      await file.write(b);
      size += b.length;
    };
    await write(SNAPSHOT_MAGIC);
    for await (const page of records) {
      const parts: Buffer[] = [];
      for (const [key, value] of page) {
        const head = Buffer.allocUnsafe(4);
        head.writeUInt32BE(key.length);
        const mid = Buffer.allocUnsafe(4);
        mid.writeUInt32BE(value.length);
        parts.push(head, key, mid, value);
      }
      await write(Buffer.concat(parts));
    }
    const pad = (ALIGN - (size % ALIGN)) % ALIGN;
    if (pad > 0) await write(Buffer.alloc(pad));
    await file.write(hash.digest());
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    const total = (await stat(path)).size;
    let sent = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
      const blob = chunk as Buffer;
      sent += blob.length;
      yield { blob, remaining: total - sent };
    }
  } finally {
    await rm(path, { force: true });
  }
}
