// Both ends of --inspect for tests: a WebSocket server members stream to
// (--inspect ws://...), and a client of a member's own /inspect (bare
// --inspect). Each keeps the raw messages of each connection, in order, so a
// test can check what was sent as well as what it says.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** The messages of one connection, as received. */
export class InspectStream {
  readonly messages: string[] = [];

  parsed(): InspectMessage[] {
    return this.messages.map((m) => JSON.parse(m) as InspectMessage);
  }

  /** The session of the first actor named `name` (e.g. 'raft'), once it is known. */
  sessionOf(name: string): string | undefined {
    return this.parsed().find((m) => m.type === '@xstate.actor' && m.name === name)?.sessionId;
  }

  /** The states an actor went through, each change once, from its @xstate.actor on. */
  statesOf(name: string): string[] {
    const session = this.sessionOf(name);
    const values = this.parsed()
      .filter((m) => m.sessionId === session && m.type !== '@xstate.event')
      .map((m) => JSON.stringify(m.snapshot?.value));
    return values.filter((v, i) => v !== values[i - 1]);
  }
}

/** The fields of @statelyai/inspect's messages that tests read. */
export interface InspectMessage {
  readonly type: '@xstate.actor' | '@xstate.snapshot' | '@xstate.event';
  readonly sessionId: string;
  readonly name?: string;
  readonly definition?: string;
  readonly snapshot?: { readonly status: string; readonly value?: unknown; readonly context?: unknown };
  readonly event?: { readonly type: string; readonly m?: Record<string, unknown> };
}

/** A WebSocket server for `--inspect ws://...`: one stream per member connection. */
export async function inspectionSink(): Promise<{
  url: string;
  streams: InspectStream[];
  close: () => Promise<void>;
}> {
  const streams: InspectStream[] = [];
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => {
    const stream = new InspectStream();
    streams.push(stream);
    ws.on('message', (data: WebSocket.RawData) => stream.messages.push(data.toString()));
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    streams,
    close: async () => {
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client of a member's /inspect (`https` endpoints take the test CA). */
export async function readInspect(
  endpoint: string,
  caFile?: string,
): Promise<{ stream: InspectStream; closed: Promise<number>; close: () => void }> {
  const stream = new InspectStream();
  const ws = new WebSocket(`${endpoint.replace(/^http/, 'ws')}/inspect`, {
    ...(caFile !== undefined ? { ca: readFileSync(caFile) } : {}),
  });
  ws.on('message', (data: WebSocket.RawData) => stream.messages.push(data.toString()));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { stream, closed, close: () => ws.close() };
}

/** Waits until `done` holds, polling; fails with `what` after `timeoutMs`. */
export async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A snapshot's or an event's small facts fit in this; an actor's message also carries its chart. */
const MAX_MESSAGE = { actor: 16_384, other: 2_048 } as const;

/** Messages inspection may never send: one holding an array of log entries, or one too big. */
export function oversized(stream: InspectStream): string[] {
  return stream.messages.filter((m) => {
    const limit =
      (JSON.parse(m) as InspectMessage).type === '@xstate.actor' ? MAX_MESSAGE.actor : MAX_MESSAGE.other;
    return /"entries":\[/.test(m) || m.length > limit;
  });
}

/** The status a WebSocket handshake to `url` is answered with (101 when it is taken). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        ...headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      // Not kept alive: a member stopping would wait for this idle connection.
      req.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}
