/**
 * PeerFrames on a road with a size limit: a frame larger than the NATS
 * server's max_payload is cut into fragments published back to back, and put
 * together again on the other side. Pure: no connection, no clock.
 */
import { PeerFrame } from '../proto/xetcdpb.js';

/** Room left in every NATS message for a fragment frame's own fields. */
const FRAGMENT_OVERHEAD_BYTES = 64;

/** The payloads to publish for one frame: itself, or its fragments when it is too large. */
export function encodeFrame(frame: PeerFrame, maxPayload: number, nextFrameId: () => number): Uint8Array[] {
  const bytes = PeerFrame.encode(frame);
  if (bytes.length <= maxPayload) return [bytes];
  const room = maxPayload - FRAGMENT_OVERHEAD_BYTES;
  if (room <= 0) throw new RangeError(`max_payload ${maxPayload} leaves no room for a fragment`);
  const count = Math.ceil(bytes.length / room);
  const frameId = nextFrameId();
  const out: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    out.push(
      PeerFrame.encode({
        clusterId: frame.clusterId,
        from: frame.from,
        to: frame.to,
        fragment: { frameId, index, count, data: bytes.subarray(index * room, (index + 1) * room) },
      }),
    );
  }
  return out;
}

/** Why fragments did not make a frame. */
export type FragmentDrop = 'fragment-gap' | 'fragment-undecodable';

export interface Reassembled {
  /** The whole frame, once its last fragment arrived. */
  readonly frame?: PeerFrame;
  /** A frame given up: fragments were missing, or the whole did not decode. */
  readonly dropped?: FragmentDrop;
}

/**
 * Puts fragmented frames together, one partial frame per sender at most: the
 * fragments of a frame arrive in order and together (one publisher, one
 * subscriber), so a gap means some were lost and the frame is dropped.
 */
export class Reassembler {
  private readonly partial = new Map<bigint, { frameId: number; parts: Uint8Array[]; count: number }>();

  accept(from: bigint, fragment: NonNullable<PeerFrame['fragment']>): Reassembled {
    const { frameId, index, count, data } = fragment;
    if (index === 0) {
      const abandoned = this.partial.has(from);
      this.partial.set(from, { frameId, parts: [], count });
      if (abandoned) return { dropped: 'fragment-gap', ...this.add(from, data) };
      return this.add(from, data);
    }
    const entry = this.partial.get(from);
    if (
      entry === undefined ||
      entry.frameId !== frameId ||
      entry.parts.length !== index ||
      entry.count !== count
    ) {
      this.partial.delete(from);
      return { dropped: 'fragment-gap' };
    }
    return this.add(from, data);
  }

  private add(from: bigint, data: Uint8Array): Reassembled {
    const entry = this.partial.get(from)!;
    // The fragment's bytes are a view into the NATS message: keep a copy.
    entry.parts.push(Uint8Array.from(data));
    if (entry.parts.length < entry.count) return {};
    this.partial.delete(from);
    try {
      return { frame: PeerFrame.decode(Buffer.concat(entry.parts)) };
    } catch {
      return { dropped: 'fragment-undecodable' };
    }
  }
}
