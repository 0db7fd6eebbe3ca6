/**
 * The seam between a member and the road its Raft messages travel (etcd's
 * rafthttp.Transporter and rafthttp.Raft). Both halves are interfaces so the
 * server runs the same over NATS, over the in-process loopback of a
 * one-member cluster, and under a simulated network in tests.
 *
 * The road is lossy by contract: `send` never reports whether a message
 * arrived. Raft retransmits what matters; the transport only tells Raft what
 * it learns for certain (a peer it cannot reach, a snapshot that did or did
 * not arrive).
 */
import type { Message } from '../proto/raftpb.js';

/** A peer as the transport needs to know it: its member ID and where it listens for peers. */
export interface PeerAddress {
  readonly id: bigint;
  readonly peerUrls: readonly string[];
}

/** Outbound: how the server hands Raft's messages to the road (etcd's Transporter). */
export interface Transport {
  /** Starts delivering: inbound messages reach the receiver from here on. */
  start(receiver: RaftReceiver): Promise<void>;
  /** Sends a Ready's messages; best effort, in order per peer, never blocking the caller. */
  send(messages: readonly Message[]): void;
  /** Starts reaching a peer; adding one already known updates where it listens (etcd's UpdatePeer). */
  addPeer(peer: PeerAddress): void;
  removePeer(id: bigint): void;
  /** Stops sending and receiving; messages in flight may be lost. */
  stop(): Promise<void>;
}

/** Inbound: what the transport hands to the server (etcd's rafthttp.Raft). */
export interface RaftReceiver {
  /** A message from a peer, already decoded and addressed to this member. */
  process(message: Message): void;
  /** A removed member's messages are dropped before they reach Raft. */
  isIdRemoved(id: bigint): boolean;
  /** The transport could not deliver to the peer: Raft stops optimistic replication to it. */
  reportUnreachable(id: bigint): void;
  /** A snapshot sent to the peer arrived whole ('finish') or did not ('failure'). */
  reportSnapshot(id: bigint, status: 'finish' | 'failure'): void;
}
