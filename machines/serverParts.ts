/**
 * A running member's parts as a statechart (etcd's EtcdServer.Start goroutines
 * as actors). While `running`, the Raft loop, the linearizable read loop and
 * the applier's progress run as invoked child actors; the `leadership` region
 * says whether this member leads, and only its `leader` state invokes what only
 * a leader may do: expire leases, auto-compact, raise the space alarm. Losing
 * leadership leaves the state, which stops those actors at once (etcd #15247).
 *
 * Every actor is named here and implemented by src/server/serverParts.ts through
 * `machine.provide()`. The chart does no I/O and opens in a visualizer as is.
 */
import { assign, fromCallback, setup } from 'xstate';

export interface ServerPartsContext {
  /** Why the member had to stop, when it did. */
  failure?: string;
}

export type ServerPartsEvent =
  | { type: 'LEADER_ELECTED' }
  | { type: 'LEADERSHIP_LOST' }
  | { type: 'FATAL'; reason: string }
  | { type: 'STOP' };

/** A part that was not provided fails the member at once, saying which. */
function notProvided(part: string) {
  return fromCallback<ServerPartsEvent>(({ sendBack }) => {
    sendBack({
      type: 'FATAL',
      reason: `server part '${part}' has no implementation (provide it with machine.provide)`,
    });
  });
}

export const serverPartsMachine = setup({
  types: {
    context: {} as ServerPartsContext,
    events: {} as ServerPartsEvent,
  },
  actors: {
    // Implemented by provide(): each sends FATAL to its parent if it cannot go on.
    raftLoop: notProvided('raftLoop'),
    readLoop: notProvided('readLoop'),
    leaseExpiry: notProvided('leaseExpiry'),
    autoCompactor: notProvided('autoCompactor'),
    quotaGuard: notProvided('quotaGuard'),
    corruptionCheck: notProvided('corruptionCheck'),
  },
  actions: {
    recordFailure: assign({
      failure: ({ event }) => (event.type === 'FATAL' ? event.reason : undefined),
    }),
  },
}).createMachine({
  id: 'serverParts',
  context: {},
  initial: 'running',
  states: {
    running: {
      type: 'parallel',
      invoke: [
        { id: 'raftLoop', src: 'raftLoop' },
        { id: 'readLoop', src: 'readLoop' },
      ],
      on: {
        STOP: 'stopped',
        FATAL: { target: 'failed', actions: 'recordFailure' },
      },
      states: {
        leadership: {
          initial: 'follower',
          states: {
            follower: {
              on: { LEADER_ELECTED: 'leader' },
            },
            leader: {
              invoke: [
                { id: 'leaseExpiry', src: 'leaseExpiry' },
                { id: 'autoCompactor', src: 'autoCompactor' },
                { id: 'quotaGuard', src: 'quotaGuard' },
                { id: 'corruptionCheck', src: 'corruptionCheck' },
              ],
              on: { LEADERSHIP_LOST: 'follower' },
            },
          },
        },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type ServerPartsMachine = typeof serverPartsMachine;
