// One client port for gRPC and HTTP/1.1, as etcd's (cmux in etcd 3.4):
//
// - plaintext: each connection's first bytes are sniffed. The HTTP/2 client
//   preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", what etcdctl and grpc-js send
//   with prior knowledge) goes to grpc-js through a connection injector; anything
//   else goes to a node http server, with the sniffed bytes put back first.
// - TLS: we terminate TLS ourselves and route by ALPN. A client that offers
//   http/1.1 (curl, browsers) gets HTTP/1.1, so /health and the gateway stay
//   reachable; a client that offers only h2 (gRPC clients do) gets gRPC; a client
//   that offers nothing is sniffed like plaintext.
//
// Shutdown: stop accepting, close idle HTTP connections and send GOAWAY to gRPC
// sessions, then destroy whatever is still open after the grace period.
import { routeH2Connection } from './h2Authority.js';
import type { UpgradeRoute } from './http.js';
import type { PeerIdentities } from './peerIdentities.js';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { grpcMetricsInterceptor, type ApiMetrics, type GrpcByteSource } from './metrics.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** How long an HTTP/2 connection may go without a request before it is handed over unexamined, and how long it may take to acknowledge SETTINGS (h2Authority.ts). */
const H2_ROUTE_TIMEOUTS = { firstRequestMs: 200, settingsAckMs: 10_000 };

/** etcd adds this much to --max-request-bytes for gRPC framing (grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

export interface ClientTlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA bundle that client certificates must chain to (--trusted-ca-file). */
  readonly ca?: Buffer;
  /** --client-cert-auth: refuse clients without a certificate signed by `ca`. */
  readonly requireClientCert: boolean;
  /** --client-crl-file: certificates it revokes are refused. */
  readonly crl?: Buffer;
  /** Node's `ciphers` (from --cipher-suites); absent: Node's defaults. */
  readonly ciphers?: string;
  /** --client-cert-allowed-hostname: a client certificate must also be valid for this host name. */
  readonly allowedHostname?: string;
}

export interface ClientListenerOptions {
  /** Listen URLs as validated by the config (http:// or https://, host:port; port 0 picks one). */
  readonly urls: readonly string[];
  /** The gRPC server holding the services; it is never bound, connections are injected. */
  readonly grpcServer: grpc.Server;
  /** Handles every HTTP/1.1 request (see http.ts). */
  readonly httpHandler: http.RequestListener;
  /** Takes HTTP/1.1 upgrade requests (WebSocket); without it they are answered as plain requests. */
  readonly upgradeHandler?: UpgradeRoute;
  /** Required when any URL is https. */
  readonly tls?: ClientTlsMaterial;
  /** Where the verified client certificates of TLS connections are recorded for gRPC calls to find. */
  readonly identities?: PeerIdentities;
  readonly logger?: Logger;
  /** A connection that has not sent enough bytes to classify within this time is closed. */
  readonly sniffTimeoutMs?: number;
}

export interface BoundListener {
  /** The URL as configured. */
  readonly url: string;
  /** The URL with the real port (differs when the configured port is 0). */
  readonly boundUrl: string;
  readonly host: string;
  readonly port: number;
}

