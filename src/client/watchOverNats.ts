// watchOverNats: an etcd watch of a key prefix over NATS instead of gRPC, as
// an RxJS Observable of etcd-style WatchResponses. It listens to the live
// subjects, fills any gap (a late start, a reconnect, a leader change) from
// the members' replay service, and delivers each revision once, whole, in
// order. Core NATS loses messages only with the connection (or a slow
// consumer), both of which the client sees, so between those events a message
// of revision R proves every earlier revision was already received.
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { Observable, type Subscriber } from 'rxjs';
import type { WatchResponse } from '../proto/etcdserverpb.js';
import type { Event } from '../proto/mvccpb.js';
import { WatchProgress, WatchReplayEnd, WatchReplayRequest } from '../proto/xetcdpb.js';
import { decodeEventMessage, HEADER, type EventMessage } from '../natswatch/eventMessages.js';
import { prefixSubscription, progressSubject, replaySubject } from '../natswatch/subjects.js';

export interface WatchOverNatsOptions {
  /** NATS server URL(s), e.g. nats://127.0.0.1:4222. */
  readonly servers: string | readonly string[];
  /** The cluster ID in hex (as etcdctl prints it) or as a bigint. */
  readonly clusterId: string | bigint;
  /** Watch every key starting with this (default: every key). */
  readonly prefix?: string | Uint8Array;
  /** First revision wanted, inclusive; absent: changes from now on. */
  readonly fromRevision?: number;
  /** More connection options (TLS, credentials, name). */
  readonly connection?: Partial<NodeConnectionOptions>;
  /** Silence after which a replay question is asked again (ms, default 5000). */
  readonly replayTimeoutMs?: number;
}

const COMPACTED = 'mvcc: required revision has been compacted';
const FUTURE = /future revision/;
const RETRY_MS = [100, 250, 500, 1_000, 2_000];

/**
 * An answer that asking again cannot change (a bad question), unlike a member
 * behind the revision asked for, a busy one, or a failed read.
 */
function isRefusal(error: string): boolean {
  if (error === '' || error === COMPACTED) return false;
  return !FUTURE.test(error) && !/ask again|replay failed/.test(error);
}

/** etcd's prefix range end: the prefix with its last byte below 0xff increased; "\0" for all keys. */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Uint8Array.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return Uint8Array.of(0);
}

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/** The events of one revision received so far (only those in the prefix), by position. */
interface Pending {
  readonly events: Map<number, Event>;
}

