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
  /** Aborts when the client goes away (a cancelled call, a closed connection): nobody waits for the answer. */
  readonly signal?: AbortSignal;
}

/** The context of a request made by the member itself (publishing, expiring leases, compacting). */
export const INTERNAL: RequestContext = { member: true };

/** `work`'s outcome, or ErrCanceled as soon as the client goes away (`work` goes on, unawaited). */
export async function unlessCanceled<T>(work: Promise<T>, { signal }: RequestContext): Promise<T> {
  if (signal === undefined) return work;
  let cancel = (): void => undefined;
  const canceled = new Promise<never>((_, reject) => {
    cancel = () => reject(ErrCanceled);
  });
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });
  try {
    return await Promise.race([work, canceled]);
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
