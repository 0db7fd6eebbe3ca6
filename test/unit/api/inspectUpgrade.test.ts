// The client port's WebSocket side (what /inspect is served through): an upgrade reaches
// only the route mounted for its path, and the host whitelist and --cors hold for it as they
// do for plain requests.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRoutes, type HttpPolicy } from '../../../src/api/http.js';
import { upgradeStatus } from '../../helpers/inspectStream.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Serves `routes` (and its upgrade listener) on a loopback port; the base URL. */
async function serve(routes: HttpRoutes): Promise<string> {
  server = http.createServer(routes.listener());
  const upgrade = routes.upgradeListener();
  if (upgrade !== undefined) server.on('upgrade', upgrade);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A route that accepts the handshake and hangs up, recording the paths it took. */
function accepting(taken: string[]) {
  return (req: http.IncomingMessage, socket: Duplex): void => {
    taken.push(req.url ?? '');
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  };
}

describe('HTTP upgrades on the client port', () => {
  it('without an upgrade route there is no upgrade listener', () => {
    expect(new HttpRoutes().upgradeListener()).toBeUndefined();
  });

  it('reaches the route mounted for its path, and no other', async () => {
    const taken: string[] = [];
    const base = await serve(new HttpRoutes().upgrade('/inspect', accepting(taken)));
    expect(await upgradeStatus(`${base}/inspect?x=1`)).toBe(101);
    expect(await upgradeStatus(`${base}/inspector`)).toBe(404);
    expect(taken).toEqual(['/inspect?x=1']);
  });

  it('holds the host whitelist and the allowed origins', async () => {
    const taken: string[] = [];
    const policy: HttpPolicy = { corsOrigins: ['http://ok.example'], hostWhitelist: ['127.0.0.1'] };
    const base = await serve(new HttpRoutes(undefined, policy).upgrade('/inspect', accepting(taken)));
    expect(await upgradeStatus(`${base}/inspect`)).toBe(101);
    expect(await upgradeStatus(`${base}/inspect`, { Origin: 'http://ok.example' })).toBe(101);
    expect(await upgradeStatus(`${base}/inspect`, { Origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(`${base}/inspect`, { Host: 'elsewhere.example' })).toBe(421);
    expect(taken).toHaveLength(2);
  });
});
