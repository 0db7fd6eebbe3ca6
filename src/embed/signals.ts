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
