import { ErrCanceled } from './errors.js';

/**
 * What travels with a client request from the API layer down to the server
 * (etcd's context.Context with the auth info its interceptors put there).
 */
export interface RequestContext {
  /** Who asks, once authentication is on; a request without it is anonymous. */
  readonly authInfo?: AuthInfo;
  /** Aborts when the client goes away (a cancelled call, a closed connection): nobody waits for the answer. */
  readonly signal?: AbortSignal;
}

/** etcd's auth.AuthInfo: the user a token names and the auth revision it was issued at. */
export interface AuthInfo {
  readonly username: string;
  readonly revision: number;
}

/** The context of a request made by the member itself (publishing, expiring leases, compacting). */
export const INTERNAL: RequestContext = {};

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
