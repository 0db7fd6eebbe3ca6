// A stand-in for a member's dashboard side: the real page routes and the real chart
// definitions, with /dashboard/events fed by the test. Each new stream first gets every
// event sent so far, as a member restates everything on connect. The gateway is an empty
// keyspace that never changes (the key browser is tested against a real member).
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClusterEvent } from '../../src/api/dashboard/protocol.js';
import { HttpRoutes } from '../../src/api/http.js';
import { mountDashboardPage } from '../../src/api/dashboard/page.js';
import { chartJson } from '../../machines/chartExport.js';
import { MACHINES } from '../../machines/catalog.js';

export interface FakeDashboard {
  readonly url: string;
  send(event: ClusterEvent): void;
  /** Ends every open event stream cleanly (the page should reconnect). */
  dropStreams(): void;
  close(): Promise<void>;
}

const sse = (event: ClusterEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

export async function startFakeDashboard(): Promise<FakeDashboard> {
  const sent: ClusterEvent[] = [];
  const streams = new Set<ServerResponse>();
  const watches = new Set<ServerResponse>();
  const definitions = `{${[...MACHINES].map(([name, m]) => `${JSON.stringify(name)}:${chartJson(m)}`).join(',')}}`;
  const routes = mountDashboardPage(new HttpRoutes())
    .path('/dashboard/machines.json', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(definitions);
    })
    .path('/v3/kv/range', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"header":{"revision":"1"}}');
    })
    .path('/v3/watch', (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"result":{"header":{"revision":"1"},"created":true}}\n');
      watches.add(res);
      req.on('close', () => watches.delete(res));
    })
    .path('/dashboard/events', (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      // Reconnect soon after a drop, so a test need not wait EventSource's default 3 s.
      res.write('retry: 200\n\n');
      for (const e of sent) res.write(sse(e));
      streams.add(res);
      req.on('close', () => streams.delete(res));
    });
  const server: Server = createServer(routes.listener());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    send(event) {
      sent.push(event);
      for (const res of streams) res.write(sse(event));
    },
    dropStreams() {
      for (const res of streams) res.end();
      streams.clear();
    },
    async close() {
      for (const res of [...streams, ...watches]) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
