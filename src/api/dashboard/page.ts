/**
 * GET /dashboard (the page), /dashboard/app.js, /dashboard/app.css and
 * /dashboard/elk-worker.js on the member's client port. The page loads
 * nothing but these and the member's own streams and gateway, which its
 * Content-Security-Policy enforces: elkjs needs no eval, and its worker is a
 * script of the same origin, so `'self'` is all the policy grants.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HttpRoutes } from '../http.js';
import { lazyBundle, type Asset, type DashboardBundle } from './assets.js';

export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xetcd dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<noscript>The xetcd dashboard needs JavaScript.</noscript>
</body>
</html>
`;

const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // Revalidated on every load: a member upgraded in place serves a new bundle at the same URL.
  'Cache-Control': 'no-cache',
};

function onlyGet(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Method Not Allowed\n');
  return false;
}

const acceptsGzip = (req: IncomingMessage): boolean =>
  /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));

function matchesEtag(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  return header !== undefined && header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

function serveAsset(req: IncomingMessage, res: ServerResponse, asset: Asset): void {
  const headers = { ...COMMON_HEADERS, ETag: asset.etag, Vary: 'Accept-Encoding' };
  if (matchesEtag(req, asset.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gzip = acceptsGzip(req);
  const body = gzip ? asset.gzip : asset.body;
  res.writeHead(200, {
    ...headers,
    'Content-Type': asset.contentType,
    'Content-Length': body.length,
    ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export interface DashboardPageOptions {
  readonly logger?: Logger;
  /** The bundle to serve; the default builds web/dashboard on first request. */
  readonly bundle?: () => Promise<DashboardBundle>;
}

/** Mounts the page and its assets; the streams and machines.json are mounted beside them. */
export function mountDashboardPage(routes: HttpRoutes, options: DashboardPageOptions = {}): HttpRoutes {
  const bundle = options.bundle ?? lazyBundle();
  const log = options.logger?.child({ component: 'dashboard' });
  const assetRoute =
    (pick: (b: DashboardBundle) => Asset) =>
    async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      if (!onlyGet(req, res)) return;
      let built: DashboardBundle;
      try {
        built = await bundle();
      } catch (err) {
        log?.error({ error: (err as Error).message }, 'dashboard bundle failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('The dashboard could not be built; see the member log.\n');
        return;
      }
      serveAsset(req, res, pick(built));
    };
  return routes
    .path('/dashboard', (req, res) => {
      if (!onlyGet(req, res)) return;
      res.writeHead(200, {
        ...COMMON_HEADERS,
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': DASHBOARD_CSP,
      });
      res.end(req.method === 'HEAD' ? undefined : PAGE);
    })
    .path('/dashboard/', (_req, res) => {
      res.writeHead(308, { Location: '/dashboard' });
      res.end();
    })
    .path(
      '/dashboard/app.js',
      assetRoute((b) => b.js),
    )
    .path(
      '/dashboard/app.css',
      assetRoute((b) => b.css),
    )
    .path(
      '/dashboard/elk-worker.js',
      assetRoute((b) => b.elkWorker),
    );
}
