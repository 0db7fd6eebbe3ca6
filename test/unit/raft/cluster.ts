import {
  ConfChange,
  ConfChangeV2,
  ConfState,
  EntryType,
  MessageType,
  type Entry,
  type Message,
} from '../../../src/proto/raftpb.js';
import { seededRandom } from '../../../src/raft/rng.js';
import { ConfChangeError } from '../../../src/raft/errors.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode, type RaftConfig } from '../../../src/raft/raftNode.js';
import type { Ready } from '../../../src/raft/ready.js';

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

/** One test member: a RaftNode over a MemoryStorage playing the disk, and the entries it applied. */
export class TestNode {
  raft: RaftNode;
  applied: Entry[] = [];
  /** The configuration as of the last applied entry. */
  confState: ConfState = ConfState.create();
  /** Conf changes the core refused at apply time. */
  refusedConfChanges: string[] = [];
  private seed: number;
  constructor(
    readonly id: bigint,
    readonly storage: MemoryStorage,
    readonly opts: NodeOptions,
    seed: number,
  ) {
    this.seed = seed;
    this.raft = this.boot(seed);
  }

  /** A crash and restart: a fresh RaftNode from what storage holds; the application replays from the snapshot. */
  restart(): RaftNode {
    this.raft.stop();
    this.applied = [];
    this.seed += 1000;
    return this.boot(this.seed);
  }

  /** Applies committed entries as a server does, including configuration changes. */
  apply(ents: readonly Entry[]): void {
    for (const e of ents) {
      this.applied.push(e);
      if (e.type === EntryType.EntryNormal) continue;
      const cc =
        e.type === EntryType.EntryConfChange ? ConfChange.decode(e.data) : ConfChangeV2.decode(e.data);
      try {
        this.confState = this.raft.applyConfChange(cc);
      } catch (err) {
        if (!(err instanceof ConfChangeError)) throw err;
        this.refusedConfChanges.push(err.message);
      }
    }
  }

  boot(seed: number): RaftNode {
    this.raft = new RaftNode({
      id: this.id,
      storage: this.storage,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(seed),
      ...this.opts,
    });
    return this.raft;
  }
}

/**
 * An in-memory cluster for scenario tests: messages are collected from each
 * Ready and delivered by the test (all, or filtered), as in etcd's raft
 * network tests. Persisting a Ready = appending it to the MemoryStorage.
 */
export class Cluster {
  nodes = new Map<bigint, TestNode>();
  /** Messages sent and not yet delivered, in order. */
  inflight: Message[] = [];
  /** Links that drop everything: "from->to". */
  cut = new Set<string>();
  /** Nodes whose disk is stalled: their Readies are not processed (nothing persisted, nothing sent). */
  stalled = new Set<bigint>();
  /** Message types dropped everywhere. */
  dropTypes = new Set<MessageType>();

  constructor(
    ids: bigint[],
    readonly opts: NodeOptions = {},
    learners: bigint[] = [],
    perNode: Map<bigint, MemoryStorage> = new Map(),
  ) {
    for (const id of [...ids, ...learners]) {
      let storage = perNode.get(id);
      if (!storage) {
        storage = new MemoryStorage();
        RaftNode.bootstrap(storage, ids, learners);
      }
      // Per-node seeds whose election jitters differ in the scripted scenarios: two followers
      // timing out on the same tick split the vote, which Raft allows (the simulation covers it)
      // but which the scenarios' "a leader within one election timeout" does not script.
      this.nodes.set(id, new TestNode(id, storage, opts, Number(id) * 104729));
    }
  }

  /** Starts a node that is not (yet) in the configuration it boots with, with an empty log. */
  addNode(id: bigint, voters: bigint[], opts: NodeOptions = this.opts): TestNode {
    const storage = new MemoryStorage();
    RaftNode.bootstrap(storage, voters);
    const n = new TestNode(id, storage, opts, Number(id) * 104729);
    this.nodes.set(id, n);
    return n;
  }

  node(id: bigint): TestNode {
    return this.nodes.get(id)!;
  }

  raft(id: bigint): RaftNode {
    return this.node(id).raft;
  }

  /** Processes one node's Ready: persist, queue messages, apply, advance. Returns it. */
  processReady(id: bigint): Ready | undefined {
    const n = this.node(id);
    if (this.stalled.has(id) || !n.raft.hasReady()) return undefined;
    const rd = n.raft.ready();
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.inflight.push(m);
    n.apply(rd.committedEntries);
    n.raft.advance(rd);
    return rd;
  }

  processAllReadies(): void {
    for (const id of this.nodes.keys())
      while (this.processReady(id)) {
        /* drain */
      }
  }

  /** Delivers queued messages (those passing filter) until the network is quiet. */
  stabilize(filter: (m: Message) => boolean = () => true, maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      this.processAllReadies();
      if (this.inflight.length === 0) return;
      const batch = this.inflight;
      this.inflight = [];
      for (const m of batch) this.deliver(m, filter);
    }
    throw new Error('cluster did not stabilize');
  }

  deliver(m: Message, filter: (m: Message) => boolean = () => true): void {
    if (!filter(m)) return;
    if (this.cut.has(`${m.from}->${m.to}`) || this.dropTypes.has(m.type)) return;
    const to = this.nodes.get(m.to);
    if (!to) return;
    try {
      to.raft.step(m);
    } catch (err) {
      if ((err as Error).name === 'StepPeerNotFoundError') return;
      throw err;
    }
  }

  /** Takes (and removes) the queued messages, after processing every Ready. */
  takeMessages(): Message[] {
    this.processAllReadies();
    const out = this.inflight;
    this.inflight = [];
    return out;
  }

  isolate(id: bigint): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
    this.dropTypes.clear();
  }

  /** Makes id campaign and delivers everything. */
  elect(id: bigint): void {
    this.raft(id).campaign();
    this.stabilize();
  }

  leader(): bigint | undefined {
    for (const [id, n] of this.nodes) if (n.raft.status().role === 'leader') return id;
    return undefined;
  }

  logOf(id: bigint): Array<[number, number]> {
    const s = this.node(id).storage;
    const out: Array<[number, number]> = [];
    for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push([i, s.term(i)]);
    return out;
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
