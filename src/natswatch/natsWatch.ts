// The key space's changes on NATS (--nats-watch-subjects): every member keeps
// a connection, listens to the progress bookmarks and remembers (in memory and
// in <data-dir>/member/nats-watch-checkpoint) the highest one it heard; the
// leader alone publishes and answers replays. A bookmark R is sent only after
// every event up to R is out, so what a member heard is never ahead of what
// was published: a new leader that starts from it may repeat revisions (each
// message names its revision and place, so consumers drop them) but skips none.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { connect, headers, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Observable, Subscription as RxSubscription } from 'rxjs';
import type { Logger } from 'pino';
import type { KvStore } from '../mvcc/kvStore.js';
import type { WatchableStore } from '../mvcc/watchableStore.js';
import { WatchProgress } from '../proto/xetcdpb.js';
import { HEADER } from './eventMessages.js';
import { PublishSession } from './publishSession.js';
import { ReplayService } from './replayService.js';
import { JetStreamSink, SubjectSink, type ChangeSink } from './sinks.js';
import { progressSubject } from './subjects.js';

/** What the publisher needs of the member (the EtcdServer is one). */
export interface NatsWatchHost {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  isLeader(): boolean;
  readonly leaderChanged$: Observable<bigint>;
  readonly watchable: WatchableStore;
  readonly kv: Pick<KvStore, 'currentRevision' | 'compactRevision' | 'eventsBetween' | 'readView'>;
}

export interface NatsWatchOptions {
  readonly host: NatsWatchHost;
  readonly servers: readonly string[];
  /** TLS and credentials, as the member's peer connection has them. */
  readonly connection?: Partial<NodeConnectionOptions>;
  /** Publish into this JetStream stream instead of plain subjects. */
  readonly jetStream?: string;
  readonly checkpointFile: string;
  readonly name: string;
  readonly logger: Logger;
  /** Bookmarks at least this often while leader (ms). */
  readonly progressIntervalMs?: number;
  /** Wait before starting over after the sink failed (ms). */
  readonly retryMs?: number;
}

const CHECKPOINT_WRITE_MS = 1_000;

export class NatsWatch {
  private nc: NatsConnection | undefined;
  private sink: ChangeSink | undefined;
  private session: PublishSession | undefined;
  private replay: ReplayService | undefined;
  private starting = false;
  private stopped = false;
  /** The highest bookmark heard (any publisher, this member included). */
  private heard: number | undefined;
  /** What this member's own sessions have published. */
  private published: number | undefined;
  private written: number | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private leaderSub: RxSubscription | undefined;
  private readonly ready: Promise<void>;

  constructor(private readonly opts: NatsWatchOptions) {
    this.ready = this.open().catch((err: unknown) =>
      this.opts.logger.error({ err }, 'nats watch: could not start; changes are not published'),
    );
  }

  private async open(): Promise<void> {
    this.heard = await readCheckpoint(this.opts.checkpointFile);
    this.written = this.heard;
    const nc = await connect({
      servers: [...this.opts.servers],
      name: this.opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      ...this.opts.connection,
    });
    if (this.stopped) {
      await nc.close();
      return;
    }
    this.nc = nc;
    const { host } = this.opts;
    nc.subscribe(progressSubject(host.clusterId), {
      callback: (err, msg) => {
        if (err !== null) return;
        try {
          this.hear(WatchProgress.decode(msg.data).revision);
        } catch (decodeErr) {
          this.opts.logger.warn({ err: decodeErr }, 'nats watch: a bookmark that is not a WatchProgress');
        }
      },
    });
    this.replay = new ReplayService(nc, host.clusterId, host.kv, this.opts.logger);
    this.leaderSub = host.leaderChanged$.subscribe(() => this.follow());
    this.follow();
  }

  /** Start or stop publishing as this member is or is not the leader. */
  private follow(): void {
    if (this.stopped || this.nc === undefined) return;
    const leader = this.opts.host.isLeader();
    if (leader && this.session === undefined && !this.starting) {
      this.starting = true;
      this.startPublishing()
        .catch((err: unknown) => {
          this.opts.logger.warn({ err }, 'nats watch: could not start publishing; trying again');
          this.retryLater();
        })
        .finally(() => {
          this.starting = false;
          // Leadership may have moved while starting.
          if (this.session !== undefined && !this.opts.host.isLeader()) void this.stopPublishing();
        });
    } else if (!leader && this.session !== undefined) {
      void this.stopPublishing();
    }
  }

