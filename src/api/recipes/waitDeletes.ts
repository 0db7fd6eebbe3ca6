// The building blocks etcd's v3election and v3lock servers take from
// clientv3/concurrency, run against the EtcdServer itself instead of through
// a client: keys named after a session lease, "first/last created under a
// prefix" ranges, and waiting for keys to be deleted with a watch. Every
// request carries the caller's context, so it acts as the caller (etcd's
// recipes call the server through a client with the caller's token).
import type { EtcdServer } from '../../server/etcdServer.js';
import type { ClientGone, RequestContext } from '../../server/requestContext.js';
import {
  Compare,
  Compare_CompareResult as CompareResult,
  Compare_CompareTarget as CompareTarget,
  PutRequest,
  RangeRequest,
  TxnRequest,
  type TxnResponse,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type RangeResponse,
  type ResponseHeader,
} from '../../proto/etcdserverpb.js';
import { Event_EventType } from '../../proto/mvccpb.js';
import type { WatchOptions, WatchReply } from '../../mvcc/watcher.js';
import { ErrCompacted } from '../rpcErrors.js';

/** etcd's concurrency.NewSession default TTL: a lease granted for a request that names none. */
export const DEFAULT_SESSION_TTL = 60;

/** The lease a request names, or a fresh 60 s one when it names none (concurrency.NewSession). */
export async function sessionLease(server: EtcdServer, lease: bigint, ctx: RequestContext): Promise<bigint> {
  if (lease !== 0n) return lease;
  const granted = await server.leaseGrant({ id: 0n, ttl: DEFAULT_SESSION_TTL }, ctx);
  return granted.id;
}

/** A participant's session under `<name>/`: its lease and the key named after it (concurrency's Mutex and Election). */
export async function sessionOf(
  server: EtcdServer,
  name: Uint8Array,
  lease: bigint,
  ctx: RequestContext,
): Promise<{ lease: bigint; prefix: Uint8Array; key: Uint8Array }> {
  const granted = await sessionLease(server, lease, ctx);
  const prefix = keyPrefix(name);
  const key = sessionKey(prefix, granted);
  throwIfAborted(ctx.clientGone);
  return { lease: granted, prefix, key };
}

/** The compare that holds while `key` is the one created at `createRevision` (0: there is no such key). */
export function createRevisionIs(key: Uint8Array, createRevision: number): Compare {
  return Compare.create({ key, target: CompareTarget.CREATE, result: CompareResult.EQUAL, createRevision });
}

/**
 * Puts the session's key unless it is there already (a caller coming back
 * with the same lease keeps its place), reading the key otherwise; `alsoRead`
 * is read in the same txn either way. The first response is the put's or the
 * key's, the ones after it those of `alsoRead`.
 */
export function putSessionKey(
  server: EtcdServer,
  session: { lease: bigint; key: Uint8Array },
  value: Uint8Array,
  ctx: RequestContext,
  alsoRead: RangeRequest[] = [],
): Promise<TxnResponse> {
  const { key, lease } = session;
  const reads = alsoRead.map((r) => ({ requestRange: r }));
  return server.txn(
    TxnRequest.create({
      compare: [createRevisionIs(key, 0)],
      success: [{ requestPut: PutRequest.create({ key, value, lease }) }, ...reads],
      failure: [{ requestRange: RangeRequest.create({ key }) }, ...reads],
    }),
    ctx,
  );
}

/** Ends a wait when the caller goes away (gRPC cancel, HTTP client gone). */
export class RecipeAbortedError extends Error {
  constructor() {
    super('context canceled');
    this.name = 'RecipeAbortedError';
  }
}

/** The caller's context for clean-up after the caller went away: same user, not cancellable. */
export function forCleanUp(ctx: RequestContext): RequestContext {
  const { clientGone: _gone, ...rest } = ctx;
  return rest;
}

export function throwIfAborted(clientGone: ClientGone | undefined): void {
  if (clientGone?.happened === true) throw new RecipeAbortedError();
}

/** The end of the range that holds every key starting with `prefix` (clientv3's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]! += 1;
      return end;
    }
  }
  // Every byte is 0xff: the range runs to the end of the key space.
  return new Uint8Array([0]);
}

/** `<name>/`: every participant's key lives under it. */
export function keyPrefix(name: Uint8Array): Uint8Array {
  return concat(name, new Uint8Array([0x2f]));
}

