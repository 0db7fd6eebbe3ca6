// A TCP proxy on loopback between one client (an xetcd member) and one server (nats-server)
// that a test turns into a bad network at run time, so fault tests need no hooks in the
// product: the member dials the proxy's port, the proxy dials the server.
//
// The faults are those of etcd's functional tester, per direction (clientToServer is the
// member's TX, serverToClient its RX):
// - blackhole: the proxy stops reading and holds what it has, connections stay open. The
//   sender's kernel buffers fill and its writes stall, as behind a partition where TCP keeps
//   retransmitting; after heal() the held bytes arrive late. A connection opened while either
//   direction is blackholed is accepted but not dialled onward until both are open again, so
//   the client sees a server that never says INFO, as if its SYN were lost.
// - delay: every chunk waits a fixed time, or a random time in [ms, ms + jitterMs]; a chunk
//   never overtakes the one before it, as TCP keeps order.
// - dropMessages: each message frame (PUB/HPUB, MSG/HMSG) is dropped with a probability,
//   whole, and everything else (INFO, CONNECT, SUB, PING, PONG, ...) passes: loss as the NATS
//   protocol can have it. Dropping bytes would corrupt the stream instead.
// - reset: every open connection is closed with a RST, both sides; new ones are accepted.
//   A partition long enough for TCP to give up is blackhole(), then reset() and heal(): the
//   held bytes go with the connections.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Rng } from '../../src/raft/rng.js';
import { NatsFrameSplitter, type NatsFrame } from './natsFrames.js';

export type Direction = 'clientToServer' | 'serverToClient';
export type Directions = Direction | 'both';

export interface DelaySpec {
  readonly ms: number;
  /** Each chunk's delay is `ms` plus a uniform random part in [0, jitterMs). */
  readonly jitterMs?: number;
}

export interface LinkFaults {
  readonly blackhole: boolean;
  readonly delay: DelaySpec | undefined;
  readonly dropProbability: number;
}

export interface LinkStats {
  /** Bytes read from the sender. */
  bytesIn: number;
  /** Bytes written to the receiver. */
  bytesOut: number;
  /** Protocol frames seen (NATS only). */
  frames: number;
  /** Message frames seen (NATS only): PUB/HPUB towards the server, MSG/HMSG towards the client. */
  messages: number;
  messagesDropped: number;
}

export interface ProxyStats {
  /** Connections accepted since the proxy started. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  readonly clientToServer: Readonly<LinkStats>;
  readonly serverToClient: Readonly<LinkStats>;
}

export interface TcpProxyOptions {
  readonly target: { readonly host?: string; readonly port: number };
  /** `nats` (default) parses frames: counts them and can drop messages. `tcp` forwards bytes. */
  readonly protocol?: 'nats' | 'tcp';
  /** Seeds the random delays and drops; omitted, one is chosen and exposed as `seed`. */
  readonly seed?: number;
}

const HEALED: LinkFaults = { blackhole: false, delay: undefined, dropProbability: 0 };

function directionsOf(d: Directions): readonly Direction[] {
  return d === 'both' ? ['clientToServer', 'serverToClient'] : [d];
}

/** One direction's faults and counters, shared by every connection through the proxy. */
class Link {
  faults: LinkFaults = HEALED;
  readonly stats: LinkStats = { bytesIn: 0, bytesOut: 0, frames: 0, messages: 0, messagesDropped: 0 };

  constructor(private readonly rng: Rng) {}

  nextDelay(): number {
    const d = this.faults.delay;
    return d === undefined ? 0 : d.ms + (d.jitterMs ?? 0) * this.rng.next();
  }

  /** The bytes of the frames that survive the loss. */
  keep(frames: readonly NatsFrame[]): Buffer {
    const kept: Buffer[] = [];
    for (const f of frames) {
      this.stats.frames++;
      if (f.isMessage) {
        this.stats.messages++;
        if (this.faults.dropProbability > 0 && this.rng.chance(this.faults.dropProbability)) {
          this.stats.messagesDropped++;
          continue;
        }
      }
      kept.push(f.bytes);
    }
    return Buffer.concat(kept);
  }
}

