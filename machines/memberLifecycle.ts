/**
 * The member lifecycle statechart: etcd's StartEtcd + EtcdServer.Start as a chart.
 *
 *   validatingConfig → openingStorage → bootstrapping (new | joining | restarting)
 *     → checkingIntegrity → startingRaft → publishing → serving → stopping → stopped
 *
 * Each step does what its name says: openingStorage opens the stores and finds
 * whether they hold a member; bootstrapping, one state whatever the mode,
 * brings up the member as new, joining or restarting; checkingIntegrity runs
 * every check of the data before Raft starts on it.
 *
 * Any step that fails goes to `releasing` (stop whatever already started, so
 * the member never half-serves) and then to the final `failed`, whose context
 * carries the step and the reason. A STOP (SIGINT/SIGTERM) at any point before
 * the end goes to `stopping`; a FATAL while serving (the server reports it can
 * no longer go on, e.g. a disk error) goes through `releasing` to `failed`.
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

/**
 * Data already in the data dir restarts (it wins over --initial-cluster-state,
 * as in etcd where an existing WAL means restart); otherwise the cluster state
 * says whether to start a new cluster or join a running one.
 */
export function bootModeOf(
  context: Pick<MemberLifecycleContext, 'hasData' | 'initialClusterState'>,
): BootMode {
  if (context.hasData) return 'restarting';
  return context.initialClusterState === 'new' ? 'new' : 'joining';
}

/** Turns whatever a step threw into the one line the failure is logged and reported with. */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The chart's default for each step: refuse, so a runner that forgets one fails loudly. */
function notProvided<TOutput, TInput = void>(step: string) {
  return fromPromise<TOutput, TInput>(() =>
    Promise.reject(
      new Error(`lifecycle step '${step}' has no implementation (provide it with machine.provide)`),
    ),
  );
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
  actions: {
    // Implemented by the runner (logging); named here so the chart shows where they happen.
    logStep: (_, _params: { state: string }) => undefined,
    logFailure: () => undefined,
    logStopped: () => undefined,
    recordFailure: assign((args, params: { step: LifecycleStep }) => ({
      failure: { step: params.step, reason: reasonOf((args.event as { error?: unknown }).error) },
    })),
    decideBootMode: assign({ bootMode: ({ context }) => bootModeOf(context) }),
    recordStop: assign({ stopReason: ({ event }) => (event.type === 'STOP' ? event.reason : undefined) }),
    recordFatal: assign({
      failure: ({ event }) => ({
        step: 'serving' as const,
        reason: event.type === 'FATAL' ? event.reason : 'fatal',
      }),
    }),
  },
}).createMachine({
  id: 'memberLifecycle',
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
      entry: [
        'decideBootMode',
        { type: 'logStep', params: ({ context }) => ({ state: `bootstrapping (${context.bootMode})` }) },
      ],
      invoke: {
        src: 'bootstrap',
        input: ({ context }) => ({ mode: bootModeOf(context) }),
        onDone: 'checkingIntegrity',
        onError: { target: 'releasing', actions: failAt('bootstrapping') },
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
            onError: { target: '#memberLifecycle.releasing', actions: failAt('serving') },
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
