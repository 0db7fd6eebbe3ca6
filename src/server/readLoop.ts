import {
  type Observable,
  type Subscription,
  EMPTY,
  Subject,
  catchError,
  concatMap,
  defer,
  filter,
  first,
  ignoreElements,
  interval,
  map,
  merge,
  switchMap,
  take,
  takeUntil,
  tap,
  throwError,
  throwIfEmpty,
  timeout,
} from 'rxjs';
import type { ReadState } from '../raft/ready.js';

/** One ReadIndex round: every reader that arrived before the round started shares its answer. */
class ReadRound {
  waiters = 0;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (e: Error) => void;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A round nobody awaits must not surface as an unhandled rejection.
    this.done.catch(() => undefined);
  }
}

export interface ReadLoopDeps {
  /** Asks Raft for a read index; the answer arrives on readState$ with the same context. */
  requestReadIndex(requestCtx: Uint8Array): void;
  nextRequestId(): bigint;
  readState$: Observable<ReadState>;
  leaderChanged$: Observable<unknown>;
  /** The applied index; emits the current value on subscription (a BehaviorSubject). */
  applied$: Observable<number>;
  stopping$: Observable<unknown>;
  timeoutMs: number;
  /**
   * How long a round waits for its answer before asking again with the same
   * context: the request or the answer may have been lost on the way.
   */
  retryMs: number;
  errors: { leaderChanged: () => Error; timeout: () => Error; stopped: () => Error };
}

/**
 * etcd's linearizableReadLoop as a stream. A reader signals readwait$ and
 * waits on the round that is open at that moment; a round starts only when
 * the previous one is done, so reads arriving during a round are batched into
 * the next. Each round asks Raft for a read index with a fresh request ID
 * (never reused across leaders: etcd #20418), then waits until the applied
 * index reaches it. A request unanswered after retryMs is sent again with the
 * same ID (etcd 3.5's readIndexRetryTime): peers' messages travel over a lossy
 * road, and a lost MsgReadIndex or MsgReadIndexResp would otherwise hold every
 * read behind it until the timeout. A leader change fails the round with a
 * retryable error, a timeout with `etcdserver: request timed out`.
 */
export class LinearizableReadLoop {
  private readonly readwait$ = new Subject<void>();
  private open = new ReadRound();
  private running: ReadRound | undefined;
  private readonly subscription: Subscription;
  private stopped = false;

  constructor(private readonly deps: ReadLoopDeps) {
    this.subscription = this.readwait$.pipe(concatMap(() => this.runRound())).subscribe();
  }

  /** Resolves when a read served now from the local state machine is linearizable. */
  waitLinearizable(): Promise<void> {
    if (this.stopped) return Promise.reject(this.deps.errors.stopped());
    const round = this.open;
    round.waiters++;
    this.readwait$.next();
    return round.done;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.subscription.unsubscribe();
    this.running?.reject(this.deps.errors.stopped());
    this.open.reject(this.deps.errors.stopped());
  }

  private runRound(): Observable<unknown> {
    const round = this.open;
    // Signals queued behind a round that already served their readers find nobody waiting.
    if (round.waiters === 0) return EMPTY;
    this.open = new ReadRound();
    this.running = round;
    const { deps } = this;
    return defer(() => {
      const ctx = requestIdBytes(deps.nextRequestId());
      // Subscribed to before asking, so a synchronous answer is not missed.
      const index$ = deps.readState$.pipe(
        first((rs) => sameBytes(rs.requestCtx, ctx)),
        map((rs) => rs.index),
        timeout({ first: deps.timeoutMs, with: () => throwError(deps.errors.timeout) }),
        takeUntil(deps.leaderChanged$),
        throwIfEmpty(deps.errors.leaderChanged),
        takeUntil(deps.stopping$),
        throwIfEmpty(deps.errors.stopped),
      );
      queueMicrotask(() => deps.requestReadIndex(ctx));
      const resend$ = interval(deps.retryMs).pipe(
        tap(() => deps.requestReadIndex(ctx)),
        ignoreElements(),
      );
      return merge(index$, resend$).pipe(take(1));
    }).pipe(
      switchMap((index) =>
        deps.applied$.pipe(
          first((applied) => applied >= index),
          takeUntil(deps.stopping$),
          throwIfEmpty(deps.errors.stopped),
        ),
      ),
      tap({ next: () => round.resolve(), error: (e: Error) => round.reject(e) }),
      filter(() => false),
      catchError(() => EMPTY),
    );
  }
}

export function requestIdBytes(id: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, id);
  return bytes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
