/**
 * The member lifecycle statechart: etcd's StartEtcd + EtcdServer.Start as a chart.
 *
 *   validatingConfig → openingStorage → bootstrapping (new | joining | restarting)
 *     → checkingIntegrity → startingRaft → publishing → serving → stopping → stopped
 *
 * Any step that fails goes to `releasing` (stop whatever already started, so
 * the member never half-serves) and then to the final `failed`, whose context
 * carries the step and the reason. A STOP (SIGINT/SIGTERM) at any point before
 * the end goes to `stopping`; a FATAL while serving (the server reports it can
 * no longer go on, e.g. a disk error) goes through `releasing` to `failed`.
 *
 * Which bootstrap: data already in the data dir → restarting (the data wins
 * over --initial-cluster-state, as in etcd where an existing WAL means restart);
 * no data and --initial-cluster-state=new → new; no data and existing → joining.
 *
 * Every step is an invoked promise actor named here and implemented by
 * src/embed/lifecycleRunner.ts via `machine.provide()`; the chart does no I/O and can be
 * opened in a visualizer as is.
 */
import { assign, fromPromise, setup } from 'xstate';

export type BootMode = 'new' | 'joining' | 'restarting';

export type LifecycleStep =
  | 'validatingConfig'
  | 'openingStorage'
  | 'bootstrapping'
  | 'checkingIntegrity'
  | 'startingRaft'
  | 'publishing'
  | 'serving'
  | 'stopping';

export interface MemberLifecycleContext {
  /** --initial-cluster-state, known once the config is valid. */
  initialClusterState: 'new' | 'existing';
  /** The data dir already held a member (from openStorage). */
  hasData: boolean;
  bootMode?: BootMode;
  /** Why the member failed, with the step it failed in. */
  failure?: { step: LifecycleStep; reason: string };
  /** Why it stopped (the signal name, or what asked for it). */
  stopReason?: string;
}

export type MemberLifecycleEvent = { type: 'STOP'; reason: string } | { type: 'FATAL'; reason: string };

export interface ValidateConfigOutput {
  readonly initialClusterState: 'new' | 'existing';
}

export interface OpenStorageOutput {
  readonly hasData: boolean;
}

/** Turns whatever a step threw into the one line the failure is logged and reported with. */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The chart's default for each step: refuse, so a runner that forgets one fails loudly. */
function notProvided<TOutput, TInput = void>(step: string) {
  return fromPromise<TOutput, TInput>(async () => {
    throw new Error(`lifecycle step '${step}' has no implementation (provide it with machine.provide)`);
  });
}

const failAt = (step: LifecycleStep) => ({ type: 'recordFailure', params: { step } }) as const;