/** One direction of one connection: reads the sender, queues by due time, writes the receiver. */
class Pipe {
  private readonly queue: { bytes: Buffer; due: number }[] = [];
  private readonly splitter: NatsFrameSplitter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sourceEnded = false;
  private sinkEnded = false;
  private sinkFull = false;

  constructor(
    private readonly link: Link,
    private readonly source: Socket,
    private readonly sink: Socket,
    protocol: 'nats' | 'tcp',
  ) {
    this.splitter = protocol === 'nats' ? new NatsFrameSplitter() : undefined;
    source.on('data', (chunk: Buffer) => this.receive(chunk));
    source.on('end', () => {
      this.sourceEnded = true;
      this.flush();
    });
    sink.on('drain', () => {
      this.sinkFull = false;
      this.flush();
    });
    this.flush();
  }

  private receive(chunk: Buffer): void {
    this.link.stats.bytesIn += chunk.length;
    const bytes = this.splitter === undefined ? chunk : this.link.keep(this.splitter.push(chunk));
    if (bytes.length === 0) return;
    // The queue is released from its head only, so a chunk with a shorter random delay
    // waits for the one before it: order is kept, as TCP keeps it.
    this.queue.push({ bytes, due: performance.now() + this.link.nextDelay() });
    this.flush();
  }

  /** Writes what is due unless the link is blackholed, and reads on only while it may. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sink.destroyed) return;
    if (!this.link.faults.blackhole) {
      const now = performance.now();
      while (this.queue.length > 0 && this.queue[0]!.due <= now) {
        const { bytes } = this.queue.shift()!;
        this.link.stats.bytesOut += bytes.length;
        if (!this.sink.write(bytes)) this.sinkFull = true;
      }
      if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.queue[0]!.due - now);
      else if (this.sourceEnded && !this.sinkEnded) {
        this.sinkEnded = true;
        this.sink.end();
      }
    }
    // Not reading is what makes a blackhole hold bytes without buffering them here, and
    // what passes a slow receiver's back-pressure on to the sender.
    if (this.link.faults.blackhole || this.sinkFull) this.source.pause();
    else this.source.resume();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** What a connection needs from its proxy: where to dial, how to read, and the faults. */
interface Route {
  target: { readonly host: string; readonly port: number };
  readonly protocol: 'nats' | 'tcp';
  readonly links: Readonly<Record<Direction, Link>>;
}

/** A client socket and, once dialled, its server socket. */
class ProxiedConnection {
  private upstream: Socket | undefined;
  private pipes: Pipe[] = [];
  private readonly sockets: Socket[] = [];
  /** Resolves once every socket of this connection is closed. */
  readonly closed: Promise<void>;
  private closedCount = 0;
  private markClosed!: () => void;

  constructor(
    private readonly client: Socket,
    private readonly route: Route,
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.track(client);
  }

  private track(socket: Socket): void {
    this.sockets.push(socket);
    // A reset or an error on either side ends the pair; the error itself is the fault.
    socket.on('error', () => this.destroy());
    socket.on('close', () => {
      this.destroy();
      if (++this.closedCount === this.sockets.length) this.markClosed();
    });
  }

  /**
   * Dials the server once a handshake could pass both ways (no direction blackholed), and
   * flushes what is due on a dialled connection.
   */
  refresh(): void {
    if (this.client.destroyed) return;
    if (this.upstream !== undefined) {
      for (const p of this.pipes) p.flush();
      return;
    }
    const { clientToServer, serverToClient } = this.route.links;
    if (clientToServer.faults.blackhole || serverToClient.faults.blackhole) return;
    const upstream = connect({ ...this.route.target, allowHalfOpen: true });
    this.upstream = upstream;
    this.track(upstream);
    upstream.once('connect', () => {
      this.pipes = [
        new Pipe(clientToServer, this.client, upstream, this.route.protocol),
        new Pipe(serverToClient, upstream, this.client, this.route.protocol),
      ];
    });
  }

  reset(): void {
    for (const s of this.sockets) if (!s.destroyed) s.resetAndDestroy();
  }

