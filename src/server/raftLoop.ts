import { Subject, type Observable, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { MemoryStorage } from '../raft/memoryStorage.js';
import type { RaftNode } from '../raft/raftNode.js';
import {
  sendsBeforeWrite,
  type Ballot,
  type RaftRole,
  type ReadState,
  type Ready,
  type SoftState,
} from '../raft/ready.js';
import type { RaftLogStore } from '../storage/raftlog/store.js';
import type { Snapshot, Entry } from '../proto/raftpb.js';
import type { Transport } from '../transport/transport.js';

/** Where the loop hands committed work: the applier. */
export interface ApplyTarget {
  applySnapshot(snapshot: Snapshot): Promise<void>;
  applyEntries(entries: Entry[]): Promise<void>;
}

export interface RaftLoopTimings {
  /** Milliseconds per Raft tick: etcd's --heartbeat-interval (a heartbeat every tick). */
  tickMs: number;
}

/** Readies in flight at once: enough to keep the disk busy, few enough to bound memory. */
const MAX_READIES_IN_FLIGHT = 8;

/**
 * Drives the Raft core (etcd's raftNode.start goroutine): ticks it on a timer
 * and works off its Ready batches. Each Ready goes through, in this order:
 * persist (synced) → send → apply → advance, so nothing a message depends on
 * leaves before it is durable; a leader's messages, which depend on no more
 * than its term, leave as its write starts instead (sendsBeforeWrite), so that
 * its disk and the followers' work at once. Readies are pipelined: while one
 * is being written the next is taken and queued behind it (the log store writes
 * in call order and groups queued writes into one sync), messages leave Ready
 * by Ready in order, committed entries are applied in order, and advance() is
 * called for each Ready in order once its write is durable.
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
  private inFlight = 0;
  /** Tails of the three ordered chains every Ready joins. */
  private persisted: Promise<void> = Promise.resolve();
  private sent: Promise<void> = Promise.resolve();
  private applied: Promise<void> = Promise.resolve();
  private advanced: Promise<void> = Promise.resolve();
  /** The role and the term and vote as of the last Ready taken. */
  private role: RaftRole;
  private ballot: Ballot;
  /** The term and vote the writes done so far left on disk. */
  private durable: Ballot;
  private stopped = false;
  private failed = false;
  private kickScheduled = false;

  constructor(
    private readonly raft: RaftNode,
    private readonly memory: MemoryStorage,
    private readonly log: RaftLogStore,
    private readonly transport: Pick<Transport, 'send'>,
    private readonly applier: ApplyTarget,
    private readonly timings: RaftLoopTimings,
    private readonly logger: Logger,
    private readonly onPersisted: (durationMs: number, rd: Ready) => void = () => undefined,
  ) {
    this.readState$ = this.readStates.asObservable();
    this.softState$ = this.softStates.asObservable();
    this.fatal$ = this.fatals.asObservable();
    this.role = raft.currentRole;
    this.durable = memory.initialState().hardState;
    this.ballot = this.durable;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.raft.tick();
      this.kick();
    }, this.timings.tickMs);
    this.readySub = this.raft.ready$.subscribe(() => this.kick());
    this.kick();
  }

  /**
   * Asks for the Readies there are to be taken, once the current turn of the
   * event loop is over: proposals that arrive together (a burst of requests
   * read in one go) then share one Ready and one synced write.
   */
  kick(): void {
    if (this.kickScheduled || this.stopped) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.take();
    });
  }

  /** Takes every Ready there is, up to the pipeline's depth. */
  private take(): void {
    while (!this.stopped && this.inFlight < MAX_READIES_IN_FLIGHT && this.raft.hasReady()) {
      const rd = this.raft.ready();
      this.inFlight++;
      this.launch(rd);
      // A snapshot replaces the state machine: nothing may overtake it.
      if (rd.snapshot) break;
    }
  }

  private stopping: Promise<void> | undefined;

  /** Stops ticking and waits for the Readies in flight to finish. Every call awaits the same stop. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.readySub?.unsubscribe();
    await this.advanced;
    this.readStates.complete();
    this.softStates.complete();
    this.fatals.complete();
  }

  private launch(rd: Ready): void {
    if (rd.softState) {
      this.role = rd.softState.role;
      this.softStates.next(rd.softState);
    }
    if (rd.hardState) this.ballot = rd.hardState;
    // Read before this Ready's own write can change what is durable.
    const early = sendsBeforeWrite(rd, this.role, this.ballot, this.durable);
    // The write is issued now: the log store lands writes in call order and
    // groups those queued behind the one in flight into a single synced batch.
    const written = this.write(rd);
    const persisted = Promise.all([written, this.persisted]).then(() => this.remember(rd));
    this.persisted = persisted.catch(() => undefined);
    const sent = (early ? this.sent : Promise.all([persisted, this.sent])).then(() => {
      if (this.failed) throw new Error('raft loop stopped after a failure');
      if (rd.messages.length > 0) this.transport.send(rd.messages);
      for (const rs of rd.readStates) this.readStates.next(rs);
    });
    this.sent = sent.catch(() => undefined);
    // Committed entries are durable already: applying them need not wait for
    // this Ready's own write. A snapshot is applied only once it is persisted
    // and everything before it is done.
    const applyAfter = rd.snapshot ? Promise.all([this.applied, persisted, this.advanced]) : this.applied;
    const applied = applyAfter.then(() => this.applyCommitted(rd));
    this.applied = applied.catch(() => undefined);
    // advance() tells the core the write is durable: a leader counts its own
    // entries from then on, so it waits for the write even when the messages did not.
    const done = Promise.all([persisted, sent, applied, this.advanced]).then(() => {
      if (!this.failed) this.raft.advance(rd);
    });
    this.advanced = done.then(
      () => {
        this.inFlight--;
        this.kick();
      },
      (err: unknown) => this.fail(err),
    );
  }

  private async write(rd: Ready): Promise<void> {
    if (this.failed) throw new Error('raft loop stopped after a failure');
    // A newer commit index alone need not reach the disk (etcd does not sync it
    // either): after a crash Raft learns it again, and entries it re-commits are
    // skipped by the applier. It goes down with the next write that must.
    if (!rd.mustSync && !rd.snapshot && rd.entries.length === 0) return;
    const started = performance.now();
    await this.log.save(rd, { sync: rd.mustSync });
    if (rd.mustSync) this.onPersisted(performance.now() - started, rd);
  }

  /** The Raft core reads its log from memory: it learns of a write once the write is durable, in order. */
  private remember(rd: Ready): void {
    if (rd.snapshot) this.memory.applySnapshot(rd.snapshot);
    if (rd.hardState) {
      this.memory.setHardState(rd.hardState);
      if (rd.mustSync) this.durable = rd.hardState;
    }
    if (rd.entries.length > 0) this.memory.append(rd.entries);
  }

  private async applyCommitted(rd: Ready): Promise<void> {
    if (this.failed) throw new Error('raft loop stopped after a failure');
    if (rd.snapshot) await this.applier.applySnapshot(rd.snapshot);
    if (rd.committedEntries.length > 0) await this.applier.applyEntries(rd.committedEntries);
  }

  private fail(err: unknown): void {
    this.inFlight--;
    if (this.failed) return;
    this.failed = true;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.logger.fatal({ err }, 'raft loop failed; the member stops');
    this.fatals.next(err instanceof Error ? err : new Error(String(err)));
  }
}
