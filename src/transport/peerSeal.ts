/**
 * Peer messages that prove who sent them (--peer-key-file): every NATS
 * message between members travels in a PeerEnvelope; with a shared key the
 * envelope carries a seal, an HMAC-SHA256 over the message's kind, cluster,
 * sender, recipient, epoch, sequence number, send time and bytes. A receiver
 * drops what fails any check, before anything in it reaches Raft: a missing
 * or wrong MAC, another cluster, another recipient, a sequence number already
 * seen or an epoch older than one seen (a replay), a send time far from its
 * own clock. Etcd gets this from peer TLS; NATS carries anyone's messages, so
 * the members check each one. Pure apart from the clock it is given.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { PeerEnvelope, PeerSeal } from '../proto/xetcdpb.js';
import { ReplayGuard } from './replayGuard.js';

/** What an envelope carries; part of the MAC so that one kind cannot pass for another. */
export type PeerMessageKind = 'frame' | 'request' | 'response';

/** Why a message was refused (the reason label of xetcd_peer_rejected_messages_total). */
export type RejectReason =
  | 'undecodable'
  | 'missing-mac'
  | 'bad-mac'
  | 'unexpected-mac'
  | 'other-cluster'
  | 'not-addressed-here'
  | 'replay'
  | 'stale'
  | 'sender-mismatch';

/** The MAC key members derive from the --peer-key-file they share. */
export interface PeerKey {
  readonly bytes: Buffer;
}

/** Shortest secret accepted: less is a password, not a key. */
const MIN_SECRET_BYTES = 16;
const DOMAIN = Buffer.from('xetcd peer message v1\0');
const KINDS: Record<PeerMessageKind, number> = { frame: 1, request: 2, response: 3 };
/** How far a message's send time may be from the receiver's clock. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60_000;

/** The key from a --peer-key-file's contents (surrounding whitespace ignored), or why it is not one. */
export function peerKeyFrom(contents: Buffer): PeerKey | string {
  const secret = Buffer.from(contents.toString('latin1').trim(), 'latin1');
  if (secret.length < MIN_SECRET_BYTES)
    return `holds ${secret.length} bytes; a peer key needs at least ${MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)`;
  return { bytes: Buffer.from(hkdfSync('sha256', secret, 'xetcd peer key', '', 32)) };
}

export interface Opened {
  readonly payload: Uint8Array;
  /** The member the seal names as sender (undefined when messages are not sealed). */
  readonly sender?: bigint;
  /** The cluster the seal names: 0 for a joining member's question. */
  readonly clusterId?: bigint;
  /**
   * Takes the message as received once the caller's own checks passed too
   * (its payload names the same sender): false if it is a replay. Only then
   * is its number remembered, so a message refused for another reason cannot
   * move a sender's epoch or window.
   */
  accept(): boolean;
}

export type OpenResult = Opened | { readonly rejected: RejectReason };

export interface PeerSealsOptions {
  /** Without a key, envelopes carry no seal and a sealed one is refused. */
  readonly key?: PeerKey;
  readonly clusterId: bigint;
  /** This member (0 for a joining member that does not know its ID yet). */
  readonly self: bigint;
  readonly now?: () => number;
  readonly maxClockSkewMs?: number;
}

export class PeerSeals {
  private readonly now: () => number;
  private readonly epoch: number;
  private seq = 0;
  private readonly replays = new ReplayGuard();

  constructor(private readonly options: PeerSealsOptions) {
    this.now = options.now ?? Date.now;
    this.epoch = this.now();
  }

  get sealing(): boolean {
    return this.options.key !== undefined;
  }

  /** The envelope for `payload`, sealed for `to` when there is a key. */
  seal(
    kind: PeerMessageKind,
    to: bigint,
    payload: Uint8Array,
    clusterId = this.options.clusterId,
  ): Uint8Array {
    const { key } = this.options;
    if (key === undefined) return PeerEnvelope.encode({ payload });
    const seal = PeerSeal.create({
      clusterId,
      from: this.options.self,
      to,
      epoch: this.epoch,
      seq: ++this.seq,
      sentAtMs: this.now(),
    });
    seal.mac = mac(key, kind, seal, payload);
    return PeerEnvelope.encode({ payload, seal });
  }

  /**
   * The payload of an envelope received as `kind`, or why it is refused. A
   * joining member's question may name cluster 0 and recipient 0; the caller
   * decides what such a question may ask.
   */
  open(kind: PeerMessageKind, bytes: Uint8Array): OpenResult {
    let envelope: PeerEnvelope;
    try {
      envelope = PeerEnvelope.decode(bytes);
    } catch {
      return { rejected: 'undecodable' };
    }
    const { key, clusterId, self } = this.options;
    const { seal, payload } = envelope;
    if (key === undefined)
      return seal === undefined ? { payload, accept: () => true } : { rejected: 'unexpected-mac' };
    if (seal === undefined || seal.mac.length === 0) return { rejected: 'missing-mac' };
    const want = mac(key, kind, seal, payload);
    if (seal.mac.length !== want.length || !timingSafeEqual(seal.mac, want)) return { rejected: 'bad-mac' };
    const anyCluster = kind === 'request' && seal.clusterId === 0n;
    if (seal.clusterId !== clusterId && !anyCluster) return { rejected: 'other-cluster' };
    const anyone = kind === 'request' && seal.to === 0n;
    if (seal.to !== self && !anyone) return { rejected: 'not-addressed-here' };
    if (Math.abs(this.now() - seal.sentAtMs) > (this.options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS))
      return { rejected: 'stale' };
    return {
      payload,
      sender: seal.from,
      clusterId: seal.clusterId,
      // A joining member has no ID yet: its questions (harmless to repeat) are not tracked.
      accept: () => seal.from === 0n || this.replays.accept(seal.from, seal.epoch, seal.seq),
    };
  }
}

function mac(key: PeerKey, kind: PeerMessageKind, seal: PeerSeal, payload: Uint8Array): Buffer {
  const fields = Buffer.alloc(1 + 6 * 8);
  fields[0] = KINDS[kind];
  fields.writeBigUInt64BE(seal.clusterId, 1);
  fields.writeBigUInt64BE(seal.from, 9);
  fields.writeBigUInt64BE(seal.to, 17);
  fields.writeBigUInt64BE(BigInt(seal.epoch), 25);
  fields.writeBigUInt64BE(BigInt(seal.seq), 33);
  fields.writeBigUInt64BE(BigInt(seal.sentAtMs), 41);
  return createHmac('sha256', key.bytes).update(DOMAIN).update(fields).update(payload).digest();
}
