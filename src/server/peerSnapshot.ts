/**
 * The application state that travels with a snapshot to a peer (etcd sends
 * its backend file after the MsgSnap): a SnapshotState with the member list,
 * removed members and alarms, then the key space's records in pages, each a
 * frame of a 4-byte big-endian length and the protobuf bytes.
 */
import { createReadStream } from 'node:fs';
import { RecordPage, SnapshotState } from '../proto/xetcdpb.js';

/** The largest frame a reader accepts: a page is ~1,000 records, each at most a 1.5 MiB request. */
const MAX_FRAME_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export async function* encodeSnapshotState(
  state: SnapshotState,
  records: AsyncIterable<Array<[Buffer, Buffer]>>,
): AsyncGenerator<Uint8Array> {
  yield frame(SnapshotState.encode(state));
  for await (const page of records) {
    yield frame(RecordPage.encode({ keys: page.map(([k]) => k), values: page.map(([, v]) => v) }));
  }
}

/** Reads a state written by encodeSnapshotState: its header first, then its records as they are read. */
export async function readSnapshotState(
  path: string,
): Promise<{ state: SnapshotState; records: AsyncGenerator<Array<[Buffer, Buffer]>> }> {
  const frames = framesOf(createReadStream(path, { highWaterMark: 1 << 20 }));
  const first = await frames.next();
  if (first.done) throw new Error(`snapshot state ${path} is empty`);
  const state = SnapshotState.decode(first.value);
  async function* records(): AsyncGenerator<Array<[Buffer, Buffer]>> {
    for await (const bytes of frames) {
      const page = RecordPage.decode(bytes);
      if (page.keys.length !== page.values.length)
        throw new Error(`snapshot state ${path}: a page's keys and values differ in number`);
      yield page.keys.map((k, i) => [Buffer.from(k), Buffer.from(page.values[i]!)]);
    }
  }
  return { state, records: records() };
}

function frame(bytes: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, 4);
  return out;
}

async function* framesOf(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<Uint8Array> {
  let buffered: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    buffered = buffered.length === 0 ? (chunk as Buffer) : Buffer.concat([buffered, chunk as Buffer]);
    for (;;) {
      if (buffered.length < 4) break;
      const length = buffered.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES)
        throw new Error(`snapshot state frame of ${length} bytes is not believable`);
      if (buffered.length < 4 + length) break;
      yield buffered.subarray(4, 4 + length);
      buffered = buffered.subarray(4 + length);
    }
  }
  if (buffered.length > 0) throw new Error('snapshot state ends inside a frame');
}
