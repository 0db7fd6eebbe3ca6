// What inspection costs under load: xetcd started with --inspect and someone
// watching. `serve`: bare --inspect, with one WebSocket client on each
// member's /inspect reading everything; `url`: --inspect pointed at a
// WebSocket server in this process that reads everything.
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export const INSPECT_MODES = ['off', 'serve', 'url'] as const;
export type InspectMode = (typeof INSPECT_MODES)[number];

/** What the watchers read, for the line the benchmark prints. */
export interface InspectionRead {
  readonly messages: number;
  readonly bytes: number;
}

export interface Inspection {
  /** Flags for the member (last on its command line: a bare --inspect takes no value). */
  readonly args: readonly string[];
  /** Starts watching the members once they serve. */
  attach(endpoints: readonly string[]): Promise<void>;
  /** Stops watching; what was read. */
  stop(): Promise<InspectionRead>;
}

function counter(): { count: (data: WebSocket.RawData) => void; read: () => InspectionRead } {
  let messages = 0;
  let bytes = 0;
  return {
    count: (data) => {
      messages++;
      bytes += Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    },
    read: () => ({ messages, bytes }),
  };
}

/** A client on each member's /inspect. */
function served(): Inspection {
  const { count, read } = counter();
  const sockets: WebSocket[] = [];
  return {
    args: ['--inspect'],
    attach: async (endpoints) => {
      for (const ep of endpoints) {
        const ws = new WebSocket(`${ep.replace(/^http/, 'ws')}/inspect`);
        ws.on('message', count);
        sockets.push(ws);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
      }
    },
    stop: async () => {
      for (const ws of sockets) ws.terminate();
      return read();
    },
  };
}

/** A WebSocket server the members stream to. */
async function listening(): Promise<Inspection> {
  const { count, read } = counter();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => ws.on('message', count));
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    args: ['--inspect', `ws://127.0.0.1:${port}`],
    attach: async () => undefined,
    stop: async () => {
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return read();
    },
  };
}

export async function startInspection(mode: Exclude<InspectMode, 'off'>): Promise<Inspection> {
  switch (mode) {
    case 'serve':
      return served();
    case 'url':
      return listening();
  }
}
