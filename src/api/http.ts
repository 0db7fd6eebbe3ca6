// The HTTP/1.1 side of the client port. A small router so each layer adds its
// own routes: this file mounts /health, /version and /metrics; the API layer
// mounts the /v3/ gateway later with `routes.prefix('/v3/', handler)` (and the
// dashboard its pages) without touching this file.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { healthHandler, type HealthSource } from './httpHealth.js';
import { serveVersion } from './httpVersion.js';
import type { ApiMetrics } from './metrics.js';

export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** etcd's client HTTP mux answers every request with permissive CORS headers. */
const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
};

export class HttpRoutes {
  private readonly exact = new Map<string, HttpRoute>();
  private readonly prefixes: { prefix: string; route: HttpRoute }[] = [];

  constructor(private readonly logger?: Logger) {}

  /** Serve exactly `path` (query strings are ignored for matching). */
  path(path: string, route: HttpRoute): this {
    if (this.exact.has(path)) throw new Error(`HTTP route ${path} is already mounted`);
    this.exact.set(path, route);
    return this;
  }

  /** Serve every path that starts with `prefix`; the longest matching prefix wins. */
  prefix(prefix: string, route: HttpRoute): this {
    if (this.prefixes.some((p) => p.prefix === prefix))
      throw new Error(`HTTP prefix ${prefix} is already mounted`);
    this.prefixes.push({ prefix, route });
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    return this;
  }

  private find(pathname: string): HttpRoute | undefined {
    return this.exact.get(pathname) ?? this.prefixes.find((p) => pathname.startsWith(p.prefix))?.route;
  }

  /** The node `http` request listener (what ClientListeners hands HTTP/1.1 connections to). */
  listener(): RequestListener {
    return (req, res) => {
      for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('400 Bad Request\n');
        return;
      }
      const route = this.find(url.pathname);
      if (route === undefined) {
        res.writeHead(404, {
          'Content-Type': 'text/plain; charset=utf-8',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end('404 page not found\n');
        return;
      }
      Promise.resolve()
        .then(() => route(req, res, url))
        .catch((err: unknown) => {
          this.logger?.error({ path: url.pathname, error: (err as Error).message }, 'HTTP handler failed');
          if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end();
        });
    };
  }
}

export interface HttpEndpointsOptions {
  readonly metrics: ApiMetrics;
  /** Called per /health request: the server registers itself once it exists. */
  readonly health: () => HealthSource | undefined;
  readonly logger?: Logger;
}

/** The routes every member serves: /health, /version, /metrics. */
export function createHttpRoutes(options: HttpEndpointsOptions): HttpRoutes {
  const { metrics, logger } = options;
  return new HttpRoutes(logger)
    .path('/health', healthHandler(options.health, metrics, logger))
    .path('/version', serveVersion)
    .path('/metrics', async (req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Method Not Allowed\n');
        return;
      }
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
      res.end(text);
    });
}
