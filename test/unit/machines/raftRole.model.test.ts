/**
 * Model-based test of the Raft role statechart (machines/raftRole.ts) with
 * xstate/graph: every state is reached and every transition is taken.
 *
 * The chart's guards ask the node's RaftState questions ("has a quorum voted
 * for us?"). Here each guard is replaced by a flag carried on the event
 * (`flags: ['hasWonElection', ...]`), so the graph traversal can drive the
 * chart down every branch; actions become no-ops, except the ones that raise
 * events (routing a STEP by message type, the timers' CAMPAIGN / BEAT /
 * CHECK_QUORUM, CONFIG_CHANGED), which raise the same events, flags included.
 * Which transitions were taken is read from the actor's microstep inspection
 * events, so coverage is measured on the chart's own transition objects.
 */
import { describe, expect, it } from 'vitest';
import {
  type AnyStateNode,
  type AnyTransitionDefinition,
  type InspectionEvent,
  type StateValue,
  createActor,
  enqueueActions,
  raise,
} from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { raftRoleMachine, roleOf, type RaftRoleEvent } from '../../../machines/raftRole.js';
import { Message, MessageType } from '../../../src/proto/raftpb.js';
import type { RaftState } from '../../../src/raft/raftState.js';

/** Flags that are not guards: what the tick actions report (an election timeout, a heartbeat due, ...). */
const TICK_FLAGS = ['electionTimeout', 'beatDue', 'checkQuorumDue'] as const;

/** Events raised by the chart's own actions: they inherit the flags of the event that caused them. */
type Flagged = { flags?: readonly string[]; m?: { flags?: readonly string[] } };
const flagsOf = (e: unknown): readonly string[] => (e as Flagged).flags ?? (e as Flagged).m?.flags ?? [];
const has = (e: unknown, flag: string): boolean => flagsOf(e).includes(flag);

/** The built-in action types the chart may use to raise events; each is re-created below by name. */
const RAISING_ACTIONS = [
  'routeByType',
  'campaignForTransfer',
  'announceConfigChange',
  'tickElection',
  'tickLeader',
];

/** Built-in actions that only report (emit) and so may become no-ops like the others. */
const EMITTING_ACTIONS = ['dropProposal'];

const setupGuards = raftRoleMachine.implementations.guards;
const setupActions = raftRoleMachine.implementations.actions;

const guards = Object.fromEntries(
  Object.keys(setupGuards).map((name) => [name, ({ event }: { event: unknown }) => has(event, name)]),
);

const actions: Record<string, unknown> = Object.fromEntries(
  Object.keys(setupActions).map((name) => [name, () => {}]),
);
Object.assign(actions, {
  routeByType: raise(({ event }: { event: RaftRoleEvent }) => {
    const m = (event as { m: Message & { flags?: string[] } }).m;
    return { type: MessageType[m.type] as keyof typeof MessageType, m } as RaftRoleEvent;
  }),
  campaignForTransfer: raise(
    ({ event }: { event: RaftRoleEvent }) =>
      ({ type: 'CAMPAIGN', transfer: true, flags: flagsOf(event) }) as RaftRoleEvent,
  ),
  announceConfigChange: raise(
    ({ event }: { event: RaftRoleEvent }) =>
      ({ type: 'CONFIG_CHANGED', flags: flagsOf(event) }) as RaftRoleEvent,
  ),
  tickElection: enqueueActions(
    ({ event, enqueue }: { event: RaftRoleEvent; enqueue: { raise: (e: RaftRoleEvent) => void } }) => {
      if (has(event, 'electionTimeout'))
        enqueue.raise({ type: 'CAMPAIGN', transfer: false, flags: flagsOf(event) } as RaftRoleEvent);
    },
  ),
  tickLeader: enqueueActions(
    ({ event, enqueue }: { event: RaftRoleEvent; enqueue: { raise: (e: RaftRoleEvent) => void } }) => {
      if (has(event, 'checkQuorumDue'))
        enqueue.raise({ type: 'CHECK_QUORUM', flags: flagsOf(event) } as RaftRoleEvent);
      if (has(event, 'beatDue')) enqueue.raise({ type: 'BEAT', flags: flagsOf(event) } as RaftRoleEvent);
    },
  ),
});

// provide() is typed per implementation; the test swaps every one of them for a generic stand-in.
const model = raftRoleMachine.provide({ guards, actions } as unknown as Parameters<
  typeof raftRoleMachine.provide
>[0]);
const input = { raft: {} as RaftState };

// ---- the chart's own structure -------------------------------------------------

function guardNames(g: unknown): string[] {
  if (g === undefined) return [];
  if (typeof g === 'string') return [g];
  const inner = (g as { guards?: unknown[] }).guards;
  if (Array.isArray(inner)) return inner.flatMap(guardNames);
  const type = (g as { type?: unknown }).type;
  return typeof type === 'string' ? [type] : [];
}

const root = model.root as AnyStateNode;
const below = (node: AnyStateNode): AnyStateNode[] =>
  (Object.values(node.states) as AnyStateNode[]).flatMap((s) => [s, ...below(s)]);
/** Every state node: the roles and the states that group them (following, campaigning). */
const states = below(root);
/** The roles: the innermost states. */
const roles = states.filter((s) => Object.keys(s.states).length === 0);
const stateNames = roles.map((s) => s.key);

/** The state node of a role and the states it is part of, innermost first, the root last. */
function lineage(role: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  for (let s: AnyStateNode | undefined = role; s !== undefined; s = s.parent) out.push(s);
  return out;
}

function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  const out: AnyTransitionDefinition[] = [];
  for (const defs of node.transitions.values()) out.push(...defs);
  out.push(...(node.always ?? []));
  return out;
}

