// Bare --inspect: the member serves its actors' inspection stream itself, on
// its client port at /inspect, so nothing has to listen anywhere else. It is
// an adapter of @statelyai/inspect (what its inspector hands over is already
// converted and sanitized), and a WebSocket there receives the very JSON
// messages that inspector's own WebSocket adapter sends to a URL, so a tool
// that reads one reads the other.
//
// A client may come at any time: it first gets every live actor
// (@xstate.actor, with its definition) and each one's latest snapshot, then
// the live stream. A plain GET of /inspect answers a page that shows the
// stream in Stately's inspector (which takes its events from the window that
// opened or framed it, as @statelyai/inspect's own relay page does).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocketServer, type WebSocket } from 'ws';

/** Actors remembered for clients that come later; the oldest is forgotten beyond this. */
const MAX_ACTORS = 256;
/** A client this far behind is dropped (it can reconnect and start from the actors' state again). */
const MAX_BUFFERED_BYTES = 1 << 20;
/** What a client may send: nothing is read, so only a close or a ping. */
const MAX_CLIENT_MESSAGE_BYTES = 1024;

/** Stately's inspector, which takes its events from this page by postMessage once it says it is listening. */
const STATELY_INSPECTOR_URL = 'https://stately.ai/inspect';

const BRIDGE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>xetcd: actors in the Stately inspector</title>
<style>html,body,iframe{margin:0;border:0;width:100%;height:100%;display:block}</style>
</head>
<body>
<iframe id="inspector" title="Stately inspector" src="${STATELY_INSPECTOR_URL}"></iframe>
<script>
const frame = document.getElementById('inspector');
const waiting = [];
let listening = false;
window.addEventListener('message', (e) => {
  if (e.source !== frame.contentWindow || !e.data || e.data.type !== '@statelyai.connected') return;
  listening = true;
  for (const event of waiting.splice(0)) frame.contentWindow.postMessage(event, '*');
});
const socket = new WebSocket(location.origin.replace(/^http/, 'ws') + location.pathname);
socket.onmessage = (m) => {
  const event = JSON.parse(m.data);
  if (listening) frame.contentWindow.postMessage(event, '*');
  else waiting.push(event);
};
</script>
</body>
</html>
`;

/**
 * The message as JSON; undefined for one that cannot be (sanitizing leaves no
 * bigint or cycle, but this runs on a timer of its own, where a throw would
 * end the member).
 */
function json(event: StatelyInspectionEvent): string | undefined {
  try {
    return JSON.stringify(event);
  } catch {
    return undefined;
  }
}

export class InspectSocket {
  private readonly server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
  });
  private readonly clients = new Set<WebSocket>();
  /** Live actors by session, in the order they started, each with its latest snapshot. */
  private readonly actors = new Map<
    string,
    { actor: StatelyInspectionEvent; latest?: StatelyInspectionEvent }
  >();

  /** The adapter's side: every converted inspection event passes here once. */
  send(event: StatelyInspectionEvent): void {
    this.remember(event);
    if (this.clients.size === 0) return;
    const text = json(event);
    if (text === undefined) return;
    for (const client of this.clients) this.deliver(client, text);
  }

  private remember(event: StatelyInspectionEvent): void {
    switch (event.type) {
      case '@xstate.actor':
        this.actors.set(event.sessionId, { actor: event });
        if (this.actors.size > MAX_ACTORS) this.actors.delete(this.actors.keys().next().value!);
        return;
      case '@xstate.snapshot': {
        const known = this.actors.get(event.sessionId);
        // A finished actor (done, error, stopped) is not shown to clients that come later.
        if (event.snapshot.status !== 'active') this.actors.delete(event.sessionId);
        else if (known !== undefined) known.latest = event;
        return;
      }
      case '@xstate.event':
        return;
    }
  }

  private deliver(client: WebSocket, text: string | undefined): void {
    if (text === undefined) return;
    if (client.bufferedAmount > MAX_BUFFERED_BYTES) {
      client.terminate();
      return;
    }
    client.send(text);
  }

  /** The HTTP side of /inspect: the page that shows the stream in Stately's inspector. */
  page(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : BRIDGE_PAGE);
  }

  /** The WebSocket side of /inspect: a client gets the actors as they are now, then every event. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.server.handleUpgrade(req, socket, head, (client) => {
      client.on('error', () => client.terminate());
      client.once('close', () => this.clients.delete(client));
      for (const { actor } of this.actors.values()) this.deliver(client, json(actor));
      for (const { latest } of this.actors.values())
        if (latest !== undefined) this.deliver(client, json(latest));
      this.clients.add(client);
    });
  }

  /** Closes every client (going away) and forgets the actors. */
  close(): void {
    for (const client of this.clients) client.close(1001, 'member stopping');
    this.clients.clear();
    this.actors.clear();
    this.server.close();
  }
}
