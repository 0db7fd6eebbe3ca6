import { Subject, type Observable, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { MemoryStorage } from '../raft/memoryStorage.js';
import type { RaftNode } from '../raft/raftNode.js';
import type { ReadState, Ready, SoftState } from '../raft/ready.js';
import type { RaftLogStore } from '../storage/raftLogStore.js';
import type { Message, Snapshot, Entry } from '../proto/raftpb.js';

/** Where the loop hands committed work: the applier. */
export interface ApplyTarget {
  applySnapshot(snapshot: Snapshot): Promise<void>;
  applyEntries(entries: Entry[]): Promise<void>;
}

export interface PeerSender {
  send(messages: Message[]): void;
}

export interface RaftLoopTimings {
  /** Milliseconds per Raft tick: etcd's --heartbeat-interval (a heartbeat every tick). */
  tickMs: number;
}

/**
 * Drives the Raft core (etcd's raftNode.start goroutine): ticks it on a timer
 * and works off its Ready batches one at a time, in the only safe order:
 * persist (synced) → send → apply → advance. Nothing a message depends on
 * leaves before it is durable; nothing is applied before it is durable here.
 */
export class RaftLoop {
  readonly readState$: Observable<ReadState>;
  readonly softState$: Observable<SoftState>;
  /** Fails the member: the log could not be made durable, so it must not go on. */
  readonly fatal$: Observable<Error>;
  private readonly readStates = new Subject<ReadState>();
  private readonly softStates = new Subject<SoftState>();
  private readonly fatals = new Subject<Error>();
  private timer: NodeJS.Timeout | undefined;
  private readySub: Subscription | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly raft: RaftNode,
    private readonly memory: MemoryStorage,
    private readonly log: RaftLogStore,
    private readonly peers: PeerSender,
    private readonly applier: ApplyTarget,
    private readonly timings: RaftLoopTimings,
    private readonly logger: Logger,
    private readonly onPersisted: (durationMs: number) => void = () => undefined,
  ) {
    this.readState$ = this.readStates.asObservable();
    this.softState$ = this.softStates.asObservable();
    this.fatal$ = this.fatals.asObservable();
  }

  start(): void {
    this.timer = setInterval(() => {
      this.raft.tick();
      this.kick();
    }, this.timings.tickMs);
    this.readySub = this.raft.ready$.subscribe(() => this.kick());
    this.kick();
  }

  /** Processes Readies until there are none; safe to call at any time. */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (!this.stopped && this.raft.hasReady()) this.kick();
    });
  }

  /** Stops ticking and waits for the Ready in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.readySub?.unsubscribe();
    await this.running;
    this.readStates.complete();
    this.softStates.complete();
    this.fatals.complete();
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && this.raft.hasReady()) await this.handle(this.raft.ready());
    } catch (err) {
      this.stopped = true;
      if (this.timer) clearInterval(this.timer);
      this.logger.fatal({ err }, 'raft loop failed; the member stops');
      this.fatals.next(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async handle(rd: Ready): Promise<void> {
    if (rd.softState) this.softStates.next(rd.softState);
    // Committed entries are durable already, so applying them need not wait for
    // this Ready's own write: the two overlap (etcd applies on its own goroutine
    // too). A snapshot replaces the state machine, so it goes strictly in order.
    const applying = rd.snapshot ? undefined : this.applyCommitted(rd);
    try {
      await this.persist(rd);
    } finally {
      await applying?.catch(() => undefined);
    }
    if (rd.messages.length > 0) this.peers.send(rd.messages);
    for (const rs of rd.readStates) this.readStates.next(rs);
    await (applying ?? this.applyCommitted(rd));
    this.raft.advance(rd);
  }

  private async persist(rd: Ready): Promise<void> {
    if (!rd.hardState && rd.entries.length === 0 && !rd.snapshot) return;
    const started = performance.now();
    await this.log.save(rd, { sync: rd.mustSync });
    if (rd.mustSync) this.onPersisted(performance.now() - started);
    if (rd.snapshot) this.memory.applySnapshot(rd.snapshot);
    if (rd.hardState) this.memory.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.memory.append(rd.entries);
  }

  private async applyCommitted(rd: Ready): Promise<void> {
    if (rd.snapshot) await this.applier.applySnapshot(rd.snapshot);
    if (rd.committedEntries.length > 0) await this.applier.applyEntries(rd.committedEntries);
  }
}
