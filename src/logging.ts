// The member's logger. JSON lines shaped like etcd's zap output — `level` as a
// word, `ts` as an ISO time, `msg` — so tools that read etcd logs read ours, and
// the structured fields use etcd's names (`local-member-id`, `cluster-id`,
// `data-dir`, `listen-client-urls`, ...). Like etcd, logs go to stderr unless
// --log-outputs says otherwise; when stderr is a terminal they are rendered
// for people instead (pino-pretty), unless --logger zap asks for JSON.
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
  /** --log-outputs: 'stderr', 'stdout' or file paths (ignored when `destination` is given). */
  outputs?: readonly string[];
}

/** One synchronous destination per --log-outputs entry; files are appended to, created if needed. */
function outputStream(output: string): DestinationStream {
  if (output === 'stderr') return pino.destination({ fd: 2, sync: true });
  if (output === 'stdout') return pino.destination({ fd: 1, sync: true });
  return pino.destination({ dest: output, sync: true, mkdir: true, append: true });
}

function destinationOf(options: LoggerOptions): DestinationStream {
  if (options.destination !== undefined) return options.destination;
  const outputs = options.outputs ?? ['stderr'];
  if (outputs.length === 1) return outputStream(outputs[0] ?? 'stderr');
  return pino.multistream(outputs.map((o) => ({ stream: outputStream(o), level: 'trace' as const })));
}

/** Lines for people go to a terminal only when stderr is the one output and is a terminal. */
function writesToTerminal(options: LoggerOptions): boolean {
  if (options.destination !== undefined) return false;
  const outputs = options.outputs ?? ['stderr'];
  return outputs.length === 1 && outputs[0] === 'stderr' && process.stderr.isTTY === true;
}

/** etcd's `panic` has no pino counterpart; it is the most severe level we have. */
function pinoLevel(level: LogLevel): pino.Level {
  return level === 'panic' ? 'fatal' : level;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = pinoLevel(options.level ?? 'info');
  const usePretty = options.pretty ?? writesToTerminal(options);
  if (usePretty) {
    const stream = pretty({
      sync: true,
      destination: destinationOf(options),
      colorize: writesToTerminal(options),
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
    destinationOf(options),
  );
}

/** A logger that discards everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