  private retryLater(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.follow(), this.opts.retryMs ?? 1_000);
  }

  private async startPublishing(): Promise<void> {
    const nc = this.nc!;
    const { host, logger } = this.opts;
    if (this.sink === undefined) {
      this.sink =
        this.opts.jetStream !== undefined
          ? await JetStreamSink.open(nc, host.clusterId, this.opts.jetStream, logger)
          : new SubjectSink(nc, host.clusterId);
    }
    const from = await this.startRevision(this.sink);
    if (this.stopped || !host.isLeader() || this.session !== undefined) return;
    this.published = from - 1;
    const session = new PublishSession({
      store: host.watchable,
      sink: this.sink,
      from,
      logger,
      onPublished: (revision, count) => {
        this.published = revision;
        // The consumers of a prefix may not see a txn's last event: tell them it is whole.
        if (count > 1) this.bookmark();
      },
      onFailed: (err) => {
        logger.warn({ err, published: this.published }, 'nats watch: publishing failed; starting over');
        if (this.session === session) void this.stopPublishing().then(() => this.retryLater());
      },
    });
    this.session = session;
    session.start();
    this.replay?.start();
    this.progressTimer = setInterval(() => this.bookmark(), this.opts.progressIntervalMs ?? 1_000);
    logger.info(
      { from, jetStream: this.opts.jetStream ?? null },
      'nats watch: publishing the key space changes (leader)',
    );
  }

  /** Where the last publisher stopped, as far as can be known without a gap. */
  private async startRevision(sink: ChangeSink): Promise<number> {
    const kept = await sink.lastPublished();
    if (kept !== undefined) return kept + 1;
    const known = Math.max(this.heard ?? -1, this.published ?? -1);
    if (known >= 0) return known + 1;
    const now = this.opts.host.kv.currentRevision + 1;
    this.opts.logger.info(
      { from: now },
      'nats watch: no earlier publication known (no checkpoint); publishing changes from now on',
    );
    return now;
  }

  private async stopPublishing(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    clearInterval(this.progressTimer);
    this.progressTimer = undefined;
    this.replay?.stop();
    await session?.stop();
    if (session !== undefined)
      this.opts.logger.info({ published: this.published }, 'nats watch: stopped publishing');
  }

  private bookmark(): void {
    const nc = this.nc;
    if (nc === undefined || this.session === undefined || this.published === undefined) return;
    const h = headers();
    h.set(HEADER.revision, String(this.published));
    const body = WatchProgress.encode({ revision: this.published, publisher: this.opts.host.memberId });
    try {
      nc.publish(progressSubject(this.opts.host.clusterId), body, { headers: h });
    } catch (err) {
      this.opts.logger.debug({ err }, 'nats watch: could not send a bookmark');
    }
  }

  private hear(revision: number): void {
    if (this.heard !== undefined && revision <= this.heard) return;
    this.heard = revision;
    if (this.writeTimer === undefined) {
      this.writeTimer = setTimeout(() => {
        this.writeTimer = undefined;
        void this.persist();
      }, CHECKPOINT_WRITE_MS);
    }
  }

  private async persist(): Promise<void> {
    const revision = this.heard;
    if (revision === undefined || revision === this.written) return;
    const file = this.opts.checkpointFile;
    try {
      await writeFile(`${file}.tmp`, `${revision}\n`);
      await rename(`${file}.tmp`, file);
      this.written = revision;
    } catch (err) {
      this.opts.logger.warn({ err, file }, 'nats watch: could not save the checkpoint');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Still waiting for a first connection: open() closes it when it comes.
    await Promise.race([this.ready, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    clearTimeout(this.retryTimer);
    clearTimeout(this.writeTimer);
    this.leaderSub?.unsubscribe();
    await this.stopPublishing();
    await this.persist();
    await this.nc?.drain().catch(() => this.nc?.close());
  }
}

/** The revision in the checkpoint file; undefined when there is none (a member that never heard a bookmark). */
async function readCheckpoint(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const n = Number(text.trim());
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
