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
import type { PeerRequest, PeerResponse } from '../proto/xetcdpb.js';

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
  /**
   * Sends a snapshot with the application state it stands for; the outcome
   * reaches Raft through the receiver's reportSnapshot.
   */
  sendSnapshot(snapshot: OutgoingSnapshot): void;
  /**
   * Asks one peer what etcd's members ask over peer HTTP (lease renewals and
   * TTLs to the leader, HashKV); rejects when no answer comes within timeoutMs.
   */
  request(to: bigint, request: PeerRequest, timeoutMs: number): Promise<PeerResponse>;
  /** Answers peers' requests with `handler` from now on. */
  serve(handler: PeerRequestHandler): void;
  /** Starts reaching a peer; adding one already known updates where it listens (etcd's UpdatePeer). */
  /** Whether the peer was heard from lately (etcd's ActiveSince is set). */
  isActive(id: bigint): boolean;
  addPeer(peer: PeerAddress): void;
  removePeer(id: bigint): void;
  /** Stops sending and receiving; messages in flight may be lost. */
  stop(): Promise<void>;
}

/** A MsgSnap and the application state that goes with it (etcd's snap.Message). */
export interface OutgoingSnapshot {
  readonly message: Message;
  /** The state, read once. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Releases what the body reads from; called once the transfer ended, either way. */
  close(): Promise<void>;
}

/** Inbound: what the transport hands to the server (etcd's rafthttp.Raft). */
export interface RaftReceiver {
  /**
   * A message from a peer, already decoded and addressed to this member. For a
   * MsgSnap, the application state is already durable where
   * snapshotStatePath(snapshotDir, index) says.
   */
  process(message: Message): void;
  /** A removed member's messages are dropped before they reach Raft. */
  isIdRemoved(id: bigint): boolean;
  /** The transport could not deliver to the peer: Raft stops optimistic replication to it. */
  reportUnreachable(id: bigint): void;
  /** A snapshot sent to the peer arrived whole ('finish') or did not ('failure'). */
  reportSnapshot(id: bigint, status: 'finish' | 'failure'): void;
  /** A member of the cluster says this one was removed from it (etcd's 410 Gone). */
  removedFromCluster(by: bigint): void;
}

/** What a member answers its peers' requests with (etcd's peer HTTP handlers). */
export interface PeerRequestHandler {
  handle(request: PeerRequest): Promise<PeerResponse>;
}
