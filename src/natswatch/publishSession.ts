// One leader's run of the publisher: a watcher on the whole key space (so the
// watchable store does the catch-up from history, the prev_kv and the
// ordering), each reply cut into whole revisions, each revision handed to the
// sink, and the checkpoint moved only once a revision is wholly out, in order.
import type { Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { Event } from '../proto/mvccpb.js';
import type { WatchableStore } from '../mvcc/watchableStore.js';
import type { Watcher, WatchReply } from '../mvcc/watcher.js';
import type { ChangeSink } from './sinks.js';

/** key "\0" with range_end "\0": every key. */
const ALL_KEYS = Uint8Array.of(0);

/** Events handed to the sink and not yet out before the watcher is paused (JetStream acks). */
const MAX_IN_FLIGHT = 2048;

export interface PublishSessionOptions {
  readonly store: WatchableStore;
  readonly sink: ChangeSink;
  /** The first revision to publish. */
  readonly from: number;
  /** Every event up to revision is out; count is how many the revision had. */
  readonly onPublished: (revision: number, count: number) => void;
  /** The sink failed: the session has stopped, its checkpoint is the last onPublished. */
  readonly onFailed: (err: Error) => void;
  readonly logger: Logger;
}

export class PublishSession {
  private watcher: Watcher | undefined;
  private subscription: Subscription | undefined;
  private tail: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private paused = false;
  private stopped = false;

  constructor(private readonly opts: PublishSessionOptions) {}

  start(): void {
    this.watch(this.opts.from);
  }

  /** Stops watching and waits for what was handed to the sink. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch();
    await this.tail.catch(() => undefined);
  }

  private watch(from: number): void {
    const watcher = this.opts.store.watch(
      { key: ALL_KEYS, rangeEnd: ALL_KEYS, startRevision: from, prevKv: true },
      { bufferSize: 256 },
    );
    if (watcher === null) throw new Error('the watchable store refused a watcher on the whole key space');
    this.watcher = watcher;
    this.subscription = watcher.events$.subscribe((reply) => this.onReply(reply));
  }

  private unwatch(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.watcher?.cancel();
    this.watcher = undefined;
  }

  private onReply(reply: WatchReply): void {
    if (this.stopped) return;
    if (reply.canceled === true) {
      const compacted = reply.compactRevision ?? 0;
      if (compacted > 0) {
        // Nothing can bring them back: say so, and go on from what is left.
        this.opts.logger.error(
          { compactRevision: compacted },
          'changes were compacted before they were published to NATS; consumers must replay from the compact revision',
        );
        this.unwatch();
        this.watch(compacted);
      }
      return;
    }
    let group: Event[] = [];
    let revision = 0;
    for (const event of reply.events) {
      const rev = event.kv?.modRevision ?? 0;
      if (group.length > 0 && rev !== revision) {
        this.publish(revision, group);
        group = [];
      }
      revision = rev;
      group.push(event);
    }
    if (group.length > 0) this.publish(revision, group);
  }

  private publish(revision: number, events: Event[]): void {
    let out: Promise<void>;
    try {
      out = this.opts.sink.publishRevision(revision, events);
    } catch (err) {
      out = Promise.reject(err as Error);
    }
    this.inFlight += events.length;
    if (!this.paused && this.inFlight > MAX_IN_FLIGHT) {
      this.paused = true;
      this.watcher?.stream.pause();
    }
    const before = this.tail;
    this.tail = (async () => {
      try {
        await out;
      } finally {
        this.inFlight -= events.length;
        if (this.paused && this.inFlight <= MAX_IN_FLIGHT / 2) {
          this.paused = false;
          this.watcher?.stream.resume();
        }
      }
      await before;
      if (!this.stopped) this.opts.onPublished(revision, events.length);
    })();
    this.tail.catch((err: unknown) => this.fail(err as Error));
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unwatch();
    this.opts.onFailed(err);
  }
}
