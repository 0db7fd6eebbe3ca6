// Fragmenting frames above max_payload and the snapshot receiver's refusals,
// without a network: what is lost or damaged never reaches Raft.
import { readdir } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Message, MessageType } from '../../../src/proto/raftpb.js';
import { PeerFrame, type SnapshotAck, type SnapshotChunk } from '../../../src/proto/xetcdpb.js';
import { encodeFrame, Reassembler } from '../../../src/transport/frames.js';
import { SnapshotReceiver } from '../../../src/transport/snapshotReceiver.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';

function bigFrame(bytes: number): PeerFrame {
  const m = Message.create({
    type: MessageType.MsgApp,
    from: 1n,
    to: 2n,
    entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(bytes).fill(7) }],
  });
  return PeerFrame.create({ clusterId: 9n, from: 1n, to: 2n, batch: { messages: [m] } });
}

function fragmentsOf(payloads: Uint8Array[]) {
  return payloads.map((p) => PeerFrame.decode(p).fragment!);
}

describe('frames', () => {
  it('a frame within max_payload is one payload; a larger one is fragments that fit and rebuild it', () => {
    let ids = 0;
    expect(encodeFrame(bigFrame(100), 1024, () => ++ids)).toHaveLength(1);
    const payloads = encodeFrame(bigFrame(10_000), 1024, () => ++ids);
    expect(payloads.length).toBeGreaterThan(10);
    for (const p of payloads) expect(p.length).toBeLessThanOrEqual(1024);
    const r = new Reassembler();
    const results = fragmentsOf(payloads).map((f) => r.accept(1n, f));
    expect(results.slice(0, -1).every((x) => x.frame === undefined && x.dropped === undefined)).toBe(true);
    expect(results.at(-1)!.frame!.batch!.messages[0]!.entries[0]!.data.length).toBe(10_000);
  });

  it('a missing fragment drops the frame; the next frame from the same sender still arrives', () => {
    let ids = 0;
    const r = new Reassembler();
    const first = fragmentsOf(encodeFrame(bigFrame(5_000), 1024, () => ++ids));
    const second = fragmentsOf(encodeFrame(bigFrame(3_000), 1024, () => ++ids));
    expect(r.accept(1n, first[0]!)).toEqual({});
    expect(r.accept(1n, first[2]!)).toEqual({ dropped: 'fragment-gap' });
    const outcomes = second.map((f) => r.accept(1n, f));
    expect(outcomes.at(-1)!.frame).toBeDefined();
  });

  it('a new frame starting over a partial one drops the partial and keeps the new', () => {
    let ids = 0;
    const r = new Reassembler();
    const first = fragmentsOf(encodeFrame(bigFrame(5_000), 1024, () => ++ids));
    const second = fragmentsOf(encodeFrame(bigFrame(3_000), 1024, () => ++ids));
    r.accept(1n, first[0]!);
    expect(r.accept(1n, second[0]!).dropped).toBe('fragment-gap');
    const outcomes = second.slice(1).map((f) => r.accept(1n, f));
    expect(outcomes.at(-1)!.frame).toBeDefined();
  });

  it('fragments of different senders do not mix', () => {
    let ids = 0;
    const r = new Reassembler();
    const a = fragmentsOf(encodeFrame(bigFrame(3_000), 1024, () => ++ids));
    const b = fragmentsOf(encodeFrame(bigFrame(3_000), 1024, () => ++ids));
    const out: (PeerFrame | undefined)[] = [];
    for (let i = 0; i < a.length; i++) {
      out.push(r.accept(1n, a[i]!).frame, r.accept(2n, b[i]!).frame);
    }
    expect(out.filter((f) => f !== undefined)).toHaveLength(2);
  });
});

describe('SnapshotReceiver', () => {
  let dir: TempDir;
  afterEach(async () => dir?.remove());

  const snapMessage = Message.create({
    type: MessageType.MsgSnap,
    from: 1n,
    to: 2n,
    snapshot: { data: new Uint8Array(0), metadata: { index: 9, term: 1, confState: undefined } },
  });

  async function receiver(idleTimeoutMs = 5_000) {
    dir = await makeTempDir('xetcd-snaprecv-');
    const acks: SnapshotAck[] = [];
    const delivered: Message[] = [];
    const failures: string[] = [];
    const r = new SnapshotReceiver({
      dir: dir.path,
      idleTimeoutMs,
      ack: (_to, a) => acks.push(a),
      deliver: (m) => delivered.push(m),
      failed: (_from, reason) => failures.push(reason),
      received: () => undefined,
    });
    await r.start();
    return { r, acks, delivered, failures };
  }

  const chunk = (seq: number, data: Uint8Array, extra: Partial<SnapshotChunk> = {}): SnapshotChunk => ({
    transferId: 1,
    seq,
    data,
    last: false,
    totalBytes: 0,
    crc32: 0,
    ...(seq === 0 ? { message: snapMessage } : {}),
    ...extra,
  });

  async function settle(): Promise<void> {
    await new Promise((r) => setTimeout(r, 100));
  }

  it('a gap fails the transfer, answers the sender and leaves no file', async () => {
    const { r, acks, delivered, failures } = await receiver();
    r.accept(1n, chunk(0, new Uint8Array([1, 2])));
    r.accept(1n, chunk(2, new Uint8Array([3])));
    await settle();
    expect(delivered).toEqual([]);
    expect(failures[0]).toMatch(/chunk 2 arrived while 1 was expected/);
    expect(acks.at(-1)!.failed).toBe(true);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it('a checksum or length that does not match fails the transfer', async () => {
    const { r, delivered, failures } = await receiver();
    const data = new Uint8Array([1, 2, 3]);
    r.accept(1n, chunk(0, data));
    r.accept(1n, chunk(1, new Uint8Array(0), { last: true, totalBytes: 3, crc32: crc32(data) ^ 1 }));
    await settle();
    expect(failures).toEqual(['state checksum mismatch']);
    expect(delivered).toEqual([]);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it('a first chunk without a snapshot message is refused', async () => {
    const { r, acks, failures } = await receiver();
    r.accept(1n, { ...chunk(0, new Uint8Array(1)), message: Message.create({ type: MessageType.MsgApp }) });
    await settle();
    expect(failures).toEqual(['first chunk carries a MsgApp']);
    expect(acks).toEqual([{ transferId: 1, nextSeq: 0, done: false, failed: true, reason: failures[0] }]);
  });

  it('a sender that goes silent is given up after the idle timeout', async () => {
    const { r, failures } = await receiver(150);
    r.accept(1n, chunk(0, new Uint8Array([1])));
    await new Promise((res) => setTimeout(res, 400));
    expect(failures).toEqual(['no chunk for 150 ms']);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it('a whole, verified state is kept under its index and then delivered', async () => {
    const { r, delivered, acks } = await receiver();
    const data = new Uint8Array([5, 6, 7]);
    r.accept(1n, chunk(0, data));
    r.accept(1n, chunk(1, new Uint8Array(0), { last: true, totalBytes: 3, crc32: crc32(data) }));
    await settle();
    expect(delivered).toHaveLength(1);
    expect(acks.at(-1)!.done).toBe(true);
    expect(await readdir(dir.path)).toEqual(['0000000000000009.snap.db']);
    await r.stop();
  });
});
