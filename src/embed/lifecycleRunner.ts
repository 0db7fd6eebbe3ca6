// Runs the member lifecycle chart (machines/server.ts): each step of the chart
// is a promise actor provided here from a small `MemberSteps` object, so the
// chart stays pure data and the steps can be real parts (storage, Raft, the
// client port) or fakes in a test.
import { createActor, fromPromise, type Actor, type InspectionEvent, type Observer } from 'xstate';
import type { Logger } from 'pino';
import {
  memberLifecycleMachine,
  type BootMode,
  type LifecycleStep,
  type OpenStorageOutput,
} from '../../machines/memberLifecycle.js';
import { ChartHistory } from '../server/chartHistory.js';
import type { Config, ConfigResult } from './config.js';

/** What each state of the chart asks for. Every method may throw; the message is the reason logged. */
export interface MemberSteps {
  /** Whether the data dir already holds a member (etcd: the WAL exists). */
  openStorage(): Promise<OpenStorageOutput>;
  bootstrap(mode: BootMode): Promise<void>;
  checkIntegrity(): Promise<void>;
  startRaft(): Promise<void>;
  publish(): Promise<void>;
  /** Open the client listeners; resolves once they accept connections. */
  serve(): Promise<void>;
  /** Stop whatever has started, in reverse order; must be safe at any point of the start. */
  stop(): Promise<void>;
}

/** A configuration that did not validate; `problems` holds one line per problem. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export interface MemberOutcome {
  readonly status: 'stopped' | 'failed';
  /** What the process should exit with: 0 after a clean stop, 1 after any failure. */
  readonly exitCode: 0 | 1;
  readonly failure?: { readonly step: LifecycleStep; readonly reason: string };
  readonly stopReason?: string;
}

export interface RunMemberOptions {
  /** The config as loaded (validation happens in the chart's first state). */
  readonly config: () => ConfigResult;
  /** Builds the steps once the config is valid. */
  readonly steps: (config: Config) => MemberSteps;
  readonly logger: Logger;
  /** Where problem lines of a bad configuration are written for people (default stderr). */
  readonly report?: (line: string) => void;
  /** The XState inspector's observer, when --inspect is on. */
  readonly inspect?: Observer<InspectionEvent>;
}

export interface Member {
  readonly actor: Actor<typeof memberLifecycleMachine>;
  /** The chart's state changes and the events behind them (the dashboard's transitions). */
  readonly history: ChartHistory;
  /** Resolves when the chart reaches `stopped` or `failed`. */
  readonly done: Promise<MemberOutcome>;
  /** The valid config, once validatingConfig has passed. */
  config(): Config | undefined;
  /** Graceful stop (SIGINT/SIGTERM). */
  stop(reason: string): void;
  /** The running member can no longer go on (e.g. a disk error); stop and fail. */
  fatal(reason: string): void;
}

export function runMember(options: RunMemberOptions): Member {
  const { logger } = options;
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  let config: Config | undefined;
  let steps: MemberSteps | undefined;
  let configProblems: readonly string[] = [];
  const need = (): MemberSteps => {
    if (steps === undefined) throw new Error('the member has no steps before its configuration is valid');
    return steps;
  };

  const machine = memberLifecycleMachine.provide({
    actors: {
      validateConfig: fromPromise(() => {
        const result = options.config();
        if (!result.ok) {
          configProblems = result.problems;
          return Promise.reject(new ConfigError(result.problems));
        }
        for (const w of result.warnings) logger.warn(w);
        config = result.config;
        steps = options.steps(result.config);
        return Promise.resolve({ initialClusterState: result.config.initialClusterState });
      }),
      openStorage: fromPromise(() => need().openStorage()),
      bootstrap: fromPromise(({ input }: { input: { mode: BootMode } }) => need().bootstrap(input.mode)),
      checkIntegrity: fromPromise(() => need().checkIntegrity()),
      startRaft: fromPromise(() => need().startRaft()),
      publish: fromPromise(() => need().publish()),
      serve: fromPromise(() => need().serve()),
      // Nothing has started before the steps exist, so there is nothing to stop.
      stopMember: fromPromise(async () => {
        if (steps !== undefined) await steps.stop();
      }),
    },
    actions: {
      logStep: (_, params: { state: string }) => {
        logger.info(
          { state: params.state },
          params.state === 'serving' ? 'member is serving' : `member ${params.state}`,
        );
      },
      logFailure: ({ context }) => {
        const f = context.failure;
        if (f === undefined) return;
        // Said once, as plain lines a person reads: not again inside a JSON log line.
        if (f.step === 'validatingConfig' && configProblems.length > 0) {
          for (const line of configProblems) report(`xetcd: ${line}`);
          return;
        }
        logger.error({ step: f.step, reason: f.reason }, 'member failed');
      },
      logStopped: ({ context }) => {
        logger.info({ reason: context.stopReason }, 'member stopped');
      },
    },
  });

  const history = new ChartHistory(options.inspect);
  const actor = createActor(machine, { inspect: history.inspect });
  const done = new Promise<MemberOutcome>((resolve) => {
    actor.subscribe({
      next: (snap) => {
        if (snap.status !== 'done') return;
        const ctx = snap.context;
        if (snap.value === 'stopped') {
          resolve({
            status: 'stopped',
            exitCode: 0,
            ...(ctx.stopReason !== undefined ? { stopReason: ctx.stopReason } : {}),
          });
        } else {
          resolve({
            status: 'failed',
            exitCode: 1,
            ...(ctx.failure !== undefined ? { failure: ctx.failure } : {}),
            ...(ctx.stopReason !== undefined ? { stopReason: ctx.stopReason } : {}),
          });
        }
      },
      // A chart that throws is a bug; still report it as a failure rather than hang.
      error: (err) => {
        logger.error({ reason: String(err) }, 'member lifecycle crashed');
        resolve({ status: 'failed', exitCode: 1, failure: { step: 'serving', reason: String(err) } });
      },
    });
  });
  actor.start();
  return {
    actor,
    history,
    done,
    config: () => config,
    stop: (reason) => actor.send({ type: 'STOP', reason }),
    fatal: (reason) => actor.send({ type: 'FATAL', reason }),
  };
}
