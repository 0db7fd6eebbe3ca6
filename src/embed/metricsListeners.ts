// --listen-metrics-urls: /metrics and /health on listeners of their own, as
// etcd serves them, so a scraper or a load balancer's health check needs no
// access to the client port. https URLs use the client port's certificate.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { HttpRoutes } from '../api/http.js';
import { listenOn, type ClientTlsMaterial } from '../api/listener.js';

export class MetricsListeners {
  private constructor(
    private readonly servers: readonly http.Server[],
    /** The URLs with their bound ports (port 0 picks one). */
    readonly boundUrls: readonly string[],
  ) {}

  static async listen(
    urls: readonly string[],
    routes: HttpRoutes,
    tls: ClientTlsMaterial | undefined,
  ): Promise<MetricsListeners> {
    const servers: http.Server[] = [];
    const bound: string[] = [];
    try {
      for (const url of urls) {
        const u = new URL(url);
        let server: http.Server;
        if (u.protocol === 'https:') {
          if (tls === undefined)
            throw new Error(`metrics URL ${url} is https but no TLS certificate was given`);
          server = https.createServer({ cert: tls.cert, key: tls.key }, routes.listener());
        } else {
          server = http.createServer(routes.listener());
        }
        await listenOn(server, url);
        servers.push(server);
        bound.push(`${u.protocol}//${u.hostname}:${(server.address() as AddressInfo).port}`);
      }
    } catch (err) {
      await new MetricsListeners(servers, bound).close();
      throw err;
    }
    return new MetricsListeners(servers, bound);
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }
}