  destroy(): void {
    for (const p of this.pipes) p.stop();
    for (const s of this.sockets) s.destroy();
  }
}

export class TcpProxy {
  private readonly route: Route;
  private readonly connections = new Set<ProxiedConnection>();
  private accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    target: { readonly host: string; readonly port: number },
    readonly protocol: 'nats' | 'tcp',
    readonly seed: number,
  ) {
    const links = {
      clientToServer: new Link(Rng.derive(seed, 1)),
      serverToClient: new Link(Rng.derive(seed, 2)),
    };
    this.route = { target, protocol, links };
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(opts: TcpProxyOptions): Promise<TcpProxy> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        if (addr === null || typeof addr === 'string') reject(new Error('tcp proxy: no port from listen(0)'));
        else resolve(addr.port);
      });
    });
    const target = { host: opts.target.host ?? '127.0.0.1', port: opts.target.port };
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    return new TcpProxy(server, port, target, opts.protocol ?? 'nats', seed);
  }

  /** `nats://127.0.0.1:<port>` (or `tcp://`): what the client is configured with instead of the server. */
  get url(): string {
    return `${this.protocol}://127.0.0.1:${this.port}`;
  }

  /** Holds traffic in the given directions (both: a partition) until heal(). */
  blackhole(directions: Directions = 'both'): void {
    this.change(directions, { blackhole: true });
  }

  delay(spec: DelaySpec, directions: Directions = 'both'): void {
    if (!(spec.ms >= 0) || !((spec.jitterMs ?? 0) >= 0))
      throw new RangeError('tcp proxy: delays are >= 0 ms');
    this.change(directions, { delay: spec });
  }

  /** Drops each message frame with `probability`; other frames always pass (NATS only). */
  dropMessages(probability: number, directions: Directions = 'both'): void {
    if (this.protocol !== 'nats') throw new Error('tcp proxy: dropping needs frames (protocol "nats")');
    if (!(probability >= 0 && probability <= 1))
      throw new RangeError('tcp proxy: a probability is in [0, 1]');
    this.change(directions, { dropProbability: probability });
  }

  /** Restores normal forwarding; bytes held by a blackhole or a delay are delivered in order. */
  heal(directions: Directions = 'both'): void {
    this.change(directions, HEALED);
  }

  /**
   * Dials `target` for connections opened from now on (open ones keep their server), so a
   * restarted nats-server may come back on another port while members keep the proxy's.
   */
  retarget(target: { readonly host?: string; readonly port: number }): void {
    this.route.target = { host: target.host ?? '127.0.0.1', port: target.port };
  }

  /** Closes every open connection with a RST on both sides. New connections are accepted. */
  reset(): void {
    for (const c of this.connections) c.reset();
  }

  faults(): Readonly<Record<Direction, LinkFaults>> {
    const { clientToServer, serverToClient } = this.route.links;
    return { clientToServer: clientToServer.faults, serverToClient: serverToClient.faults };
  }

  stats(): ProxyStats {
    const { clientToServer, serverToClient } = this.route.links;
    return {
      accepted: this.accepted,
      open: this.connections.size,
      clientToServer: { ...clientToServer.stats },
      serverToClient: { ...serverToClient.stats },
    };
  }

  /** Stops listening and ends every connection; resolves once every socket is closed. */
  async close(): Promise<void> {
    const listenerClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const all = [...this.connections];
    for (const c of all) c.destroy();
    await Promise.all([listenerClosed, ...all.map((c) => c.closed)]);
  }

  private accept(socket: Socket): void {
    this.accepted++;
    const conn = new ProxiedConnection(socket, this.route);
    this.connections.add(conn);
    void conn.closed.then(() => this.connections.delete(conn));
    conn.refresh();
  }

  private change(directions: Directions, faults: Partial<LinkFaults>): void {
    for (const d of directionsOf(directions)) {
      const link = this.route.links[d];
      link.faults = { ...link.faults, ...faults };
    }
    for (const c of this.connections) c.refresh();
  }
}

export function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  return TcpProxy.start(opts);
}
