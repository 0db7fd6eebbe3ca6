/**
 * One member's connection to NATS, kept up for as long as the member runs:
 * the first connection is retried until it succeeds, later losses are
 * reconnected by the client forever, and the subscription is renewed with
 * each connection. Being away from NATS is logged when it starts, then
 * periodically while it lasts, and when it ends: never once per message.
 */
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';

export interface NatsLinkOptions {
  readonly servers: readonly string[];
  /** The connection's name as NATS monitoring shows it. */
  readonly name: string;
  /**
   * How often the client pings the server; two unanswered pings mark the
   * connection dead. Keep it well below the election timeout.
   */
  readonly pingIntervalMs: number;
  /** Wait between attempts to (re)connect. */
  readonly reconnectWaitMs: number;
  /** How often a member still away from NATS says so again. */
  readonly awayLogEveryMs: number;
  /** TLS and credentials, as the NATS client takes them. */
  readonly connection?: Partial<NodeConnectionOptions>;
  readonly logger: Logger;
}

/** A subject to listen on; messages sent as requests come with a way to answer. */
export interface LinkSubscription {
  readonly subject: string;
  onMessage(data: Uint8Array, respond?: (answer: Uint8Array) => void): void;
}

/** NATS's default max_payload: the limit until the server says otherwise. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/**
 * Where answers to a member's questions come back: under the cluster's own
 * subject space, so that a NATS account can give members `xetcd.>` and
 * nothing else, and deny everyone else all of it (deploy/nats.conf).
 */
export const INBOX_PREFIX = 'xetcd._INBOX';

export class NatsLink {
  private readonly connected = new BehaviorSubject(false);
  /** Whether messages published now can reach the server. */
  readonly connected$: Observable<boolean> = this.connected.pipe(distinctUntilChanged());
  private nc: NatsConnection | undefined;
  private stopped = false;
  private awaySince: number | undefined;
  private awayTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryWake: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: NatsLinkOptions) {}

  /** Connects in the background and hands every message on each subject to its handler. */
  start(subscriptions: readonly LinkSubscription[]): void {
    this.markAway('not connected yet');
    this.running = this.connectLoop(subscriptions);
  }

  /** The largest payload the server takes. */
  maxPayload(): number {
    return this.nc?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** Publishes if connected; false when the message cannot reach the server now. */
  publish(subject: string, payload: Uint8Array): boolean {
    if (!this.connected.value || this.nc === undefined) return false;
    try {
      this.nc.publish(subject, payload);
      return true;
    } catch (err) {
      this.options.logger.warn({ err, subject, bytes: payload.length }, 'publishing to NATS failed');
      return false;
    }
  }

  /** Asks whoever serves `subject`; rejects when nobody answers within timeoutMs or NATS is away. */
  async request(subject: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!this.connected.value || this.nc === undefined) throw new Error('NATS is not reachable');
    const reply = await this.nc.request(subject, payload, { timeout: timeoutMs });
    return reply.data;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearAway();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryWake?.();
    this.connected.next(false);
    const nc = this.nc;
    this.nc = undefined;
    await nc?.close().catch(() => undefined);
    await this.running;
    this.connected.complete();
  }

  private async connectLoop(subscriptions: readonly LinkSubscription[]): Promise<void> {
    const { logger } = this.options;
    while (!this.stopped) {
      let nc: NatsConnection;
      try {
        nc = await connect({
          ...this.options.connection,
          servers: [...this.options.servers],
          name: this.options.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.options.reconnectWaitMs,
          pingInterval: this.options.pingIntervalMs,
          maxPingOut: 2,
          waitOnFirstConnect: false,
          inboxPrefix: INBOX_PREFIX,
        });
      } catch (err) {
        logger.debug({ err, servers: this.options.servers }, 'connecting to NATS failed; retrying');
        await this.sleep(this.options.reconnectWaitMs);
        continue;
      }
      if (this.stopped) {
        await nc.close().catch(() => undefined);
        return;
      }
      this.nc = nc;
      for (const { subject, onMessage } of subscriptions) {
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err !== null) return;
            onMessage(msg.data, msg.reply ? (answer) => msg.respond(answer) : undefined);
          },
        });
      }
      // Connected means reachable: once the server has the subscription, peers' messages arrive.
      await nc.flush().catch(() => undefined);
      this.markConnected(nc.getServer());
      await this.watchStatus(nc);
      // closed() resolves only once the client gave up or was closed; reconnects are its own.
      const closedWith = await nc.closed();
      if (this.stopped) return;
      this.nc = undefined;
      this.markAway(closedWith instanceof Error ? closedWith.message : 'connection closed');
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.markAway(`lost ${status.server}`);
          break;
        case 'reconnect':
          this.markConnected(status.server);
          break;
        case 'error':
          this.options.logger.warn({ err: status.error }, 'NATS reported an error');
          break;
        case 'staleConnection':
          this.options.logger.warn('NATS connection went stale (pings unanswered); reconnecting');
          break;
        case 'close':
          return;
        default:
          break;
      }
    }
  }

  private markConnected(server: string): void {
    const { logger } = this.options;
    const awayMs = this.awaySince === undefined ? undefined : Math.round(performance.now() - this.awaySince);
    this.clearAway();
    this.connected.next(true);
    logger.info({ server, ...(awayMs === undefined ? {} : { awayMs }) }, 'connected to NATS');
  }

  private markAway(reason: string): void {
    this.connected.next(false);
    if (this.awaySince !== undefined || this.stopped) return;
    this.awaySince = performance.now();
    const { logger, servers } = this.options;
    // The first attempt gets a moment to succeed before it is worth a warning.
    const firstWarnMs = Math.min(2_000, this.options.awayLogEveryMs);
    const warn = (): void => {
      const awayMs = Math.round(performance.now() - (this.awaySince ?? performance.now()));
      logger.warn(
        { servers, reason, 'away-ms': awayMs },
        'cannot reach NATS: peers are unreachable until it is back (check --nats-servers and that nats-server runs); retrying',
      );
      this.awayTimer = setTimeout(warn, this.options.awayLogEveryMs);
    };
    this.awayTimer = setTimeout(warn, firstWarnMs);
  }

  private clearAway(): void {
    this.awaySince = undefined;
    if (this.awayTimer) clearTimeout(this.awayTimer);
    this.awayTimer = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.retryWake = resolve;
      this.retryTimer = setTimeout(resolve, ms);
    });
  }
}