/** `<prefix><lease in lowercase hex>`, as Go's `fmt.Sprintf("%s%x", pfx, lease)` names it. */
export function sessionKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  return concat(prefix, Buffer.from(lease.toString(16), 'latin1'));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The key under the prefix created first (clientv3 WithFirstCreate): the holder, the leader. */
export function firstCreated(prefix: Uint8Array): RangeRequest {
  return RangeRequest.create({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: SortTarget.CREATE,
    sortOrder: SortOrder.ASCEND,
    limit: 1,
  });
}

/** The newest key under the prefix created at or before `maxCreateRevision` (WithLastCreate + WithMaxCreateRev). */
export function lastCreatedUpTo(prefix: Uint8Array, maxCreateRevision: number): RangeRequest {
  return RangeRequest.create({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: SortTarget.CREATE,
    sortOrder: SortOrder.DESCEND,
    limit: 1,
    maxCreateRevision,
  });
}

/** A header is in every response the server builds; the fallback keeps types honest. */
export function headerOf(server: EtcdServer, resp: { header?: ResponseHeader }): ResponseHeader {
  return resp.header ?? server.header();
}

/**
 * The replies of one watcher as an async sequence. A canceled reply (compaction
 * overtook the start revision) throws ErrCompacted; the store closing ends the
 * sequence; an abort throws RecipeAbortedError. The watcher is canceled when
 * the consumer stops. The stream pauses while replies pile up unread, so a
 * slow consumer makes the watcher lag instead of growing this buffer.
 */
export async function* watchReplies(
  server: EtcdServer,
  opts: WatchOptions,
  clientGone?: ClientGone,
): AsyncGenerator<WatchReply> {
  throwIfAborted(clientGone);
  const stream = server.watchable.newStream({ closeWhenEmpty: true });
  const queue: WatchReply[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const watcher = stream.watch(opts);
  if (watcher === null) {
    stream.close();
    throw new Error('mvcc: watcher range is empty');
  }
  const sub = watcher.events$.subscribe({
    next: (r) => {
      queue.push(r);
      if (queue.length >= 64) stream.pause();
      poke();
    },
    complete: () => {
      done = true;
      poke();
    },
  });
  const forget = clientGone?.subscribe(poke);
  try {
    for (;;) {
      throwIfAborted(clientGone);
      const reply = queue.shift();
      if (reply !== undefined) {
        if (queue.length < 16) stream.resume();
        if (reply.canceled) {
          if ((reply.compactRevision ?? 0) > 0) throw ErrCompacted;
          return;
        }
        yield reply;
        continue;
      }
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    forget?.();
    sub.unsubscribe();
    stream.close();
  }
}

/**
 * Waits for a DELETE of `key` at or after `revision` (clientv3/concurrency
 * waitDelete). A watch that ends without one is an error, as in etcd:
 * the caller must not take a vanished watch for a deleted key.
 */
export async function waitDelete(
  server: EtcdServer,
  key: Uint8Array,
  revision: number,
  clientGone?: ClientGone,
): Promise<void> {
  for await (const reply of watchReplies(
    server,
    { key, startRevision: revision, filters: { noPut: true } },
    clientGone,
  )) {
    if (reply.events.some((ev) => ev.type === Event_EventType.DELETE)) return;
  }
  throwIfAborted(clientGone);
  throw new Error('lost watcher waiting for delete');
}

/**
 * Waits until no key under `prefix` created at or before `maxCreateRevision`
 * is left (clientv3/concurrency waitDeletes): each round waits only for the
 * newest such key, so N waiters form a queue instead of all of them waking on
 * every release (no thundering herd). Returns the header of the final, empty
 * range.
 */
export async function waitDeletes(
  server: EtcdServer,
  prefix: Uint8Array,
  maxCreateRevision: number,
  ctx: RequestContext,
): Promise<ResponseHeader> {
  for (;;) {
    throwIfAborted(ctx.clientGone);
    const resp: RangeResponse = await server.range(lastCreatedUpTo(prefix, maxCreateRevision), ctx);
    const header = headerOf(server, resp);
    const last = resp.kvs[0];
    if (last === undefined) return header;
    await waitDelete(server, last.key, header.revision, ctx.clientGone);
  }
}
