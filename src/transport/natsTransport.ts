/**
 * Raft's road over NATS. Each member subscribes to its own subject and
 * publishes to its peers' subjects: one NATS message per peer per Ready where
 * it fits, fragments where it does not, snapshots as a flow-controlled
 * transfer. Core NATS is at-most-once and drops what is published while
 * disconnected, so nothing here retries: Raft retransmits what matters, and is
 * told when a peer cannot be reached.
 */
import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import { MessageType, type Message } from '../proto/raftpb.js';
import {
  PeerFrame,
  PeerRequest,
  PeerResponse,
  type SnapshotAck,
  type SnapshotChunk,
} from '../proto/xetcdpb.js';
import { encodeFrame, Reassembler } from './frames.js';
import type { DropReason, TransportMetrics } from './metrics.js';
import { NatsLink, type NatsLinkOptions } from './natsLink.js';
import { PeerSeals, type PeerKey, type PeerMessageKind, type RejectReason } from './peerSeal.js';
import { SnapshotReceiver } from './snapshotReceiver.js';
import { SnapshotSend } from './snapshotSender.js';
import { peerUrlSubject, raftSubject, rpcSubject } from './subjects.js';
import type {
  OutgoingSnapshot,
  PeerAddress,
  PeerRequestHandler,
  RaftReceiver,
  Transport,
} from './transport.js';

export interface NatsTransportOptions {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** This member's peer URLs: it answers joining members' questions addressed to them. */
  readonly peerUrls: readonly string[];
  /** Where received snapshots' state is kept until applied. */
  readonly snapshotDir: string;
  readonly link: Omit<NatsLinkOptions, 'logger'>;
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
  /** A peer not heard from for this long is reported inactive (logs, metrics). */
  readonly peerInactiveMs: number;
  /** The key from --peer-key-file: every message is sealed with it, and checked against it. */
  readonly peerKey?: PeerKey;
  /** Heartbeats that could not be sent (etcd_server_heartbeat_send_failures_total, the server's metric). */
  readonly onHeartbeatSendFailures?: (count: number) => void;
  /** Snapshot flow control. */
  readonly snapshotWindow?: number;
  readonly snapshotIdleTimeoutMs?: number;
}

/** Chunks of a snapshot at most: small enough to interleave with heartbeats on one connection. */
const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
const DEFAULT_SNAPSHOT_WINDOW = 8;
const DEFAULT_SNAPSHOT_IDLE_MS = 10_000;
const PEER_CHECK_MS = 1_000;
const REMOVED_NOTICE_EVERY_MS = 1_000;
/** Room kept in every NATS message for the envelope and its seal. */
const ENVELOPE_ROOM_BYTES = 128;
/** A refused message is logged at most this often per reason and sender: a flood must not flood the log. */
const REJECT_LOG_EVERY_MS = 10_000;

/** What a refusal means, for the person reading the log. */
const REJECT_TEXT: Record<Exclude<RejectReason, 'undecodable'>, string> = {
  'missing-mac':
    'a peer message came without a MAC: its sender runs without --peer-key-file, or is not a member',
  'bad-mac':
    'a peer message failed its MAC: its sender has another --peer-key-file, or the message was forged',
  'unexpected-mac': 'a peer message came sealed, but this member has no --peer-key-file',
  'other-cluster': 'a sealed peer message was made for another cluster',
  'not-addressed-here': 'a sealed peer message was made for another member',
  replay: 'a peer message was seen before (a replay)',
  stale: 'a peer message was sent too long ago, or the members’ clocks are far apart',
  'sender-mismatch': 'a peer message claims another sender than the one that sealed it',
};

interface PeerState {
  readonly id: bigint;
  readonly hex: string;
  lastHeard: number;
  active: boolean;
  snapshot: SnapshotSend | undefined;
  /** When the oldest heartbeat not yet answered left (etcd_network_peer_round_trip_time_seconds). */
  heartbeatSentAt: number | undefined;
}

