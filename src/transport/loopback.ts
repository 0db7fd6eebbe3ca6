/**
 * An in-process road: members of one process reach each other through a
 * shared hub (a one-member cluster, and tests that run several members in one
 * process). Delivery is asynchronous, as on a real network, so a receiver
 * never steps a message inside the sender's call.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Message } from '../proto/raftpb.js';
import { snapshotStatePath } from './snapshotReceiver.js';
import type { PeerRequest, PeerResponse } from '../proto/xetcdpb.js';
import type {
  OutgoingSnapshot,
  PeerAddress,
  PeerRequestHandler,
  RaftReceiver,
  Transport,
} from './transport.js';

interface Endpoint {
  readonly receiver: RaftReceiver;
  readonly snapshotDir: string | undefined;
  handler: PeerRequestHandler | undefined;
}

/** Who is reachable in one process; each member's LoopbackTransport registers here. */
export class LoopbackHub {
  private readonly endpoints = new Map<bigint, Endpoint>();

  register(id: bigint, endpoint: Endpoint): void {
    this.endpoints.set(id, endpoint);
  }

  unregister(id: bigint): void {
    this.endpoints.delete(id);
  }

  endpointOf(id: bigint): Endpoint | undefined {
    return this.endpoints.get(id);
  }
}

export class LoopbackTransport implements Transport {
  private readonly peers = new Set<bigint>();
  private receiver: RaftReceiver | undefined;
  private handler: PeerRequestHandler | undefined;

  /** snapshotDir: where snapshots sent to this member leave their state (none: it cannot take one). */
  constructor(
    private readonly id: bigint,
    private readonly hub: LoopbackHub = new LoopbackHub(),
    private readonly snapshotDir?: string,
  ) {}

  async start(receiver: RaftReceiver): Promise<void> {
    this.receiver = receiver;
    this.hub.register(this.id, { receiver, snapshotDir: this.snapshotDir, handler: this.handler });
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const target = this.targetOf(m.to);
      if (target === undefined) continue;
      queueMicrotask(() => {
        if (!target.receiver.isIdRemoved(m.from)) target.receiver.process(m);
        else this.receiver?.removedFromCluster(m.to);
      });
    }
  }

  sendSnapshot(snapshot: OutgoingSnapshot): void {
    const { message } = snapshot;
    const target = this.targetOf(message.to);
    const dir = target?.snapshotDir;
    const index = message.snapshot?.metadata?.index ?? 0;
    const delivered =
      target === undefined || dir === undefined
        ? Promise.reject(new Error('peer cannot take a snapshot'))
        : writeState(dir, index, snapshot.body).then(() => target.receiver.process(message));
    void delivered
      .then(
        () => 'finish' as const,
        () => 'failure' as const,
      )
      .then(async (status) => {
        await snapshot.close().catch(() => undefined);
        this.receiver?.reportSnapshot(message.to, status);
      });
  }

  async request(to: bigint, request: PeerRequest, _timeoutMs: number): Promise<PeerResponse> {
    const handler = this.peers.has(to) ? this.hub.endpointOf(to)?.handler : undefined;
    if (handler === undefined) throw new Error(`peer ${to.toString(16)} is not reachable`);
    return handler.handle({ ...request, from: this.id });
  }

  serve(handler: PeerRequestHandler): void {
    this.handler = handler;
    const endpoint = this.hub.endpointOf(this.id);
    if (endpoint) endpoint.handler = handler;
  }

  isActive(id: bigint): boolean {
    return this.peers.has(id) && this.hub.endpointOf(id) !== undefined;
  }

  addPeer(peer: PeerAddress): void {
    if (peer.id !== this.id) this.peers.add(peer.id);
  }

  removePeer(id: bigint): void {
    this.peers.delete(id);
  }

  async stop(): Promise<void> {
    this.hub.unregister(this.id);
    this.receiver = undefined;
  }

  /** The peer's endpoint, or undefined after telling Raft it cannot be reached. */
  private targetOf(to: bigint): Endpoint | undefined {
    const target = this.peers.has(to) ? this.hub.endpointOf(to) : undefined;
    if (target === undefined) this.receiver?.reportUnreachable(to);
    return target;
  }
}

async function writeState(dir: string, index: number, body: AsyncIterable<Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const path = snapshotStatePath(dir, index);
  await pipeline(Readable.from(body), createWriteStream(`${path}.tmp`));
  await rename(`${path}.tmp`, path);
}
