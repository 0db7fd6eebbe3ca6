// A member's own feed (GET /dashboard/feed): on connect everything it has
// (status, recent transitions, recent samples), then each change as it
// happens and the status again every FEED_HEARTBEAT_MS, so a reader can tell
// silence from calm. The history is kept whether or not anyone watches, so a
// page opened after an election still shows it.
import {
  Subject,
  Subscription,
  concat,
  defer,
  exhaustMap,
  filter,
  from,
  interval,
  map,
  merge,
  type Observable,
} from 'rxjs';
import type { Logger } from 'pino';
import type { MemberFacts } from './memberFacts.js';
import { FEED_HEARTBEAT_MS, type MemberFeedEvent, type MetricsSample, type Transition } from './protocol.js';

const KEEP_TRANSITIONS = 50;
/** Two minutes of one sample a second: the panels' window. */
const KEEP_SAMPLES = 120;
const SAMPLE_EVERY_MS = 1000;

function pushBounded<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}

export class MemberFeed {
  private readonly transitions: Transition[] = [];
  private readonly samples: MetricsSample[] = [];
  private readonly live = new Subject<MemberFeedEvent>();
  private readonly subscription = new Subscription();

  constructor(
    private readonly facts: MemberFacts,
    private readonly logger: Logger,
  ) {
    // What happened before anyone mounted the feed (the election at start) is in the charts' histories.
    this.transitions.push(...facts.recentTransitions().slice(-KEEP_TRANSITIONS));
    this.subscription.add(
      facts.transitions$().subscribe((transition) => {
        pushBounded(this.transitions, transition, KEEP_TRANSITIONS);
        this.live.next({ type: 'transition', transition });
      }),
    );
    this.subscription.add(
      interval(SAMPLE_EVERY_MS)
        .pipe(exhaustMap(() => defer(() => facts.sample())))
        .subscribe({
          next: (sample) => {
            pushBounded(this.samples, sample, KEEP_SAMPLES);
            this.live.next({ type: 'metrics', sample });
          },
          error: (err: unknown) => this.logger.warn({ err }, 'dashboard metrics sampling stopped'),
        }),
    );
  }

  /** The feed as one reader sees it: a hello, then changes and heartbeats until unsubscribed. */
  events$(): Observable<MemberFeedEvent> {
    const hello = defer(async (): Promise<MemberFeedEvent> => ({
      type: 'hello',
      status: await this.facts.status(),
      transitions: [...this.transitions],
      metrics: [...this.samples],
    }));
    // A status after every transition and leader change, and on each heartbeat.
    const statusDue = merge(
      interval(FEED_HEARTBEAT_MS),
      this.facts.leaderChanged$(),
      this.live.pipe(filter((e) => e.type === 'transition')),
    );
    const statuses = statusDue.pipe(
      exhaustMap(() => from(this.facts.status())),
      map((status): MemberFeedEvent => ({ type: 'status', status })),
    );
    return concat(hello, merge(this.live, statuses));
  }

  stop(): void {
    this.subscription.unsubscribe();
    this.live.complete();
  }
}
