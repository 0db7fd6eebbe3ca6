// Server-sent events both ways over a real socket: what serveEvents writes,
// httpFeedConnector reads back, and an answer that is not a feed is an error
// that says so.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subject, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { httpFeedConnector } from '../../../src/api/dashboard/clusterRelay.js';
import type { MemberFeedEvent, MetricsSample } from '../../../src/api/dashboard/protocol.js';
import { serveEvents } from '../../../src/api/dashboard/sse.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const sample = (at: number): MemberFeedEvent => ({ type: 'metrics', sample: { at } as MetricsSample });

describe('dashboard feeds over HTTP', () => {
  it('delivers each event whole, in order, and stops the source when the reader leaves', async () => {
    const source = new Subject<MemberFeedEvent>();
    let readers = 0;
    const url = await serve((req, res) => {
      readers++;
      serveEvents(req, res, source);
      // Big and many, so events straddle chunk boundaries.
      for (let i = 0; i < 200; i++) source.next(sample(i));
    });
    const events = await lastValueFrom(httpFeedConnector()([url], 0).pipe(take(200), toArray()));
    expect(events.map((e) => (e.type === 'metrics' ? e.sample.at : -1))).toEqual([...Array(200).keys()]);
    expect(readers).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(source.observed).toBe(false);
  });

  it('says what went wrong: a member that is no dashboard, and one with no client URLs', async () => {
    const url = await serve((_req, res) => res.writeHead(404).end('404 page not found\n'));
    await expect(firstValueFrom(httpFeedConnector()([url], 0))).rejects.toThrow(`${url} answered HTTP 404`);
    await expect(firstValueFrom(httpFeedConnector()([], 0))).rejects.toThrow(
      'it has not published its client URLs yet',
    );
  });
});