export const memberLifecycleMachine = setup({
  types: {
    context: {} as MemberLifecycleContext,
    events: {} as MemberLifecycleEvent,
  },
  actors: {
    validateConfig: notProvided<ValidateConfigOutput, void>('validateConfig'),
    openStorage: notProvided<OpenStorageOutput, void>('openStorage'),
    bootstrap: notProvided<void, { mode: BootMode }>('bootstrap'),
    checkIntegrity: notProvided<void, void>('checkIntegrity'),
    startRaft: notProvided<void, void>('startRaft'),
    publish: notProvided<void, void>('publish'),
    serve: notProvided<void, void>('serve'),
    stopMember: notProvided<void, void>('stopMember'),
  },
  guards: {
    hasData: ({ context }) => context.hasData,
    isNewCluster: ({ context }) => context.initialClusterState === 'new',
  },
  actions: {
    // Implemented by the runner (logging); named here so the chart shows where they happen.
    logStep: (_, _params: { state: string }) => undefined,
    logFailure: () => undefined,
    logStopped: () => undefined,
    recordFailure: assign((args, params: { step: LifecycleStep }) => ({
      failure: { step: params.step, reason: reasonOf((args.event as { error?: unknown }).error) },
    })),
    recordStop: assign({ stopReason: ({ event }) => (event.type === 'STOP' ? event.reason : undefined) }),
    recordFatal: assign({
      failure: ({ event }) => ({
        step: 'serving' as const,
        reason: event.type === 'FATAL' ? event.reason : 'fatal',
      }),
    }),
  },
}).createMachine({
  id: 'server',
  context: { initialClusterState: 'new', hasData: false },
  initial: 'validatingConfig',
  // Before the member is up, a signal simply stops it (what started is released).
  on: {
    STOP: { target: '.stopping', actions: 'recordStop' },
  },
  states: {
    validatingConfig: {
      entry: { type: 'logStep', params: { state: 'validatingConfig' } },
      invoke: {
        src: 'validateConfig',
        onDone: {
          target: 'openingStorage',
          actions: assign({ initialClusterState: ({ event }) => event.output.initialClusterState }),
        },
        onError: { target: 'releasing', actions: failAt('validatingConfig') },
      },
    },
    openingStorage: {
      entry: { type: 'logStep', params: { state: 'openingStorage' } },
      invoke: {
        src: 'openStorage',
        onDone: {
          target: 'bootstrapping',
          actions: assign({ hasData: ({ event }) => event.output.hasData }),
        },
        onError: { target: 'releasing', actions: failAt('openingStorage') },
      },
    },
    bootstrapping: {
      initial: 'deciding',
      states: {
        deciding: {
          always: [
            { guard: 'hasData', target: 'restarting' },
            { guard: 'isNewCluster', target: 'new' },
            { target: 'joining' },
          ],
        },
        new: {
          entry: [
            assign({ bootMode: 'new' as const }),
            { type: 'logStep', params: { state: 'bootstrapping (new)' } },
          ],
          invoke: {
            src: 'bootstrap',
            input: { mode: 'new' as const },
            onDone: '#server.checkingIntegrity',
            onError: { target: '#server.releasing', actions: failAt('bootstrapping') },
          },
        },
        joining: {
          entry: [
            assign({ bootMode: 'joining' as const }),
            { type: 'logStep', params: { state: 'bootstrapping (joining)' } },
          ],
          invoke: {
            src: 'bootstrap',
            input: { mode: 'joining' as const },
            onDone: '#server.checkingIntegrity',
            onError: { target: '#server.releasing', actions: failAt('bootstrapping') },
          },
        },
        restarting: {
          entry: [
            assign({ bootMode: 'restarting' as const }),
            { type: 'logStep', params: { state: 'bootstrapping (restarting)' } },
          ],
          invoke: {
            src: 'bootstrap',
            input: { mode: 'restarting' as const },
            onDone: '#server.checkingIntegrity',
            onError: { target: '#server.releasing', actions: failAt('bootstrapping') },
          },
        },
      },
    },
    checkingIntegrity: {
      entry: { type: 'logStep', params: { state: 'checkingIntegrity' } },
      invoke: {
        src: 'checkIntegrity',
        onDone: 'startingRaft',
        onError: { target: 'releasing', actions: failAt('checkingIntegrity') },
      },
    },
    startingRaft: {
      entry: { type: 'logStep', params: { state: 'startingRaft' } },
      invoke: {
        src: 'startRaft',
        onDone: 'publishing',
        onError: { target: 'releasing', actions: failAt('startingRaft') },
      },
    },
    publishing: {
      entry: { type: 'logStep', params: { state: 'publishing' } },
      invoke: {
        src: 'publish',
        onDone: 'serving',
        onError: { target: 'releasing', actions: failAt('publishing') },
      },
    },
    serving: {
      initial: 'opening',
      on: {
        FATAL: { target: 'releasing', actions: 'recordFatal' },
      },
      states: {
        opening: {
          invoke: {
            src: 'serve',
            onDone: 'ready',
            onError: { target: '#server.releasing', actions: failAt('serving') },
          },
        },
        ready: { entry: { type: 'logStep', params: { state: 'serving' } } },
      },
    },
    stopping: {
      entry: { type: 'logStep', params: { state: 'stopping' } },
      on: { STOP: {} },
      invoke: {
        src: 'stopMember',
        onDone: 'stopped',
        onError: { target: 'failed', actions: failAt('stopping') },
      },
    },
    stopped: { type: 'final', entry: 'logStopped' },
    releasing: {
      entry: 'logFailure',
      // Already on the way out: a signal here must not restart the stop.
      on: { STOP: {} },
      invoke: {
        src: 'stopMember',
        onDone: 'failed',
        // The original failure is the one worth reporting; a failed release is only logged.
        onError: 'failed',
      },
    },
    failed: { type: 'final' },
  },
});

export type MemberLifecycleMachine = typeof memberLifecycleMachine;
