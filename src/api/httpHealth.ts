// GET /health with etcd 3.4.23's semantics (etcdhttp/metrics.go checkHealth):
// unhealthy while any alarm is active (except those named in ?exclude=), while
// there is no leader, or when a linearizable read cannot complete within one
// second (etcd 3.4 uses a QGET through Raft). 200 {"health":"true"} when healthy;
// 503 {"health":"false"} otherwise. etcd 3.4 sends no reason; we add `reason`
// (as etcd 3.5 does) because the extra key breaks no client and helps people.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ApiMetrics } from './metrics.js';

/** What /health asks of the server; implemented by the EtcdServer. */
export interface HealthSource {
  /** A leader is known (etcd: srv.Leader() != raft.None). */
  hasLeader(): boolean;
  /** Names of the active alarms, as etcd's AlarmType prints them: 'NOSPACE', 'CORRUPT'. */
  activeAlarms(): readonly string[];
  /** Resolves once a linearizable read has completed; rejects with the reason otherwise. */
  linearizableRead(timeoutMs: number): Promise<void>;
}

export interface Health {
  readonly health: 'true' | 'false';
  readonly reason?: string;
}

export const HEALTH_READ_TIMEOUT_MS = 1000;

export async function checkHealth(
  source: HealthSource,
  excludedAlarms: ReadonlySet<string>,
  logger?: Logger,
): Promise<Health> {
  for (const alarm of source.activeAlarms()) {
    if (excludedAlarms.has(alarm)) {
      logger?.debug({ alarm }, '/health excluded alarm');
      continue;
    }
    logger?.warn({ alarm }, 'serving /health false due to an alarm');
    return { health: 'false', reason: `ALARM ${alarm}` };
  }
  if (!source.hasLeader()) {
    logger?.warn('serving /health false; no leader');
    return { health: 'false', reason: 'RAFT NO LEADER' };
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      source.linearizableRead(HEALTH_READ_TIMEOUT_MS),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('etcdserver: request timed out')), HEALTH_READ_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger?.warn({ error: message }, 'serving /health false; linearizable read failed');
    return { health: 'false', reason: `LINEARIZABLE READ FAILED: ${message}` };
  } finally {
    clearTimeout(timer);
  }
  return { health: 'true' };
}

/** A member that has no server yet (or no longer has one) is not healthy. */
const NO_SERVER: HealthSource = {
  hasLeader: () => false,
  activeAlarms: () => [],
  linearizableRead: () => Promise.reject(new Error('etcdserver: server stopped')),
};

export function healthHandler(
  source: () => HealthSource | undefined,
  metrics?: ApiMetrics,
  logger?: Logger,
): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> {
  return async (req, res, url) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return;
    }
    const excluded = new Set(url.searchParams.getAll('exclude').filter((a) => a !== ''));
    const h = await checkHealth(source() ?? NO_SERVER, excluded, logger);
    const body = JSON.stringify(h);
    if (h.health === 'true') {
      metrics?.healthSuccess.inc();
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(body);
    } else {
      metrics?.healthFailures.inc();
      // etcd answers through http.Error: status 503, the JSON plus a newline.
      res.writeHead(503, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(`${body}\n`);
    }
  };
}