const allTransitions = [root, ...states].flatMap(transitionsOf);

const describeTransition = (t: AnyTransitionDefinition): string =>
  `${t.source.key || '(root)'} --${t.eventType}${t.guard === undefined ? '' : ` [${guardNames(t.guard).join(' & ')}]`}--> ${t.target?.map((s) => s.key).join(',') ?? '(stay)'}`;

/** Guard names consulted when `eventType` arrives in `state` (and by the events it raises, and by `always`). */
function relevantGuards(role: AnyStateNode, eventType: string): string[] {
  const names = new Set<string>();
  const add = (node: AnyStateNode, type: string): void => {
    for (const t of node.transitions.get(type) ?? []) for (const n of guardNames(t.guard)) names.add(n);
  };
  const raised: Record<string, string[]> = {
    TICK: ['CAMPAIGN', 'CHECK_QUORUM', 'BEAT'],
    MsgTimeoutNow: ['CAMPAIGN'],
    MsgSnap: ['CONFIG_CHANGED'],
  };
  for (const type of [eventType, ...(raised[eventType] ?? [])]) for (const s of lineage(role)) add(s, type);
  for (const s of states) for (const t of s.always ?? []) for (const n of guardNames(t.guard)) names.add(n);
  return [...names];
}

function subsets<T>(items: readonly T[], maxSize: number): T[][] {
  const out: T[][] = [[]];
  const grow = (start: number, acc: T[]): void => {
    if (acc.length === maxSize) return;
    for (let i = start; i < items.length; i++) {
      const next = [...acc, items[i] as T];
      out.push(next);
      grow(i + 1, next);
    }
  };
  grow(0, []);
  return out;
}

// ---- the events the model is driven with ---------------------------------------------

const LOCAL_EVENTS = ['TICK', 'CAMPAIGN', 'BEAT', 'CHECK_QUORUM', 'CONFIG_CHANGED', 'APPLIED'];

/**
 * Message types some state handles: sent as themselves (a message of our term,
 * or a local request such as MsgProp), and as a STEP (a message of another
 * term), which the term rules re-raise as the event of its type.
 */
const MESSAGE_EVENTS = [...new Set([root, ...states].flatMap((n) => [...n.transitions.keys()]))].filter(
  (t) => t in MessageType,
);

function eventsFor(value: StateValue): RaftRoleEvent[] {
  const state = roles.find((s) => s.key === roleOf(value))!;
  const events: RaftRoleEvent[] = [];
  for (const type of LOCAL_EVENTS) {
    const flags = [...relevantGuards(state, type), ...(type === 'TICK' ? TICK_FLAGS : [])];
    for (const set of subsets(flags, 3)) {
      const m = Message.create({ type: MessageType.MsgProp });
      events.push({ type, m, transfer: false, flags: set } as unknown as RaftRoleEvent);
    }
  }
  for (const type of MESSAGE_EVENTS) {
    const mtype = MessageType[type as keyof typeof MessageType];
    for (const set of subsets(relevantGuards(state, type), 3)) {
      const m = Object.assign(Message.create({ type: mtype, term: 1 }), { flags: set });
      events.push({ type, m } as RaftRoleEvent);
    }
    const flags = [...new Set([...relevantGuards(state, 'STEP'), ...relevantGuards(state, type)])];
    for (const set of subsets(flags, 3)) {
      const m = Object.assign(Message.create({ type: mtype, term: 1 }), { flags: set });
      events.push({ type: 'STEP', m } as RaftRoleEvent);
    }
  }
  return events;
}

const eventKey = (e: RaftRoleEvent): string => {
  const m = (e as { m?: Message }).m;
  return `${e.type}${m !== undefined && e.type === 'STEP' ? `:${MessageType[m.type]}` : ''}[${flagsOf(e).join(',')}]`;
};

// ---- the tests ------------------------------------------------------------------------

describe('raft role statechart (model-based)', () => {
  const paths = getShortestPaths(model, {
    input,
    events: (snapshot) => eventsFor(snapshot.value),
    serializeEvent: (e) => eventKey(e as RaftRoleEvent),
  });

  it('reaches every state of the chart', () => {
    const reached = new Set(paths.map((p) => roleOf(p.state.value)));
    expect([...reached].sort()).toEqual([...stateNames].sort());
    expect(stateNames.sort()).toEqual(['candidate', 'follower', 'leader', 'learner', 'preCandidate']);
  });

  it('replaces every implementation it has to (no built-in action left unaccounted for)', () => {
    for (const [name, impl] of Object.entries(setupActions)) {
      const builtin = typeof (impl as { type?: unknown }).type === 'string';
      if (builtin)
        expect(
          [...RAISING_ACTIONS, ...EMITTING_ACTIONS],
          `${name} is a built-in action the model must re-create`,
        ).toContain(name);
    }
  });

  it('takes every transition of the chart', () => {
    const taken = new Set<AnyTransitionDefinition>();
    for (const path of paths) {
      for (const event of eventsFor(path.state.value)) {
        const actor = createActor(model, {
          input,
          inspect: (ev: InspectionEvent) => {
            if (ev.type === '@xstate.microstep') for (const t of ev._transitions) taken.add(t);
          },
        });
        actor.start();
        for (const step of path.steps) actor.send(step.event);
        expect(actor.getSnapshot().value).toEqual(path.state.value);
        actor.send(event);
        actor.stop();
      }
    }
    const missed = allTransitions.filter((t) => !taken.has(t)).map(describeTransition);
    expect(missed).toEqual([]);
    expect(taken.size).toBeGreaterThanOrEqual(allTransitions.length);
  });
});
