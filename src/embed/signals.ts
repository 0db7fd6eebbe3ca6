// SIGINT/SIGTERM stop the member gracefully (the chart goes stopping → stopped,
// exit 0). A second signal while it stops means the person is done waiting:
// exit at once, non-zero, as etcd does on a repeated interrupt.
import type { Logger } from 'pino';

export interface Stoppable {
  stop(reason: string): void;
}

export function handleStopSignals(
  member: Stoppable,
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
): () => void {
  let received: string | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received === undefined) {
      received = signal;
      logger.info({ signal }, 'received signal; shutting down');
      member.stop(signal);
      return;
    }
    logger.warn({ signal, first: received }, 'received a second signal; exiting without a graceful stop');
    exit(1);
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.off(s, onSignal);
  };
}

/**
 * An exception nothing caught means some part's state is unknown: log it as one
 * etcd-shaped line (so it is not lost among stack traces) and exit 1 at once,
 * without a graceful stop that would run on that unknown state.
 */
export function handleCrashes(
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  const onError = (kind: string) => (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    logger.fatal({ error: e.message, stack: e.stack }, kind);
    exit(1);
  };
  const onException = onError('uncaught exception; exiting');
  const onRejection = onError('unhandled promise rejection; exiting');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