/** etcd listens on 127.0.0.1 for `localhost` (Go resolves it to the IPv4 loopback first). */
function listenHost(hostname: string): string {
  if (hostname === 'localhost') return '127.0.0.1';
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

/** Where a listen URL binds: its host as a listen address and its port (default 80/443). */
export function listenAddress(url: string): { host: string; port: number } {
  const u = new URL(url);
  const port = Number(u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : u.port);
  return { host: listenHost(u.hostname), port };
}

/** Binds `server` to a listen URL's address; a failure names the URL. */
export function listenOn(server: net.Server, url: string, exclusive = false): Promise<void> {
  const { host, port } = listenAddress(url);
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${url}: ${err.message}`)));
    server.listen({ host, port, exclusive }, () => resolve());
  });
}

/**
 * Binds each URL's address and lets it go at once: a port another process
 * holds is found before the member creates anything on disk, with the words
 * the real bind would use.
 */
export async function probeListen(urls: readonly string[]): Promise<void> {
  for (const url of urls) {
    if (listenAddress(url).port === 0) continue;
    const server = net.createServer();
    await listenOn(server, url, true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * gRPC server options that follow etcd's server: request size limit plus framing
 * overhead, unlimited sends, and (given metrics) the grpc_server_* counters.
 */
/** etcd's --max-concurrent-streams and --grpc-keepalive-* (0 disables pings, or their timeout). */
export interface GrpcTuning {
  readonly maxConcurrentStreams?: number;
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveTimeoutMs?: number;
}

/** grpc-js has no "never time out": the longest timer Node takes stands for it. */
const NEVER_MS = 2 ** 31 - 1;

export function grpcServerOptions(
  maxRequestBytes: number,
  metrics?: ApiMetrics,
  tuning: GrpcTuning = {},
): grpc.ServerOptions {
  const timeoutMs = tuning.keepaliveTimeoutMs ?? 20 * 1000;
  return {
    ...(metrics !== undefined ? { interceptors: [grpcMetricsInterceptor(metrics)] } : {}),
    'grpc.max_receive_message_length': maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': -1,
    // etcd's defaults: --grpc-keepalive-interval 2h, --grpc-keepalive-timeout 20s.
    'grpc.keepalive_time_ms': tuning.keepaliveIntervalMs ?? 2 * 60 * 60 * 1000,
    'grpc.keepalive_timeout_ms': timeoutMs === 0 ? NEVER_MS : timeoutMs,
    // Nothing serves channelz (etcd registers no channelz service either); on, grpc-js
    // timestamps every call and message for it.
    'grpc.enable_channelz': 0,
    ...(tuning.maxConcurrentStreams !== undefined
      ? { 'grpc.max_concurrent_streams': tuning.maxConcurrentStreams }
      : {}),
  };
}

type Route = 'h2' | 'http1';

/**
 * Reads until the bytes either diverge from the HTTP/2 preface (HTTP/1.x) or
 * contain all of it (h2), then puts every byte back so the next owner of the
 * socket sees the stream from its first byte.
 */
function sniff(socket: net.Socket, timeoutMs: number): Promise<Route | undefined> {
  return new Promise((resolve) => {
    let seen: Buffer = Buffer.alloc(0);
    const finish = (route: Route | undefined): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onClose);
      if (route !== undefined) {
        socket.pause();
        if (seen.length > 0) socket.unshift(seen);
      }
      resolve(route);
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      if (!seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) finish('http1');
      else if (seen.length >= H2_PREFACE.length) finish('h2');
    };
    const onClose = (): void => finish(undefined);
    const timer = setTimeout(() => {
      finish(undefined);
      socket.destroy();
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

export class ClientListeners implements GrpcByteSource {
  private readonly servers: net.Server[] = [];
  /** gRPC connections and the byte counts already reported for each. */
  private readonly grpcSockets = new Map<net.Socket, { read: number; written: number }>();
  private closedBytes = { received: 0, sent: 0 };
  private readonly sockets = new Set<net.Socket>();
  /** Connections taken over by an upgrade: they have no request to finish on close. */
  private readonly upgraded = new Set<Duplex>();
  private readonly httpServer: http.Server;
  private readonly injector: grpc.ConnectionInjector;
  private readonly bound: BoundListener[] = [];
  private closing: Promise<void> | undefined;

  private constructor(private readonly options: ClientListenerOptions) {
    this.httpServer = http.createServer(options.httpHandler);
    const upgrade = options.upgradeHandler;
    if (upgrade !== undefined) {
      this.httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        this.upgraded.add(socket);
        socket.once('close', () => this.upgraded.delete(socket));
        upgrade(req, socket, head);
      });
    }
    // TLS is terminated before the injector, so gRPC sees a plain HTTP/2 stream.
    this.injector = options.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  /** Binds every URL; if any bind fails, the ones already bound are closed and the error is thrown. */
  static async listen(options: ClientListenerOptions): Promise<ClientListeners> {
    const l = new ClientListeners(options);
    try {
      for (const url of options.urls) await l.bindOne(url);
    } catch (err) {
      await l.close(0);
      throw err;
    }
    return l;
  }

  addresses(): readonly BoundListener[] {
    return this.bound;
  }

  private async bindOne(url: string): Promise<void> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const { host } = listenAddress(url);
    let server: net.Server;
    if (secure) {
      const material = this.options.tls;
      if (material === undefined)
        throw new Error(`client URL ${url} is https but no TLS certificate was given`);
      server = tls.createServer(
        {
          cert: material.cert,
          key: material.key,
          ...(material.ca !== undefined ? { ca: material.ca } : {}),
          ...(material.crl !== undefined ? { crl: material.crl } : {}),
          ...(material.ciphers !== undefined ? { ciphers: material.ciphers } : {}),
          requestCert: material.requireClientCert,
          rejectUnauthorized: material.requireClientCert,
          ALPNCallback: ({ protocols }) => {
            if (protocols.includes('http/1.1')) return 'http/1.1';
            if (protocols.includes('h2')) return 'h2';
            return undefined;
          },
        },
        (socket) => this.routeTls(socket),
      );
      server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
        this.options.logger?.debug(
          { error: err.message, remote: socket.remoteAddress },
          'rejected TLS client',
        );
      });
    } else {
      server = net.createServer((socket) => void this.routePlain(socket));
    }
    server.on('connection', (socket: net.Socket) => this.track(socket));
    await listenOn(server, url);
    this.servers.push(server);
    const addr = server.address() as net.AddressInfo;
    const shownHost = u.hostname;
    this.bound.push({ url, boundUrl: `${u.protocol}//${shownHost}:${addr.port}`, host, port: addr.port });
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A reset from a client is routine; without a listener it would crash the process.
    socket.on('error', () => undefined);
    if (this.closing !== undefined) socket.destroy();
  }

  private async routePlain(socket: net.Socket): Promise<void> {
    const route = await sniff(socket, this.options.sniffTimeoutMs ?? 10_000);
    if (route !== undefined) this.hand(socket, route);
  }

  private routeTls(socket: tls.TLSSocket): void {
    this.track(socket);
    const allowed = this.options.tls?.allowedHostname;
    // etcd checks the name after the chain: a certificate of the right CA for another host is refused.
    if (
      allowed !== undefined &&
      tls.checkServerIdentity(allowed, socket.getPeerCertificate()) !== undefined
    ) {
      this.options.logger?.warn(
        { remote: socket.remoteAddress, 'allowed-hostname': allowed },
        'rejected a client certificate that is not valid for --client-cert-allowed-hostname',
      );
      socket.destroy();
      return;
    }
    this.options.identities?.register(socket);
    const alpn = socket.alpnProtocol;
    if (alpn === 'h2') this.hand(socket, 'h2');
    else if (alpn === 'http/1.1') this.hand(socket, 'http1');
    else void this.routePlain(socket);
  }

  private hand(socket: net.Socket, route: Route): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    if (route === 'h2') {
      this.trackGrpcBytes(socket);
      void routeH2Connection(socket, H2_ROUTE_TIMEOUTS).then((connection) => {
        if (connection === undefined) return;
        if (this.closing !== undefined) {
          connection.destroy();
          return;
        }
        this.injector.injectConnection(connection);
        socket.resume();
      });
      return;
    }
    this.httpServer.emit('connection', socket);
    socket.resume();
  }

  private trackGrpcBytes(socket: net.Socket): void {
    this.grpcSockets.set(socket, { read: 0, written: 0 });
    socket.once('close', () => {
      const seen = this.grpcSockets.get(socket);
      if (seen === undefined) return;
      this.closedBytes.received += socket.bytesRead - seen.read;
      this.closedBytes.sent += socket.bytesWritten - seen.written;
      this.grpcSockets.delete(socket);
    });
  }

  /** Bytes read from and written to gRPC connections since the last call (HTTP/2 framing included). */
  takeGrpcBytes(): { received: number; sent: number } {
    const out = this.closedBytes;
    this.closedBytes = { received: 0, sent: 0 };
    for (const [socket, seen] of this.grpcSockets) {
      out.received += socket.bytesRead - seen.read;
      out.sent += socket.bytesWritten - seen.written;
      seen.read = socket.bytesRead;
      seen.written = socket.bytesWritten;
    }
    return out;
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs`, then
   * destroys what is left. Safe to call more than once; every call awaits the same end.
   */
  close(graceMs = 2000): Promise<void> {
    this.closing ??= this.doClose(graceMs);
    return this.closing;
  }

  private async doClose(graceMs: number): Promise<void> {
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of this.upgraded) s.destroy();
    this.injector.drain(graceMs);
    this.httpServer.closeIdleConnections();
    // Keep-alive connections become idle as their last response ends; close them as they do.
    const sweep = setInterval(() => this.httpServer.closeIdleConnections(), 25);
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all(closed), deadline]);
    clearInterval(sweep);
    for (const s of this.sockets) s.destroy();
    this.httpServer.closeAllConnections();
    this.injector.destroy();
    await Promise.all(closed);
  }
}