export class NatsTransport implements Transport {
  private readonly link: NatsLink;
  private readonly peers = new Map<bigint, PeerState>();
  private readonly reassembler = new Reassembler();
  private readonly snapshots: SnapshotReceiver;
  private readonly selfHex: string;
  private receiver: RaftReceiver | undefined;
  private handler: PeerRequestHandler | undefined;
  private peerCheck: NodeJS.Timeout | undefined;
  private frameIds = 0;
  private readonly removedToldAt = new Map<bigint, number>();
  private transferIds = 0;
  private readonly seals: PeerSeals;
  private readonly rejectLoggedAt = new Map<string, number>();

  constructor(private readonly options: NatsTransportOptions) {
    this.selfHex = options.memberId.toString(16);
    this.seals = new PeerSeals({
      ...(options.peerKey !== undefined ? { key: options.peerKey } : {}),
      clusterId: options.clusterId,
      self: options.memberId,
    });
    this.link = new NatsLink({ ...options.link, logger: options.logger });
    this.snapshots = new SnapshotReceiver({
      dir: options.snapshotDir,
      idleTimeoutMs: options.snapshotIdleTimeoutMs ?? DEFAULT_SNAPSHOT_IDLE_MS,
      ack: (to, ack) => this.publish(to, { snapshotAck: ack }),
      deliver: (m) => this.deliver(m),
      failed: (from, reason) => {
        options.metrics.snapshotReceiveFailures.inc({ From: from.toString(16) });
        options.logger.warn({ from: from.toString(16), reason }, 'receiving a snapshot failed');
      },
      fsynced: (ms) => options.metrics.snapDbFsync.observe(ms / 1000),
      received: (from, bytes, ms) => {
        options.metrics.snapDbSaveTotal.observe(ms / 1000);
        options.metrics.snapshotReceiveSuccess.inc({ From: from.toString(16) });
        options.metrics.snapshotReceiveSeconds.observe({ From: from.toString(16) }, ms / 1000);
        options.logger.info(
          { from: from.toString(16), bytes, 'took-ms': Math.round(ms) },
          'received a snapshot',
        );
      },
    });
  }

  async start(receiver: RaftReceiver): Promise<void> {
    this.receiver = receiver;
    await this.snapshots.start();
    this.link.connected$.subscribe((up) => this.options.metrics.natsConnected.set(up ? 1 : 0));
    const { clusterId, memberId, peerUrls } = this.options;
    const answer = (data: Uint8Array, respond?: (answer: Uint8Array) => void): void =>
      void this.answer(data, respond);
    this.link.start([
      { subject: raftSubject(clusterId, memberId), onMessage: (data) => this.onPayload(data) },
      { subject: rpcSubject(clusterId, memberId), onMessage: answer },
      ...peerUrls.map((url) => ({ subject: peerUrlSubject(url), onMessage: answer })),
    ]);
    this.peerCheck = setInterval(() => this.checkPeers(), PEER_CHECK_MS);
  }

  send(messages: readonly Message[]): void {
    const byPeer = new Map<bigint, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    for (const [to, batch] of byPeer) {
      const peer = this.peers.get(to);
      if (peer === undefined) continue;
      const heartbeats = batch.filter((m) => m.type === MessageType.MsgHeartbeat).length;
      if (!this.publish(to, { batch: { messages: batch } })) {
        if (heartbeats > 0) this.options.onHeartbeatSendFailures?.(heartbeats);
        this.unreachable(to);
      } else if (heartbeats > 0) {
        peer.heartbeatSentAt ??= performance.now();
      }
    }
  }

