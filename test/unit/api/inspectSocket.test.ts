// What a client of /inspect gets: every live actor with its chart, then each one's latest
// snapshot, then the live stream; finished actors are not shown to clients that come later.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRoutes } from '../../../src/api/http.js';
import { InspectSocket } from '../../../src/api/inspectSocket.js';
import { readInspect, until } from '../../helpers/inspectStream.js';

const base = { _version: '0.7.2', createdAt: '0', id: '', rootId: 'x:0' };
const actor = (sessionId: string, name: string): StatelyInspectionEvent => ({
  ...base,
  type: '@xstate.actor',
  sessionId,
  name,
  definition: JSON.stringify({ id: name }),
  parentId: undefined,
  snapshot: { status: 'active', value: 'a' },
});
/** As the inspector hands it over after sanitizing: a snapshot of status and value only. */
const snapshot = (sessionId: string, value: string, status = 'active'): StatelyInspectionEvent =>
  ({
    ...base,
    type: '@xstate.snapshot',
    sessionId,
    event: { type: 'GO' },
    snapshot: { status, value },
  }) as unknown as StatelyInspectionEvent;
const event = (sessionId: string, type: string): StatelyInspectionEvent => ({
  ...base,
  type: '@xstate.event',
  sessionId,
  sourceId: undefined,
  event: { type },
});

let server: http.Server | undefined;
let socket: InspectSocket | undefined;
afterEach(async () => {
  socket?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

async function serve(): Promise<{ endpoint: string; socket: InspectSocket }> {
  socket = new InspectSocket();
  const s = socket;
  const routes = new HttpRoutes().upgrade('/inspect', (req, sock, head) => s.upgrade(req, sock, head));
  server = http.createServer(routes.listener());
  server.on('upgrade', routes.upgradeListener()!);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, socket: s };
}

const summary = (m: { type: string; sessionId: string; snapshot?: { value?: unknown } }): string =>
  `${m.type.replace('@xstate.', '')} ${m.sessionId}${m.snapshot?.value !== undefined ? ` ${String(m.snapshot.value)}` : ''}`;

describe('InspectSocket', () => {
  it('gives a new client the live actors, then their latest snapshots, then the live stream', async () => {
    const { endpoint, socket } = await serve();
    socket.send(actor('x:0', 'raft'));
    socket.send(actor('x:1', 'promise'));
    socket.send(actor('x:2', 'lifecycle'));
    socket.send(snapshot('x:0', 'follower'));
    socket.send(event('x:0', 'TICK'));
    socket.send(snapshot('x:0', 'leader'));
    socket.send(snapshot('x:1', 'done', 'done'));

    const client = await readInspect(endpoint);
    socket.send(event('x:0', 'STEP'));
    socket.send(snapshot('x:2', 'serving'));
    await until('the live messages', () => client.stream.messages.length === 5);
    expect(client.stream.parsed().map(summary)).toEqual([
      'actor x:0 a',
      'actor x:2 a',
      'snapshot x:0 leader',
      'event x:0',
      'snapshot x:2 serving',
    ]);
    client.close();
  });

  it('closes its clients when it closes', async () => {
    const { endpoint, socket } = await serve();
    const client = await readInspect(endpoint);
    socket.close();
    expect(await client.closed).toBe(1001);
  });
});
