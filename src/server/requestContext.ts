import { ErrCanceled } from './errors.js';

/**
 * What travels with a client request from the API layer down to the server
 * (etcd's context.Context with the metadata and peer its interceptors see).
 * Who the request acts as is worked out by the server, when it needs to know
 * (AuthRequests.authInfo), from what the client presented.
 */
export interface RequestContext {
  /** The token the client sent: gRPC metadata `token` (or `authorization`), the gateway's Authorization header. */
  readonly token?: string;
  /** The common name of the client's verified TLS certificate (gRPC only, as etcd). */
  readonly certCommonName?: string;
  /** Made by the member itself: acts as root, as etcd's internal requests do (auth.WithRoot). */
  readonly member?: true;
  /** The client going away (a cancelled call, a closed connection): nobody waits for the answer. */
  readonly clientGone?: ClientGone;
}

/**
 * The client going away, as cheap as an event listener: one per request, where
 * Node's AbortController (an EventTarget, and a DOMException per abort) cost
 * more than a serializable read.
 */
export interface ClientGone {
  readonly happened: boolean;
  /** Calls `fn` once when the client goes away (not if it is already gone); the result forgets `fn`. */
  subscribe(fn: () => void): () => void;
}

/** A ClientGone its holder declares (a stream that ended, an observer that unsubscribed). */
export class ClientGoneFlag implements ClientGone {
  happened = false;
  private readonly listeners = new Set<() => void>();

  subscribe(fn: () => void): () => void {
    if (!this.happened) this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  declare(): void {
    if (this.happened) return;
    this.happened = true;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const fn of listeners) fn();
  }
}

/** The context of a request made by the member itself (publishing, expiring leases, compacting). */
export const INTERNAL: RequestContext = { member: true };

/** `work`'s outcome, or ErrCanceled as soon as the client goes away (`work` goes on, unawaited). */
export async function unlessCanceled<T>(work: Promise<T>, { clientGone }: RequestContext): Promise<T> {
  if (clientGone === undefined) return work;
  let cancel = (): void => undefined;
  const canceled = new Promise<never>((_, reject) => {
    cancel = () => reject(ErrCanceled);
  });
  if (clientGone.happened) cancel();
  const forget = clientGone.subscribe(cancel);
  try {
    return await Promise.race([work, canceled]);
  } finally {
    forget();
  }
}
