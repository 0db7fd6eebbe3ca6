// The member's logger. JSON lines shaped like etcd's zap output — `level` as a
// word, `ts` as an ISO time, `msg` — so tools that read etcd logs read ours, and
// the structured fields use etcd's names (`local-member-id`, `cluster-id`,
// `data-dir`, `listen-client-urls`, ...). Like etcd, logs go to stderr; when
// stderr is a terminal they are rendered for people instead (pino-pretty).
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'panic', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** Force pretty or JSON; by default pretty exactly when the destination is a TTY. */
  pretty?: boolean;
  /** Where lines go; default stderr (fd 2), written synchronously so a crash loses nothing. */
  destination?: DestinationStream;
}

/** etcd's `panic` has no pino counterpart; it is the most severe level we have. */
function pinoLevel(level: LogLevel): pino.Level {
  return level === 'panic' ? 'fatal' : level;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = pinoLevel(options.level ?? 'info');
  const usePretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  if (usePretty) {
    const stream = pretty({
      sync: true,
      destination: options.destination ?? 2,
      colorize: options.destination === undefined,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      messageKey: 'msg',
    });
    return pino({ level, base: undefined, messageKey: 'msg' }, stream);
  }
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that discards everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
