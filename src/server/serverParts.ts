// The running member's parts (machines/serverParts.ts) given their
// implementations: each a child actor that owns its timers and streams and
// ends them when the chart leaves the state that invoked it.
import type { Logger } from 'pino';
import { fromCallback } from 'xstate';
import { serverPartsMachine, type ServerPartsEvent } from '../../machines/serverParts.js';
import { createCompactor, type CompactionPolicy } from './compactor.js';
import type { RaftLoop } from './raftLoop.js';
import type { LinearizableReadLoop } from './readLoop.js';

const LEASE_CHECK_MS = 500;
const QUOTA_CHECK_MS = 1_000;

export interface ServerPartsDeps {
  raftLoop: RaftLoop;
  /** Serves reads from the server's construction; its part ends it with the running state. */
  readLoop: LinearizableReadLoop;
  revokeExpiredLeases(): void;
  compaction: CompactionPolicy | undefined;
  currentRevision(): number;
  compact(revision: number): Promise<unknown>;
  checkQuota(): Promise<void>;
  /** The leader's corruption check and how often it runs (0: never). */
  checkCorruption(): Promise<void>;
  corruptCheckIntervalMs: number;
  logger: Logger;
}

/** A part that runs `fn` every `ms` while its state is active. */
function every(ms: number, fn: () => void) {
  return fromCallback<ServerPartsEvent>(() => {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  });
}

export function serverParts(deps: ServerPartsDeps) {
  const { raftLoop, logger } = deps;
  return serverPartsMachine.provide({
    actors: {
      raftLoop: fromCallback<ServerPartsEvent>(({ sendBack }) => {
        const sub = raftLoop.fatal$.subscribe((err) => sendBack({ type: 'FATAL', reason: err.message }));
        raftLoop.start();
        return () => {
          sub.unsubscribe();
          // The server's stop awaits the same stop; the chart only starts it.
          void raftLoop.stop();
        };
      }),
      readLoop: fromCallback<ServerPartsEvent>(() => () => deps.readLoop.stop()),
      leaseExpiry: every(LEASE_CHECK_MS, () => deps.revokeExpiredLeases()),
      autoCompactor: fromCallback<ServerPartsEvent>(() => {
        const policy = deps.compaction;
        const compactor = policy && createCompactor(policy, Date.now());
        if (!compactor) return undefined;
        const timer = setInterval(() => {
          const target = compactor.observe(Date.now(), deps.currentRevision());
          if (target === undefined) return;
          logger.info({ revision: target, mode: policy.mode }, 'auto compaction');
          deps
            .compact(target)
            .catch((err: unknown) => logger.warn({ err, revision: target }, 'auto compaction failed'));
        }, compactor.pollMs);
        return () => clearInterval(timer);
      }),
      // A failed measurement is retried at the next round.
      quotaGuard: every(QUOTA_CHECK_MS, () => void deps.checkQuota().catch(() => undefined)),
      corruptionCheck: fromCallback<ServerPartsEvent>(() => {
        if (deps.corruptCheckIntervalMs <= 0) return undefined;
        const timer = setInterval(() => {
          deps
            .checkCorruption()
            .catch((err: unknown) => logger.warn({ err }, 'corruption check failed; retried next round'));
        }, deps.corruptCheckIntervalMs);
        return () => clearInterval(timer);
      }),
    },
  });
}
