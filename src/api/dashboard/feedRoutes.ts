// The dashboard's data on the client port: the member's own feed, the
// cluster's relayed feeds, and the chart definitions the page lays out.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRoutes } from '../http.js';
import { clusterEvents$, type FeedConnector } from './clusterRelay.js';
import type { MemberFacts } from './memberFacts.js';
import type { MemberFeed } from './memberFeed.js';
import type { ChartDefinitions } from './protocol.js';
import { serveEvents } from './sse.js';

export interface DashboardFeeds {
  readonly facts: MemberFacts;
  readonly feed: MemberFeed;
  readonly connect: FeedConnector;
  readonly charts: ChartDefinitions;
}

/** Answers anything but GET with 405, as the rest of the read-only routes do. */
function getOnly(
  route: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
      return;
    }
    route(req, res);
  };
}

export function mountDashboardFeeds(routes: HttpRoutes, feeds: DashboardFeeds): void {
  const charts = JSON.stringify(feeds.charts);
  routes
    .path(
      '/dashboard/feed',
      getOnly((req, res) => serveEvents(req, res, feeds.feed.events$())),
    )
    .path(
      '/dashboard/events',
      getOnly((req, res) =>
        serveEvents(
          req,
          res,
          clusterEvents$(
            { id: feeds.facts.selfId, feed: feeds.feed.events$() },
            () => feeds.facts.members(),
            feeds.connect,
          ),
        ),
      ),
    )
    .path(
      '/dashboard/machines.json',
      getOnly((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(charts);
      }),
    );
}
