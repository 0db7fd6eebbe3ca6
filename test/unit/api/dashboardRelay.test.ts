// The cluster relay with fake feeds on a fake clock: membership as it
// changes, reachability said once per change, silence read as trouble.
import { Subject, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { clusterEvents$, type FeedConnector } from '../../../src/api/dashboard/clusterRelay.js';
import {
  FEED_SILENCE_MS,
  type ClusterEvent,
  type ClusterMember,
  type MemberFeedEvent,
  type MemberStatus,
} from '../../../src/api/dashboard/protocol.js';

const member = (id: string, urls = [`http://127.0.0.1:1/${id}`]): ClusterMember => ({
  id,
  name: `m${id}`,
  peerUrls: [],
  clientUrls: urls,
  isLearner: false,
});

const status = { type: 'status', status: { id: 'x' } as MemberStatus } as const satisfies MemberFeedEvent;

/** Feeds the test pushes by hand, one per connection attempt. */
class FakeFeeds {
  readonly opened: { urls: readonly string[]; attempt: number; feed: Subject<MemberFeedEvent> }[] = [];
  readonly connect: FeedConnector = (urls, attempt): Observable<MemberFeedEvent> => {
    const feed = new Subject<MemberFeedEvent>();
    this.opened.push({ urls, attempt, feed });
    return feed;
  };
  last(url: string): Subject<MemberFeedEvent> {
    const found = this.opened.filter((o) => o.urls.includes(url)).at(-1);
    if (found === undefined) throw new Error(`no feed opened to ${url}`);
    return found.feed;
  }
}

let events: ClusterEvent[];
beforeEach(() => {
  vi.useFakeTimers();
  events = [];
});
afterEach(() => vi.useRealTimers());

const reachability = (id: string): ClusterEvent[] =>
  events.filter((e) => e.type === 'reachability' && e.id === id);

describe('clusterEvents$', () => {
  it('lists the members, relays their feeds and says who stopped answering and why', () => {
    const feeds = new FakeFeeds();
    const own = new Subject<MemberFeedEvent>();
    let members = [member('1'), member('2'), member('3')];
    const sub = clusterEvents$({ id: '1', feed: own }, () => members, feeds.connect).subscribe((e) =>
      events.push(e),
    );
    expect(events[0]).toEqual({ type: 'members', self: '1', members });
    expect(events[1]).toEqual({ type: 'reachability', id: '1', reachable: true });
    // No connection to itself: its own feed is local.
    expect(feeds.opened.map((o) => o.urls[0])).toEqual(['http://127.0.0.1:1/2', 'http://127.0.0.1:1/3']);
    own.next(status);
    feeds.last('http://127.0.0.1:1/2').next(status);
    expect(events.slice(2)).toEqual([
      { type: 'member', id: '1', event: status },
      { type: 'reachability', id: '2', reachable: true },
      { type: 'member', id: '2', event: status },
    ]);

    // Member 3 never speaks: unreachable after the silence window, said once however often it is retried.
    vi.advanceTimersByTime(FEED_SILENCE_MS + 10);
    expect(reachability('3')).toEqual([
      { type: 'reachability', id: '3', reachable: false, reason: `no news for ${FEED_SILENCE_MS / 1000} s` },
    ]);
    feeds.last('http://127.0.0.1:1/2').next(status);
    vi.advanceTimersByTime(5 * FEED_SILENCE_MS);
    expect(reachability('3')).toHaveLength(1);
    expect(feeds.opened.filter((o) => o.urls[0]!.endsWith('/3')).length).toBeGreaterThan(2);

    // Member 2's feed fails: unreachable with the error's words; then it comes back.
    feeds.last('http://127.0.0.1:1/2').error(new Error('connect ECONNREFUSED 127.0.0.1:1'));
    expect(reachability('2').at(-1)).toEqual({
      type: 'reachability',
      id: '2',
      reachable: false,
      reason: 'connect ECONNREFUSED 127.0.0.1:1',
    });
    vi.advanceTimersByTime(600);
    feeds.last('http://127.0.0.1:1/2').next(status);
    expect(reachability('2').at(-1)).toEqual({ type: 'reachability', id: '2', reachable: true });

    // A feed that ends is a member gone too.
    feeds.last('http://127.0.0.1:1/2').complete();
    expect(reachability('2').at(-1)).toMatchObject({ reachable: false, reason: 'its connection closed' });

    // Membership changes: member 3 removed (its relay stops), member 4 added.
    const before = feeds.opened.length;
    members = [member('1'), member('2'), member('4')];
    vi.advanceTimersByTime(600);
    expect(events.filter((e) => e.type === 'members').at(-1)).toEqual({
      type: 'members',
      self: '1',
      members,
    });
    expect(feeds.opened.slice(before).some((o) => o.urls[0]!.endsWith('/4'))).toBe(true);
    const opened3 = feeds.opened.filter((o) => o.urls[0]!.endsWith('/3')).length;
    vi.advanceTimersByTime(5 * FEED_SILENCE_MS);
    expect(feeds.opened.filter((o) => o.urls[0]!.endsWith('/3')).length).toBe(opened3);
    sub.unsubscribe();
  });

  it("tries a member's client URLs in turn", () => {
    const feeds = new FakeFeeds();
    const urls = ['http://127.0.0.1:1', 'http://127.0.0.1:2'];
    const sub = clusterEvents$(
      { id: '1', feed: new Subject() },
      () => [member('1'), member('2', urls)],
      feeds.connect,
    ).subscribe((e) => events.push(e));
    feeds.opened[0]!.feed.error(new Error('refused'));
    vi.advanceTimersByTime(600);
    expect(feeds.opened.map((o) => o.attempt)).toEqual([0, 1]);
    sub.unsubscribe();
  });
});