  sendSnapshot(snapshot: OutgoingSnapshot): void {
    const to = snapshot.message.to;
    const peer = this.peers.get(to);
    if (peer === undefined || peer.snapshot !== undefined) {
      // Raft sends one snapshot at a time per peer; a second is a retry of the first.
      void snapshot.close();
      if (peer === undefined) this.receiver?.reportSnapshot(to, 'failure');
      return;
    }
    const { metrics, logger } = this.options;
    const transfer = new SnapshotSend({
      transferId: ++this.transferIds,
      message: snapshot.message,
      body: snapshot.body,
      chunkBytes: Math.min(SNAPSHOT_CHUNK_BYTES, this.link.maxPayload() - 1024),
      window: this.options.snapshotWindow ?? DEFAULT_SNAPSHOT_WINDOW,
      idleTimeoutMs: this.options.snapshotIdleTimeoutMs ?? DEFAULT_SNAPSHOT_IDLE_MS,
      publish: (chunk: SnapshotChunk) => this.publish(to, { snapshotChunk: chunk }),
    });
    peer.snapshot = transfer;
    metrics.snapshotSendInflights.inc({ To: peer.hex });
    const started = performance.now();
    const index = snapshot.message.snapshot?.metadata?.index ?? 0;
    logger.info({ to: peer.hex, index }, 'sending a snapshot');
    void transfer.run().then(async (outcome) => {
      await snapshot.close().catch(() => undefined);
      if (peer.snapshot === transfer) peer.snapshot = undefined;
      metrics.snapshotSendInflights.dec({ To: peer.hex });
      const seconds = (performance.now() - started) / 1000;
      metrics.snapshotSendSeconds.observe({ To: peer.hex }, seconds);
      if (outcome.status === 'finish') {
        metrics.snapshotSendSuccess.inc({ To: peer.hex });
        logger.info(
          { to: peer.hex, index, bytes: outcome.bytes, 'took-ms': Math.round(seconds * 1000) },
          'sent a snapshot',
        );
      } else {
        metrics.snapshotSendFailures.inc({ To: peer.hex });
        logger.warn({ to: peer.hex, index, reason: outcome.reason }, 'sending a snapshot failed');
      }
      this.receiver?.reportSnapshot(to, outcome.status);
    });
  }

  async request(to: bigint, request: PeerRequest, timeoutMs: number): Promise<PeerResponse> {
    const { clusterId, memberId } = this.options;
    const payload = this.seals.seal(
      'request',
      to,
      PeerRequest.encode({ ...request, clusterId, from: memberId }),
    );
    const answer = this.opened(
      'response',
      await this.link.request(rpcSubject(clusterId, to), payload, timeoutMs),
      to,
    );
    if (answer === undefined) throw new Error(`the answer of member ${to.toString(16)} was refused`);
    return PeerResponse.decode(answer);
  }

  serve(handler: PeerRequestHandler): void {
    this.handler = handler;
  }

  addPeer(peer: PeerAddress): void {
    if (peer.id === this.options.memberId || this.peers.has(peer.id)) return;
    // A series from the start, so an alert on its rate (etcd's etcdMembersDown) has one to watch.
    this.options.metrics.sentFailures.inc({ To: peer.id.toString(16) }, 0);
    this.peers.set(peer.id, {
      id: peer.id,
      hex: peer.id.toString(16),
      lastHeard: 0,
      active: false,
      snapshot: undefined,
      heartbeatSentAt: undefined,
    });
  }

