import { MemoryStorage } from '../../src/raft/memoryStorage.js';
import { RaftNode } from '../../src/raft/raftNode.js';
import type { Ready } from '../../src/raft/ready.js';
import { ConfState, HardState, Snapshot, SnapshotMetadata } from '../../src/proto/raftpb.js';
import { App } from './app.js';
import { LogView } from './logView.js';
import { Rng } from '../../src/raft/rng.js';
import type { SimConfig } from './schedule.js';

/** Readies a node has in flight at most (the server's RaftLoop allows more; a few show every interleaving). */
const MAX_PIPELINE = 4;

/**
 * A Ready handed out and not yet advanced; `persisted` once its durable part
 * is on disk, `sent` once its messages left (a leader's leave as it is handed
 * out, before its write: sendsBeforeWrite).
 */
export interface Outstanding {
  rd: Ready;
  persisted: boolean;
  sent: boolean;
}

/** What the simulator last saw of a running node (per incarnation: a restart forgets it). */
export interface Observed {
  term: number;
  commit: number;
  role: string;
  vote: bigint;
  /** While leader: what was committed in earlier terms when it became leader (what Leader Completeness owes). */
  leaderFloor: number;
}

/**
 * One simulated member: a RaftNode over a MemoryStorage that plays the disk,
 * and the application. The MemoryStorage only ever holds what was persisted:
 * entries, hard state and snapshots are written to it by `persist` events,
 * never earlier, so a crash (dropping the RaftNode and the outstanding Readies)
 * loses exactly what a power loss would. The application is on disk as well
 * (see App). A restart builds a fresh RaftNode, and so a fresh role machine,
 * from that disk alone.
 */
export class SimNode {
  readonly id: number;
  readonly bid: bigint;
  /** Whether the process ever ran (spare nodes start when a change adds them). */
  started = false;
  up = false;
  paused = false;
  incarnation = 0;
  disk: MemoryStorage;
  diskHard: HardState;
  app: App;
  raft: RaftNode | undefined;
  /** The log as handed out in Readies (the disk plus the outstanding Readies' entries). */
  memView: LogView;
  /** The log on disk. */
  diskView: LogView;
  /**
   * Readies handed out and not yet advanced, oldest first: written, applied
   * and advanced in that order. A leader whose Readies all went out before
   * their writes may take more while they are under way (as the server's
   * RaftLoop pipelines them); anyone else has at most one.
   */
  outstanding: Outstanding[] = [];
  /** How far committed entries were handed to the application in this incarnation (the core's applied). */
  appliedCursor = 0;
  /** How far committed entries were handed out in Readies in this incarnation (ahead of appliedCursor while pipelining). */
  handedCursor = 0;
  /** The commit index of the last hard state handed out in this incarnation. */
  knownCommit = 0;
  observed: Observed | undefined;
  /** Snapshot reports that arrived while the process was paused: it hears them when it resumes. */
  pendingSnapshotReports: { to: bigint; status: 'finish' | 'failure' }[] = [];

  constructor(id: number, disk: MemoryStorage, app: App, view: LogView) {
    this.id = id;
    this.bid = BigInt(id);
    this.disk = disk;
    this.diskHard = disk.initialState().hardState;
    this.app = app;
    this.memView = view.clone();
    this.diskView = view;
  }

  get running(): boolean {
    return this.up && !this.paused;
  }

  /**
   * Whether another Ready may be handed out now, as the server's RaftLoop
   * takes them: any role pipelines up to MAX_PIPELINE (a Ready whose messages
   * wait for its write sends them once that write and every earlier one landed),
   * and nothing is taken past a snapshot until it is applied.
   */
  get mayTakeReady(): boolean {
    return (
      this.outstanding.length < MAX_PIPELINE &&
      !this.outstanding.some((o) => o.rd.snapshot !== undefined && (o.rd.snapshot.metadata?.index ?? 0) > 0)
    );
  }

  /** The oldest Ready whose write has not landed. */
  get unpersisted(): Outstanding | undefined {
    return this.outstanding.find((o) => !o.persisted);
  }

  /** The RaftNode, which only a running process has. */
  get core(): RaftNode {
    if (this.raft === undefined) throw new Error(`node ${this.id} is not running`);
    return this.raft;
  }

  /** Starts the process from its disk: a fresh RaftNode and a fresh role machine. */
  boot(cfg: SimConfig): void {
    // The core gets its own copy of the disk's contents, so nothing it does to
    // its storage object can survive a crash that the disk did not see.
    const storage = copyStorage(this.disk);
    this.disk = storage;
    const snap = storage.snapshot();
    const snapIndex = snap.metadata?.index ?? 0;
    if (snapIndex > this.app.applied && snap.data.length > 0) {
      // The snapshot reached the disk but the crash came before the application restored it.
      this.app.restore(snap.data, snap.metadata?.confState ?? ConfState.create());
    }
    // The core's configuration at boot is the snapshot's; the application
    // re-applies configuration entries after it (as etcd's server does).
    this.app.confState = storage.initialState().confState;
    this.incarnation++;
    const random = Rng.derive(cfg.seed, this.id, this.incarnation);
    this.raft = new RaftNode({
      id: this.bid,
      storage,
      electionTick: cfg.electionTick,
      heartbeatTick: cfg.heartbeatTick,
      applied: snapIndex,
      maxSizePerMsg: cfg.maxSizePerMsg,
      maxInflightMsgs: cfg.maxInflightMsgs,
      checkQuorum: cfg.checkQuorum,
      preVote: cfg.preVote,
      readOnlyOption: cfg.leaseReads === true ? 'leaseBased' : 'safe',
      random: () => random.next(),
    });
    this.started = true;
    this.up = true;
    this.paused = false;
    this.outstanding = [];
    this.appliedCursor = snapIndex;
    this.handedCursor = snapIndex;
    this.knownCommit = this.diskHard.commit;
    this.memView = this.diskView.clone();
    this.observed = undefined;
  }

  /** Power loss: the process and everything not yet persisted are gone. */
  crash(): void {
    this.raft = undefined;
    this.up = false;
    this.paused = false;
    this.outstanding = [];
    this.memView = this.diskView.clone();
    this.observed = undefined;
    this.pendingSnapshotReports = [];
  }
}

/** A MemoryStorage holding the same snapshot, entries and hard state as `from`. */
export function copyStorage(from: MemoryStorage): MemoryStorage {
  const to = new MemoryStorage();
  const snap = from.snapshot();
  if ((snap.metadata?.index ?? 0) > 0) to.applySnapshot(snap);
  // Index 0 is a new cluster's configuration, where RaftNode.bootstrap put it.
  else to.snapshot().metadata = snap.metadata;
  const first = from.firstIndex();
  const last = from.lastIndex();
  if (last >= first) to.append(from.entries(first, last + 1, Number.MAX_SAFE_INTEGER));
  to.setHardState(from.initialState().hardState);
  return to;
}

/**
 * The disk every initial member starts with: a snapshot at index 1, term 1 of
 * an empty application, whose configuration has the given voters and learners
 * (how etcd's raft tests seed a cluster, and the only way to start with learners).
 */
export function bootstrapDisk(voters: bigint[], learners: bigint[], appData: Uint8Array): MemoryStorage {
  const ms = new MemoryStorage();
  ms.applySnapshot(
    Snapshot.create({
      data: appData,
      metadata: SnapshotMetadata.create({
        index: 1,
        term: 1,
        confState: ConfState.create({ voters, learners }),
      }),
    }),
  );
  ms.setHardState(HardState.create({ term: 1, vote: 0n, commit: 1 }));
  return ms;
}
