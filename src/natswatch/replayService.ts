// xetcd.<cid>.watch.replay: the changes of a key or a range since a revision,
// read from the MVCC history, answered as the same messages the live subjects
// carry (whole revisions, true 'i of n' positions, prev_kv) followed by one
// WatchReplayEnd. Answers are bounded (limit revisions) and the asker comes
// back for the rest, so a huge range costs the member no more than a small one.
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ErrCompacted, ErrFutureRev, MvccError } from '../mvcc/errors.js';
import type { KvStore } from '../mvcc/kvStore.js';
import { normalizeRange, type NormalizedRange } from '../mvcc/rangeQuery.js';
import { fillPrevKv, prevKvFromStore } from '../mvcc/watcherPrevKv.js';
import { WatchReplayEnd, WatchReplayRequest } from '../proto/xetcdpb.js';
import { encodeEventMessage, HEADER } from './eventMessages.js';
import { replaySubject } from './subjects.js';

/** Revisions in one answer when the question names no limit, and at most. */
export const DEFAULT_REPLAY_REVISIONS = 1000;
export const MAX_REPLAY_REVISIONS = 10_000;
/** Answers being read at once; more are told to come back. */
const MAX_CONCURRENT = 8;
/** One queue group: one member (the leader) answers each question. */
const QUEUE = 'xetcd-watch-replay';

export const REPLAY_BUSY = 'xetcd: too many replays in progress; ask again';

type ReplayStore = Pick<KvStore, 'currentRevision' | 'compactRevision' | 'eventsBetween' | 'readView'>;

function inRange(r: NormalizedRange, key: Uint8Array): boolean {
  if (r.kind === 'empty') return false;
  const cmp = Buffer.compare(key, r.start);
  if (r.kind === 'single') return cmp === 0;
  return cmp >= 0 && (r.end === undefined || Buffer.compare(key, r.end) < 0);
}

/** A question, checked; a string says what is wrong with it. */
function parseRequest(data: Uint8Array): WatchReplayRequest | string {
  let req: WatchReplayRequest;
  try {
    req = WatchReplayRequest.decode(data);
  } catch (err) {
    return `xetcd: malformed replay request (${(err as Error).message})`;
  }
  if (req.key.length === 0) return 'etcdserver: key is not provided';
  if (!Number.isSafeInteger(req.startRevision) || req.startRevision < 1)
    return `xetcd: start_revision must be at least 1 (got ${req.startRevision})`;
  if (!Number.isSafeInteger(req.limit) || req.limit < 0)
    return `xetcd: limit must not be negative (got ${req.limit})`;
  if (normalizeRange(req.key, req.rangeEnd).kind === 'empty')
    return 'xetcd: range_end is not above key: the range is empty';
  return req;
}

export class ReplayService {
  private subscription: Subscription | undefined;
  private active = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly clusterId: bigint,
    private readonly store: ReplayStore,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.subscription !== undefined) return;
    this.subscription = this.nc.subscribe(replaySubject(this.clusterId), {
      queue: QUEUE,
      callback: (err, msg) => {
        if (err !== null) {
          this.logger.warn({ err }, 'nats watch: replay subscription failed');
          return;
        }
        void this.answer(msg);
      },
    });
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  private async answer(msg: Msg): Promise<void> {
    const reply = msg.reply;
    if (reply === undefined || reply === '') return; // a question nobody waits for
    const end = (e: Partial<WatchReplayEnd>): void => {
      const h = headers();
      h.set(HEADER.replay, 'end');
      const body = WatchReplayEnd.encode(
        WatchReplayEnd.create({ revision: this.store.currentRevision, ...e }),
      );
      this.publish(reply, body, h);
    };
    const req = parseRequest(msg.data);
    if (typeof req === 'string') {
      end({ error: req });
      return;
    }
    if (this.active >= MAX_CONCURRENT) {
      end({ error: REPLAY_BUSY });
      return;
    }
    this.active++;
    try {
      await this.replay(req, reply, end);
    } catch (err) {
      if (err instanceof MvccError) {
        end({
          error: err.message,
          ...(err.kind === 'compacted' ? { compactRevision: this.store.compactRevision } : {}),
        });
      } else {
        this.logger.warn({ err }, 'nats watch: a replay failed');
        end({ error: `xetcd: replay failed: ${(err as Error).message}` });
      }
    } finally {
      this.active--;
    }
  }

  private async replay(
    req: WatchReplayRequest,
    reply: string,
    end: (e: Partial<WatchReplayEnd>) => void,
  ): Promise<void> {
    const current = this.store.currentRevision;
    if (req.startRevision > current + 1) throw ErrFutureRev();
    if (req.startRevision < this.store.compactRevision) throw ErrCompacted();
    const limit = Math.min(req.limit === 0 ? DEFAULT_REPLAY_REVISIONS : req.limit, MAX_REPLAY_REVISIONS);
    const to = Math.min(current, req.startRevision + limit - 1);
    // Whole revisions, so each event's position is the one the live subjects gave it.
    const changes = await fillPrevKv(
      await this.store.eventsBetween(req.startRevision, to),
      prevKvFromStore(this.store),
    );
    const range = normalizeRange(req.key, req.rangeEnd);
    const maxPayload = this.nc.info?.max_payload ?? 1024 * 1024;
    for (const rc of changes) {
      rc.events.forEach((event, i) => {
        if (event.kv === undefined || !inRange(range, event.kv.key)) return;
        const m = encodeEventMessage(rc.revision, i + 1, rc.events.length, event, maxPayload);
        this.publish(reply, m.body, m.headers);
      });
    }
    end({ revision: current, nextRevision: to + 1 });
  }

  private publish(subject: string, body: Uint8Array, h: ReturnType<typeof headers>): void {
    try {
      this.nc.publish(subject, body, { headers: h });
    } catch (err) {
      this.logger.warn({ err }, 'nats watch: could not send a replay answer');
    }
  }
}