  removePeer(id: bigint): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    peer.snapshot?.abort('peer removed');
    if (peer.active) this.options.metrics.activePeers.set({ Local: this.selfHex, Remote: peer.hex }, 0);
    this.peers.delete(id);
  }

  async stop(): Promise<void> {
    if (this.peerCheck) clearInterval(this.peerCheck);
    for (const peer of this.peers.values()) peer.snapshot?.abort('member stopping');
    await this.snapshots.stop();
    await this.link.stop();
    this.receiver = undefined;
  }

  /** Whether the member can reach NATS now (its peers' messages arrive, its own leave). */
  get connected$(): Observable<boolean> {
    return this.link.connected$;
  }

  /** Whether the peer was heard from lately (the dashboard's and endpoint status's "reachable"). */
  isActive(id: bigint): boolean {
    return this.peers.get(id)?.active ?? false;
  }

  private publish(to: bigint, body: Partial<PeerFrame>): boolean {
    const frame = PeerFrame.create({
      clusterId: this.options.clusterId,
      from: this.options.memberId,
      to,
      ...body,
    });
    const payloads = encodeFrame(frame, this.link.maxPayload() - ENVELOPE_ROOM_BYTES, () => ++this.frameIds);
    const subject = raftSubject(this.options.clusterId, to);
    let bytes = 0;
    for (const frameBytes of payloads) {
      const payload = this.seals.seal('frame', to, frameBytes);
      if (!this.link.publish(subject, payload)) {
        this.options.metrics.sentFailures.inc({ To: to.toString(16) });
        return false;
      }
      bytes += payload.length;
    }
    this.options.metrics.sentBytes.inc({ To: to.toString(16) }, bytes);
    return true;
  }

  private async answer(data: Uint8Array, respond: ((answer: Uint8Array) => void) | undefined): Promise<void> {
    if (respond === undefined) return this.drop('malformed');
    const opened = this.seals.open('request', data);
    // A refused question gets no answer: whoever sent it learns nothing.
    if ('rejected' in opened) return this.refuse(opened.rejected);
    let request: PeerRequest;
    try {
      request = PeerRequest.decode(opened.payload);
    } catch {
      this.drop('undecodable');
      return;
    }
    if (
      opened.sender !== undefined &&
      (opened.sender !== request.from || opened.clusterId !== request.clusterId)
    )
      return this.reject('sender-mismatch', opened.sender);
    if (!opened.accept()) return this.reject('replay', opened.sender);
    const reply = (response: PeerResponse): void =>
      respond(this.seals.seal('response', request.from, PeerResponse.encode(response), request.clusterId));
    // Only the member list may be asked by one who does not know the cluster yet: a joining member.
    const anyCluster = request.clusterId === 0n && request.memberList !== undefined;
    if (request.clusterId !== this.options.clusterId && !anyCluster) {
      this.drop('other-cluster');
      return reply({ error: 'request for another cluster' });
    }
    if (this.receiver?.isIdRemoved(request.from)) {
      this.drop('removed-member');
      return reply({ error: 'the member has been permanently removed from the cluster' });
    }
    const handler = this.handler;
    if (handler === undefined) return reply({ error: 'etcdserver: not capable' });
    reply(await handler.handle(request).catch((err: unknown) => ({ error: errorText(err) })));
  }

  private onPayload(data: Uint8Array): void {
    const opened = this.seals.open('frame', data);
    if ('rejected' in opened) return this.refuse(opened.rejected);
    let frame: PeerFrame;
    try {
      frame = PeerFrame.decode(opened.payload);
    } catch {
      this.drop('undecodable');
      return;
    }
    if (opened.sender !== undefined && opened.sender !== frame.from)
      return this.reject('sender-mismatch', opened.sender);
    if (!opened.accept()) return this.reject('replay', opened.sender);
    if (frame.clusterId !== this.options.clusterId) return this.drop('other-cluster');
    if (frame.to !== this.options.memberId) return this.drop('not-addressed-here');
    const receiver = this.receiver;
    if (receiver === undefined) return;
    if (receiver.isIdRemoved(frame.from)) {
      this.drop('removed-member');
      this.tellRemoved(frame.from);
      return;
    }
    this.heard(frame.from, data.length);
    if (frame.fragment) {
      const { frame: whole, dropped } = this.reassembler.accept(frame.from, frame.fragment);
      if (dropped) this.drop(dropped);
      if (whole) this.onFrame(whole);
      return;
    }
    this.onFrame(frame);
  }

  private onFrame(frame: PeerFrame): void {
    if (frame.batch) {
      for (const m of frame.batch.messages) {
        if (m.from !== frame.from || m.to !== frame.to || m.type === MessageType.MsgSnap) {
          // A snapshot travels only as a transfer, with its state; a message claiming another sender is forged.
          this.drop('malformed');
          continue;
        }
        if (m.type === MessageType.MsgHeartbeatResp) this.answered(m.from);
        this.deliver(m);
      }
    } else if (frame.snapshotChunk) {
      this.snapshots.accept(frame.from, frame.snapshotChunk);
    } else if (frame.snapshotAck) {
      this.onSnapshotAck(frame.from, frame.snapshotAck);
    } else if (frame.removed) {
      this.receiver?.removedFromCluster(frame.from);
    }
  }

  private onSnapshotAck(from: bigint, ack: SnapshotAck): void {
    this.peers.get(from)?.snapshot?.onAck(ack);
  }

  private deliver(m: Message): void {
    try {
      this.receiver?.process(m);
    } catch (err) {
      this.drop('rejected-by-raft');
      this.options.logger.debug(
        { err, from: m.from.toString(16), type: MessageType[m.type] },
        'raft refused a peer message',
      );
    }
  }

  /** Tells a removed member so, at most once per interval: it may send many messages before it hears. */
  private tellRemoved(to: bigint): void {
    const now = performance.now();
    if (now - (this.removedToldAt.get(to) ?? -Infinity) < REMOVED_NOTICE_EVERY_MS) return;
    this.removedToldAt.set(to, now);
    this.publish(to, { removed: {} });
  }

  /** A heartbeat's answer: the time since the oldest unanswered one is the round trip through NATS and back. */
  private answered(from: bigint): void {
    const peer = this.peers.get(from);
    if (peer?.heartbeatSentAt === undefined) return;
    this.options.metrics.roundTripSeconds.observe(
      { To: peer.hex },
      (performance.now() - peer.heartbeatSentAt) / 1000,
    );
    peer.heartbeatSentAt = undefined;
  }

  private unreachable(to: bigint): void {
    this.receiver?.reportUnreachable(to);
  }

  private heard(from: bigint, bytes: number): void {
    const peer = this.peers.get(from);
    const hex = from.toString(16);
    this.options.metrics.receivedBytes.inc({ From: hex }, bytes);
    if (peer === undefined) return;
    peer.lastHeard = performance.now();
    if (!peer.active) {
      peer.active = true;
      this.options.metrics.activePeers.set({ Local: this.selfHex, Remote: hex }, 1);
      this.options.logger.info({ peer: hex }, 'peer became active');
    }
  }

  private checkPeers(): void {
    const now = performance.now();
    for (const peer of this.peers.values()) {
      if (!peer.active || now - peer.lastHeard < this.options.peerInactiveMs) continue;
      peer.active = false;
      this.options.metrics.activePeers.set({ Local: this.selfHex, Remote: peer.hex }, 0);
      this.options.metrics.disconnectedPeers.inc({ Local: this.selfHex, Remote: peer.hex });
      this.options.logger.warn(
        { peer: peer.hex, 'silent-ms': Math.round(now - peer.lastHeard) },
        'peer became inactive (nothing heard from it)',
      );
    }
  }

  private drop(reason: DropReason): void {
    this.options.metrics.droppedMessages.inc({ reason });
  }

  /** The payload of a message received as `kind` (from `expectedSender` when known), or undefined if it is refused. */
  private opened(kind: PeerMessageKind, data: Uint8Array, expectedSender: bigint): Uint8Array | undefined {
    const opened = this.seals.open(kind, data);
    if ('rejected' in opened) {
      this.refuse(opened.rejected);
      return undefined;
    }
    if (opened.sender !== undefined && opened.sender !== expectedSender) {
      this.reject('sender-mismatch', opened.sender);
      return undefined;
    }
    if (!opened.accept()) {
      this.reject('replay', opened.sender);
      return undefined;
    }
    return opened.payload;
  }

  /** An envelope that is no envelope is dropped as any undecodable message; the rest failed the seal. */
  private refuse(reason: RejectReason): void {
    if (reason === 'undecodable') this.drop('undecodable');
    else this.reject(reason, undefined);
  }

  /** Counts a message that failed the seal's checks; says why in the log, now and then. */
  private reject(reason: Exclude<RejectReason, 'undecodable'>, sender: bigint | undefined): void {
    this.options.metrics.rejectedMessages.inc({ reason });
    const key = `${reason}/${sender ?? ''}`;
    const now = performance.now();
    if (now - (this.rejectLoggedAt.get(key) ?? -Infinity) < REJECT_LOG_EVERY_MS) return;
    this.rejectLoggedAt.set(key, now);
    this.options.logger.warn(
      { reason, ...(sender !== undefined ? { sender: sender.toString(16) } : {}) },
      `${REJECT_TEXT[reason]}; dropped (counted in xetcd_peer_rejected_messages_total)`,
    );
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