class NatsWatchRun {
  private nc: NatsConnection | undefined;
  /** Every revision up to this one has been delivered (or had nothing in the prefix). */
  private done: number | undefined;
  private readonly pending = new Map<number, Pending>();
  /** Live messages held while a replay runs, processed after it. */
  private held: Msg[] = [];
  private replaying = false;
  /** Between a disconnect and the reconnect's replay: live messages are held. */
  private offline = false;
  private replayAgain = false;
  private closed = false;
  private readonly prefix: Uint8Array;
  private readonly clusterId: bigint;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: WatchOverNatsOptions,
    private readonly out: Subscriber<WatchResponse>,
  ) {
    this.prefix =
      typeof opts.prefix === 'string'
        ? new TextEncoder().encode(opts.prefix)
        : Uint8Array.from(opts.prefix ?? []);
    this.clusterId = typeof opts.clusterId === 'bigint' ? opts.clusterId : BigInt(`0x${opts.clusterId}`);
    if (opts.fromRevision !== undefined) this.done = opts.fromRevision - 1;
  }

  async run(): Promise<void> {
    const nc = await connect({
      servers: typeof this.opts.servers === 'string' ? this.opts.servers : [...this.opts.servers],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      // A cut link is noticed in seconds, not in two minutes.
      pingInterval: 2_000,
      maxPingOut: 2,
      ...this.opts.connection,
    });
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    nc.subscribe(prefixSubscription(this.clusterId, this.prefix).subject, {
      callback: (err, msg) => {
        if (err === null) this.onLive(msg);
      },
    });
    nc.subscribe(progressSubject(this.clusterId), {
      callback: (err, msg) => {
        if (err === null) this.onLive(msg);
      },
    });
    await nc.flush();
    void this.watchStatus(nc);
    this.replay();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    void this.nc?.close();
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closed) return;
      if (s.type === 'disconnect') {
        // Nothing received from here to the replay after the reconnect may prove a revision whole.
        this.offline = true;
        this.pending.clear();
        this.held = [];
      } else if (s.type === 'reconnect' || s.type === 'slowConsumer') {
        this.offline = false;
        this.lost();
      }
    }
  }

  /** Messages may have been lost: what is half received is dropped and asked for again. */
  private lost(): void {
    this.pending.clear();
    this.held = [];
    this.replay();
  }

  private onLive(msg: Msg): void {
    if (this.closed) return;
    if (this.replaying || this.offline) {
      this.held.push(msg);
      return;
    }
    this.process(msg);
  }

  private process(msg: Msg): void {
    if (msg.subject === progressSubject(this.clusterId)) {
      let revision: number;
      try {
        revision = WatchProgress.decode(msg.data).revision;
      } catch {
        return;
      }
      this.completeThrough(revision);
      this.emit(revision, [], true);
      return;
    }
    let m: EventMessage;
    try {
      m = decodeEventMessage(msg);
    } catch {
      return; // not an xetcd event message
    }
    if (this.done === undefined || m.revision <= this.done) return; // a repeat (a new publisher starts a little behind)
    this.completeThrough(m.revision - 1);
    this.add(m);
    if (m.index === m.count) this.completeThrough(m.revision);
  }

  private add(m: EventMessage): void {
    let p = this.pending.get(m.revision);
    if (p === undefined) {
      p = { events: new Map() };
      this.pending.set(m.revision, p);
    }
    const key = m.event.kv?.key;
    if (key !== undefined && startsWith(key, this.prefix)) p.events.set(m.index, m.event);
  }

  /** Every revision up to `revision` is whole: deliver what is pending, in order. */
  private completeThrough(revision: number): void {
    if (this.done === undefined) {
      this.done = revision;
      return;
    }
    if (revision <= this.done) return;
    for (const rev of [...this.pending.keys()].sort((a, b) => a - b)) {
      if (rev > revision) break;
      const p = this.pending.get(rev)!;
      this.pending.delete(rev);
      const events = [...p.events.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => e);
      if (events.length > 0) this.emit(rev, events, false);
    }
    this.done = revision;
  }

  private emit(revision: number, events: Event[], progress: boolean): void {
    if (progress && this.done !== undefined && revision < this.done) return;
    this.out.next({
      header: {
        clusterId: this.clusterId,
        memberId: 0n,
        revision: progress ? this.done! : revision,
        raftTerm: 0,
      },
      watchId: 0,
      created: false,
      canceled: false,
      compactRevision: 0,
      cancelReason: '',
      fragment: false,
      events,
    });
  }

  /** Asks the replay service for everything after `done`, holding live messages until it is answered. */
  private replay(): void {
    if (this.replaying) {
      this.replayAgain = true;
      return;
    }
    this.replaying = true;
    void this.replayLoop();
  }

  private async replayLoop(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      this.replayAgain = false;
      // Without a start revision, "now" is the revision the service names when asked for the far future.
      const from = this.done === undefined ? Number.MAX_SAFE_INTEGER : this.done + 1;
      const answer = await this.askReplay(from).catch((err: unknown) => err as Error);
      if (this.closed) return;
      if (this.done === undefined && !(answer instanceof Error) && FUTURE.test(answer.end.error)) {
        this.done = answer.end.revision;
        continue;
      }
      if (!(answer instanceof Error) && isRefusal(answer.end.error)) {
        this.out.error(new Error(`the replay service refused the watch: ${answer.end.error}`));
        this.close();
        return;
      }
      if (answer instanceof Error || (answer.end.error !== '' && answer.end.error !== COMPACTED)) {
        // No leader yet, a member behind, busy, or NATS away: ask again soon.
        await new Promise(
          (r) => (this.retryTimer = setTimeout(r, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)])),
        );
        continue;
      }
      attempt = 0;
      const { end, messages } = answer;
      if (end.error === COMPACTED) {
        this.out.next({
          header: { clusterId: this.clusterId, memberId: 0n, revision: end.revision, raftTerm: 0 },
          watchId: 0,
          created: false,
          canceled: true,
          compactRevision: end.compactRevision,
          cancelReason: end.error,
          fragment: false,
          events: [],
        });
        this.out.complete();
        this.close();
        return;
      }
      // Whole revisions: a replay answer holds each revision it covers entirely.
      const done = this.done ?? 0;
      for (const m of messages) if (m.revision > done) this.add(m);
      this.completeThrough(Math.min(end.revision, end.nextRevision - 1));
      if (end.nextRevision <= end.revision || this.replayAgain) continue;
      break;
    }
    this.replaying = false;
    if (this.offline) return; // the reconnect replays again
    const held = this.held;
    this.held = [];
    for (const msg of held) this.process(msg);
  }

  private askReplay(from: number): Promise<{ end: WatchReplayEnd; messages: EventMessage[] }> {
    const nc = this.nc!;
    const inbox = createInbox();
    const request = WatchReplayRequest.encode({
      key: this.prefix.length === 0 ? Uint8Array.of(0) : this.prefix,
      rangeEnd: prefixEnd(this.prefix),
      startRevision: from,
      limit: 0,
    });
    const timeoutMs = this.opts.replayTimeoutMs ?? 5_000;
    return new Promise((resolve, reject) => {
      const messages: EventMessage[] = [];
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          sub.unsubscribe();
          reject(new Error('the replay service did not answer in time'));
        }, timeoutMs);
      };
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err !== null) {
            clearTimeout(timer);
            sub.unsubscribe();
            reject(err);
            return;
          }
          arm();
          try {
            if (msg.headers?.get(HEADER.replay) === 'end') {
              clearTimeout(timer);
              sub.unsubscribe();
              resolve({ end: WatchReplayEnd.decode(msg.data), messages });
            } else {
              messages.push(decodeEventMessage(msg));
            }
          } catch (decodeErr) {
            clearTimeout(timer);
            sub.unsubscribe();
            reject(decodeErr as Error);
          }
        },
      });
      arm();
      try {
        nc.publish(replaySubject(this.clusterId), request, { reply: inbox });
      } catch (err) {
        clearTimeout(timer);
        sub.unsubscribe();
        reject(err as Error);
      }
    });
  }
}

/**
 * The changes of every key under `prefix` from `fromRevision` on, as etcd's
 * Watch gives them: one WatchResponse per revision with its events (a txn's
 * events together), progress responses (no events) as the cluster's bookmarks
 * arrive, and on a compacted fromRevision one canceled response with
 * compactRevision, after which the Observable completes. Unsubscribing closes
 * the NATS connection.
 */
export function watchOverNats(opts: WatchOverNatsOptions): Observable<WatchResponse> {
  const from = opts.fromRevision;
  if (from !== undefined && (!Number.isSafeInteger(from) || from < 1))
    throw new Error(`fromRevision must be a whole number from 1 (got ${from})`);
  return new Observable<WatchResponse>((subscriber) => {
    const run = new NatsWatchRun(opts, subscriber);
    run.run().catch((err: unknown) => subscriber.error(err));
    return () => run.close();
  });
}
