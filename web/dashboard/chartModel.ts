/**
 * A statechart definition (the JSON `xetcd machines export --format json`
 * writes, served as /dashboard/machines.json) read into what the page draws:
 * the nested states, and the transitions between them with readable labels.
 * Pure data in, data out: the layout and the SVG come later.
 */
import type { StateValueJson } from '../../src/api/dashboard/protocol.js';

/** A state of the chart; `path` is its dotted path below the machine ('following.follower'). */
export interface ChartState {
  readonly path: string;
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly children: readonly ChartState[];
  /** The child a compound state enters first. */
  readonly initial?: string;
}

/** One transition of the chart. `source` '' is the machine itself ("in any state"). */
export interface ChartTransition {
  readonly source: string;
  /** Where it goes; equal to `source` for a transition that stays (actions only). */
  readonly target: string;
  /** The event as a person reads it: onDone/onError of an invoked actor, `after`, `always`. */
  readonly event: string;
  readonly guard?: string;
}

export interface ChartModel {
  /** The machine's id ('raft'). */
  readonly id: string;
  /** The machine's top-level states. */
  readonly states: readonly ChartState[];
  /** The top-level state the machine starts in. */
  readonly initial?: string;
  readonly transitions: readonly ChartTransition[];
}

interface RawTransition {
  readonly target?: readonly string[];
  readonly eventType?: string | null;
  readonly guard?: unknown;
  readonly delay?: number | string;
}

interface RawNode {
  readonly id: string;
  readonly key: string;
  readonly type: ChartState['type'];
  readonly states?: Readonly<Record<string, RawNode>>;
  readonly initial?: { readonly target?: readonly string[] };
  readonly transitions?: readonly RawTransition[];
  readonly always?: readonly RawTransition[];
  readonly invoke?: readonly { readonly id?: string; readonly src?: unknown }[];
}

function isRawNode(value: unknown): value is RawNode {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['id'] === 'string' && typeof v['key'] === 'string' && typeof v['type'] === 'string';
}

/** A guard as an edge shows it: its name, or an XState combinator (`xstate.not`, ...) spelled out. */
export function guardText(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard !== 'object' || guard === null) return 'guard';
  const { type, guards } = guard as { type?: unknown; guards?: unknown };
  if (typeof type !== 'string') return 'guard';
  if (!Array.isArray(guards)) return type;
  const operands = guards.map((g: unknown) => {
    const text = guardText(g);
    return typeof g === 'object' &&
      g !== null &&
      Array.isArray((g as { guards?: unknown }).guards) &&
      text.includes(' ')
      ? `(${text})`
      : text;
  });
  const op = type.replace(/^xstate\./, '');
  return op === 'not' ? `not ${operands.join(' ')}` : operands.join(` ${op} `);
}

const INTERNAL_EVENTS: readonly (readonly [string, string])[] = [
  ['xstate.done.actor.', 'onDone'],
  ['xstate.error.actor.', 'onError'],
  ['xstate.snapshot.', 'onSnapshot'],
];

function eventText(node: RawNode, t: RawTransition, always: boolean): string {
  if (always) return 'always';
  if (t.delay !== undefined) return typeof t.delay === 'number' ? `after ${t.delay}ms` : `after ${t.delay}`;
  const type = t.eventType ?? '';
  for (const [prefix, word] of INTERNAL_EVENTS) {
    if (!type.startsWith(prefix)) continue;
    const invokeId = type.slice(prefix.length);
    const src = node.invoke?.find((i) => i.id === invokeId)?.src;
    return `${word} ${typeof src === 'string' ? src : invokeId}`;
  }
  if (type.startsWith('xstate.done.state.')) return 'onDone';
  const after = /^xstate\.after\.(\w+)\./.exec(type);
  if (after !== null) return `after ${after[1] ?? ''}`;
  return type;
}

/** '#raft.following.follower' (or 'raft.following.follower') → 'following.follower'. */
function pathOf(machineId: string, ref: string): string {
  const id = ref.replace(/^#/, '');
  return id === machineId ? '' : id.startsWith(`${machineId}.`) ? id.slice(machineId.length + 1) : id;
}

/** Reads an exported definition; throws on something that is not one. */
export function chartModel(definition: unknown): ChartModel {
  if (!isRawNode(definition)) throw new Error('not a statechart definition');
  const machineId = definition.id;
  const transitions: ChartTransition[] = [];

  const collect = (node: RawNode): void => {
    const source = pathOf(machineId, node.id);
    const add = (list: readonly RawTransition[] | undefined, always: boolean): void => {
      for (const t of list ?? []) {
        const event = eventText(node, t, always);
        const guard = t.guard === undefined ? {} : { guard: guardText(t.guard) };
        const targets =
          t.target === undefined || t.target.length === 0
            ? [source]
            : t.target.map((r) => pathOf(machineId, r));
        for (const target of targets) transitions.push({ source, target, event, ...guard });
      }
    };
    add(node.transitions, false);
    add(node.always, true);
  };

  const read = (node: RawNode): ChartState => {
    collect(node);
    const children = Object.values(node.states ?? {}).map(read);
    const initial = node.type === 'compound' ? node.initial?.target?.[0] : undefined;
    return {
      path: pathOf(machineId, node.id),
      key: node.key,
      type: node.type,
      children,
      ...(initial !== undefined ? { initial: pathOf(machineId, initial) } : {}),
    };
  };

  collect(definition);
  const states = Object.values(definition.states ?? {}).map(read);
  const initial = definition.initial?.target?.[0];
  return {
    id: machineId,
    states,
    ...(initial !== undefined ? { initial: pathOf(machineId, initial) } : {}),
    transitions,
  };
}

/** Every state of the chart, parents before children. */
export function allStates(states: readonly ChartState[]): ChartState[] {
  return states.flatMap((s) => [s, ...allStates(s.children)]);
}

/** The paths of the states a state value holds active: 'following', 'following.follower'. */
export function activePaths(value: StateValueJson): string[] {
  if (typeof value === 'string') return [value];
  return Object.entries(value).flatMap(([key, inner]) => [
    key,
    ...activePaths(inner).map((p) => `${key}.${p}`),
  ]);
}

/** The innermost active states (what a chart highlights). */
export function activeLeaves(value: StateValueJson): string[] {
  if (typeof value === 'string') return [value];
  return Object.entries(value).flatMap(([key, inner]) => activeLeaves(inner).map((p) => `${key}.${p}`));
}

/** A state value as one short name: its innermost states ('follower'; 'serving.ready' reads 'ready'). */
export function stateName(value: StateValueJson): string {
  return activeLeaves(value)
    .map((p) => p.slice(p.lastIndexOf('.') + 1))
    .join(', ');
}
