// Every statechart a member runs, by machine id: what `xetcd machines export
// NAME` selects and what the dashboard lays out.
import type { AnyStateMachine } from 'xstate';
import { memberLifecycleMachine } from './memberLifecycle.js';
import { raftRoleMachine } from './raftRole.js';
import { serverPartsMachine } from './serverParts.js';

export const MACHINES: ReadonlyMap<string, AnyStateMachine> = new Map(
  [memberLifecycleMachine, serverPartsMachine, raftRoleMachine].map((m) => [m.id, m as AnyStateMachine]),
);
