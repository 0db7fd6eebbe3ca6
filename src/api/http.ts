// The HTTP/1.1 side of the client port. A small router so each layer adds its
// own routes: this file mounts /health, /version and /metrics; the API layer
// mounts the /v3/ gateway later with `routes.prefix('/v3/', handler)` (and the
// dashboard its pages) without touching this file.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { healthHandler, type HealthSource } from './httpHealth.js';
import { serveVersion } from './httpVersion.js';
import type { ApiMetrics } from './metrics.js';

export type HttpRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** Takes over the connection of an upgrade request (a WebSocket) after the HTTP/1.1 handshake headers. */
export type UpgradeRoute = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** etcd's client HTTP mux answers every request with these CORS headers when the origin is allowed. */
const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
};

/** etcd's answer (421) to a plain-text request whose Host is not on --host-whitelist. */
const UNKNOWN_HOST_BODY = `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.

`;

/** --cors and --host-whitelist; an empty list or one holding '*' allows everything. */
export interface HttpPolicy {
  readonly corsOrigins: readonly string[];
  readonly hostWhitelist: readonly string[];
}

const allowsAll = (list: readonly string[]): boolean => list.length === 0 || list.includes('*');

/** The Access-Control-Allow-Origin to answer with, or undefined for an origin that is not allowed. */
function allowedOrigin(policy: HttpPolicy | undefined, origin: string | undefined): string | undefined {
  if (policy === undefined || allowsAll(policy.corsOrigins)) return '*';
  return origin !== undefined && policy.corsOrigins.includes(origin) ? origin : undefined;
}

function hostAllowed(policy: HttpPolicy | undefined, req: IncomingMessage): boolean {
  if (policy === undefined || allowsAll(policy.hostWhitelist)) return true;
  // etcd checks plain-text requests only: over TLS the certificate names the host.
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return policy.hostWhitelist.includes(host);
}

export class HttpRoutes {
  private readonly exact = new Map<string, HttpRoute>();
  private readonly prefixes: { prefix: string; route: HttpRoute }[] = [];
  private readonly upgrades = new Map<string, UpgradeRoute>();

  constructor(
    private readonly logger?: Logger,
    private readonly policy?: HttpPolicy,
  ) {}

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

  /** Take over upgrade requests (WebSocket) for exactly `path`. */
  upgrade(path: string, route: UpgradeRoute): this {
    if (this.upgrades.has(path)) throw new Error(`HTTP upgrade route ${path} is already mounted`);
    this.upgrades.set(path, route);
    return this;
  }

  /**
   * The node `http` server's 'upgrade' listener, or undefined when nothing takes
   * upgrades (node then answers them as plain requests). The host whitelist
   * holds as for requests, and a browser's Origin must be one --cors allows.
   */
  upgradeListener(): UpgradeRoute | undefined {
    if (this.upgrades.size === 0) return undefined;
    return (req, socket, head) => {
      const refuse = (status: string): void => {
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      };
      if (!hostAllowed(this.policy, req)) return refuse('421 Misdirected Request');
      const origin = req.headers.origin;
      if (origin !== undefined && allowedOrigin(this.policy, origin) === undefined)
        return refuse('403 Forbidden');
      let route: UpgradeRoute | undefined;
      try {
        route = this.upgrades.get(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        return refuse('400 Bad Request');
      }
      if (route === undefined) return refuse('404 Not Found');
      route(req, socket, head);
    };
  }

  private find(pathname: string): HttpRoute | undefined {
    return this.exact.get(pathname) ?? this.prefixes.find((p) => pathname.startsWith(p.prefix))?.route;
  }

  /** The node `http` request listener (what ClientListeners hands HTTP/1.1 connections to). */
  listener(): RequestListener {
    return (req, res) => {
      if (!hostAllowed(this.policy, req)) {
        res.writeHead(421, {
          'Content-Type': 'text/plain; charset=utf-8',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(UNKNOWN_HOST_BODY);
        return;
      }
      const origin = allowedOrigin(this.policy, req.headers.origin);
      if (origin !== undefined) {
        res.setHeader('Access-Control-Allow-Origin', origin);
        for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
        // A preflight is answered here, as etcd's CORS handler does, whatever the route.
        if (req.method === 'OPTIONS') {
          res.writeHead(200);
          res.end();
          return;
        }
      }
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
export function createHttpRoutes(options: HttpEndpointsOptions, policy?: HttpPolicy): HttpRoutes {
  return createMetricsRoutes(options, policy).path('/version', serveVersion);
}

/** What a --listen-metrics-urls listener serves, as etcd's: /health and /metrics only. */
export function createMetricsRoutes(options: HttpEndpointsOptions, policy?: HttpPolicy): HttpRoutes {
  const { metrics, logger } = options;
  return new HttpRoutes(logger, policy)
    .path('/health', healthHandler(options.health, metrics, logger))
    .path('/metrics', async (req, res) => {
      if (req.method !== 'GET') {
        res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Method Not Allowed\n');
        return;
      }
      metrics.scrapesInFlight.inc();
      try {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        res.end(text);
        metrics.scrapes.inc({ code: '200' });
      } catch (err) {
        metrics.scrapes.inc({ code: '500' });
        throw err;
      } finally {
        metrics.scrapesInFlight.dec();
      }
    });
}
