/**
 * An in-process road: members of one process reach each other through a
 * shared hub (a one-member cluster, and tests that run several members in one
 * process). Delivery is asynchronous, as on a real network, so a receiver
 * never steps a message inside the sender's call.
 */
import type { Message } from '../proto/raftpb.js';
import type { PeerAddress, RaftReceiver, Transport } from './transport.js';

/** Who is reachable in one process; each member's LoopbackTransport registers here. */
export class LoopbackHub {
  private readonly receivers = new Map<bigint, RaftReceiver>();

  register(id: bigint, receiver: RaftReceiver): void {
    this.receivers.set(id, receiver);
  }

  unregister(id: bigint): void {
    this.receivers.delete(id);
  }

  receiverOf(id: bigint): RaftReceiver | undefined {
    return this.receivers.get(id);
  }
}

export class LoopbackTransport implements Transport {
  private readonly peers = new Set<bigint>();
  private receiver: RaftReceiver | undefined;

  constructor(
    private readonly id: bigint,
    private readonly hub: LoopbackHub = new LoopbackHub(),
  ) {}

  async start(receiver: RaftReceiver): Promise<void> {
    this.receiver = receiver;
    this.hub.register(this.id, receiver);
  }

  send(messages: readonly Message[]): void {
    if (this.receiver === undefined) return;
    const local = this.receiver;
    for (const m of messages) {
      const target = this.peers.has(m.to) ? this.hub.receiverOf(m.to) : undefined;
      if (target === undefined) {
        local.reportUnreachable(m.to);
        continue;
      }
      queueMicrotask(() => {
        if (target.isIdRemoved(m.from)) return;
        target.process(m);
      });
    }
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
}
