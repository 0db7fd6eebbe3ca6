// The whole cluster as one member sees it (GET /dashboard/events): the
// membership, this member's own feed, and every other member's feed read
// from that member's client port and relayed, so the page only ever talks to
// the member that served it. A member whose feed fails or falls silent for
// FEED_SILENCE_MS is reported unreachable, with the reason, and retried.
import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import {
  Observable,
  Subscription,
  catchError,
  concatMap,
  concatWith,
  defer,
  interval,
  map,
  repeat,
  throwError,
  timeout,
} from 'rxjs';
import { readEvents } from './sse.js';
import {
  FEED_HEARTBEAT_MS,
  FEED_SILENCE_MS,
  type ClusterEvent,
  type ClusterMember,
  type MemberFeedEvent,
} from './protocol.js';

/** Opens a member's feed at one of its client URLs (the `attempt`-th, round robin). */
export type FeedConnector = (urls: readonly string[], attempt: number) => Observable<MemberFeedEvent>;

/** Between attempts at an unreachable member. */
const RETRY_MS = 500;

/** Reads feeds over HTTP(S); `tls` is what this member trusts and presents (its client TLS). */
export function httpFeedConnector(tls?: Pick<SecureContextOptions, 'ca' | 'cert' | 'key'>): FeedConnector {
  return (urls, attempt) =>
    new Observable<MemberFeedEvent>((sub) => {
      if (urls.length === 0) {
        sub.error(new Error('it has not published its client URLs yet'));
        return;
      }
      const url = new URL('/dashboard/feed', urls[attempt % urls.length]);
      const options = { headers: { accept: 'text/event-stream' } };
      const onResponse = (res: http.IncomingMessage): void => {
        if (res.statusCode !== 200) {
          res.resume();
          sub.error(new Error(`${url.origin} answered HTTP ${res.statusCode ?? 0}`));
          return;
        }
        events.add(
          readEvents(res)
            .pipe(map((m) => JSON.parse(m.data) as MemberFeedEvent))
            .subscribe(sub),
        );
      };
      const events = new Subscription();
      const req =
        url.protocol === 'https:'
          ? https.get(url, { ...options, ...tls }, onResponse)
          : http.get(url, options, onResponse);
      req.on('error', (err) => sub.error(err));
      return () => {
        events.unsubscribe();
        req.destroy();
      };
    });
}

const CONNECTION_CLOSED = 'its connection closed';

/** Why a member's feed stopped, as the page shows it. */
function unreachableReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return `no news for ${FEED_SILENCE_MS / 1000} s`;
  // Node's words for a response cut short.
  if (err.message === 'aborted' || err.message === 'socket hang up') return CONNECTION_CLOSED;
  return err.message;
}

/** One other member: its feed as cluster events, and whether it answers. */
function relayMember(member: ClusterMember, connect: FeedConnector): Observable<ClusterEvent> {
  let attempt = 0;
  let reported: string | undefined;
  // Says each change of reachability once, not once per retry.
  const reachability = (reachable: boolean, reason?: string): ClusterEvent[] => {
    const key = reachable ? '' : (reason ?? '');
    if (key === reported) return [];
    reported = key;
    return [{ type: 'reachability', id: member.id, reachable, ...(reason !== undefined ? { reason } : {}) }];
  };
  return defer(() =>
    connect(member.clientUrls, attempt++).pipe(
      timeout({ each: FEED_SILENCE_MS }),
      // A feed that ends is as gone as one that fails.
      concatWith(throwError(() => new Error(CONNECTION_CLOSED))),
      concatMap((event) => [...reachability(true), { type: 'member' as const, id: member.id, event }]),
      catchError((err: unknown) => {
        return reachability(false, unreachableReason(err));
      }),
    ),
  ).pipe(repeat({ delay: RETRY_MS }));
}

export interface RelaySelf {
  readonly id: string;
  readonly feed: Observable<MemberFeedEvent>;
}

export function clusterEvents$(
  self: RelaySelf,
  members: () => ClusterMember[],
  connect: FeedConnector,
): Observable<ClusterEvent> {
  return new Observable<ClusterEvent>((sub) => {
    const relays = new Map<string, { urls: string; subscription: Subscription }>();
    let listed = '';
    const refresh = (): void => {
      const list = members();
      const key = JSON.stringify(list);
      if (key === listed) return;
      listed = key;
      sub.next({ type: 'members', self: self.id, members: list });
      for (const m of list) {
        if (m.id === self.id) continue;
        const urls = m.clientUrls.join(',');
        const relay = relays.get(m.id);
        if (relay?.urls === urls) continue;
        relay?.subscription.unsubscribe();
        relays.set(m.id, { urls, subscription: relayMember(m, connect).subscribe((e) => sub.next(e)) });
      }
      for (const [id, relay] of relays) {
        if (list.some((m) => m.id === id)) continue;
        relay.subscription.unsubscribe();
        relays.delete(id);
      }
    };
    refresh();
    sub.next({ type: 'reachability', id: self.id, reachable: true });
    const own = self.feed.subscribe({
      next: (event) => sub.next({ type: 'member', id: self.id, event }),
      error: (err: unknown) => sub.error(err),
      complete: () => sub.complete(),
    });
    const membership = interval(FEED_HEARTBEAT_MS).subscribe(refresh);
    return () => {
      membership.unsubscribe();
      own.unsubscribe();
      for (const relay of relays.values()) relay.subscription.unsubscribe();
    };
  });
}
