/**
 * The statecharts as data for other tools: the JSON of a machine's definition,
 * and a Mermaid `stateDiagram-v2` drawn from the same state nodes. Both read
 * the machine object itself, so what they show is what runs.
 *
 * XState's `definition` leaves out `always` transitions and drops inline
 * guards such as `not('hasLeader')` (they are functions); the JSON adds the
 * former and names the latter, so every transition of the chart is in it.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An inline guard combinator of XState (`not`, `and`, `or`): a function carrying its operands. */
interface GuardCombinator {
  readonly name: string;
  readonly guards: readonly unknown[];
}

function isCombinator(guard: unknown): guard is GuardCombinator {
  return typeof guard === 'function' && Array.isArray((guard as { guards?: unknown }).guards);
}

/** What a function in a definition stands for, as data: a guard combinator, a built-in action, or an inline one. */
function describeFunction(fn: { name: string; type?: unknown }): JsonValue {
  if (isCombinator(fn)) return { type: `xstate.${fn.name}`, guards: fn.guards as JsonValue[] };
  if (typeof fn.type === 'string') return { type: fn.type };
  return { type: fn.name === '' ? 'inline' : fn.name };
}

function definitionWithAlways(node: AnyStateNode): Record<string, unknown> {
  const states: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node.states)) states[key] = definitionWithAlways(child);
  return { ...node.definition, states, ...(node.always !== undefined ? { always: node.always } : {}) };
}

/** The machine's definition as JSON text (`machine.definition`, with `always` and inline guards kept). */
export function chartJson(machine: AnyStateMachine): string {
  return JSON.stringify(
    definitionWithAlways(machine.root),
    // A transition's own toJSON is copied into what it returns; it is no part of the chart.
    (key, value: unknown) =>
      key === 'toJSON'
        ? undefined
        : typeof value === 'function'
          ? describeFunction(value as { name: string; type?: unknown })
          : value,
    2,
  );
}

/** A guard as the label of an edge shows it: its name, or its combinator spelled out. */
export function guardLabel(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (isCombinator(guard)) {
    const operands = guard.guards.map((g) =>
      isCombinator(g) && g.guards.length > 1 ? `(${guardLabel(g)})` : guardLabel(g),
    );
    return guard.name === 'not' ? `not ${operands.join(' ')}` : operands.join(` ${guard.name} `);
  }
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string')
    return (guard as { type: string }).type;
  if (typeof guard === 'function') return guard.name === '' ? 'inline' : guard.name;
  return 'guard';
}

/** The source an invoke with this id runs, named as the chart names it. */
function invokedSource(node: AnyStateNode, invokeId: string): string {
  const invoke = node.invoke.find((i) => i.id === invokeId);
  return typeof invoke?.src === 'string' ? invoke.src : invokeId;
}

/** An edge's event as a person reads it: XState's internal event names become onDone, after, ... */
function eventLabel(node: AnyStateNode, t: AnyTransitionDefinition, always: boolean): string {
  if (always) return 'always';
  const delay = (t as { delay?: number | string }).delay;
  if (delay !== undefined) return typeof delay === 'number' ? `after ${delay}ms` : `after ${delay}`;
  const type = t.eventType;
  for (const [prefix, word] of [
    ['xstate.done.actor.', 'onDone'],
    ['xstate.error.actor.', 'onError'],
    ['xstate.snapshot.', 'onSnapshot'],
  ] as const) {
    if (type.startsWith(prefix)) return `${word} ${invokedSource(node, type.slice(prefix.length))}`;
  }
  if (type.startsWith('xstate.done.state.')) return 'onDone';
  return type;
}

/**
 * Mermaid reads a transition's text up to a `:` `;` or newline, takes `#`
 * for an entity, `%%` for a comment, `"` as the end of a state's name, and
 * `<` `>` as HTML.
 */
function mermaidText(text: string): string {
  return text
    .replace(/[:;#%"<>\r\n]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Words Mermaid's lexer takes as keywords where an identifier may stand. */
const MERMAID_KEYWORDS = new Set([
  'note',
  'class',
  'classdef',
  'scale',
  'state',
  'style',
  'click',
  'direction',
]);

function mermaidId(raw: string): string {
  const id = raw.replace(/[^A-Za-z0-9_]/g, '_');
  // Mermaid lexes "default" as a keyword even at the start of a longer word.
  return /^default/i.test(id) || MERMAID_KEYWORDS.has(id.toLowerCase()) || id === '' ? `_${id}` : id;
}

/** Every state node of the machine, parents before their children, in document order. */
function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap(allNodes)];
}

function ancestry(node: AnyStateNode): AnyStateNode[] {
  const chain: AnyStateNode[] = [];
  for (let n: AnyStateNode | undefined = node; n !== undefined; n = n.parent) chain.unshift(n);
  return chain;
}

/**
 * The block an edge is written in: the innermost state that holds both ends
 * (an edge from a state into its own child is written outside it). A parallel
 * state's block is split into regions by Mermaid, so its edges go one up.
 * `undefined` is the diagram itself.
 */
function blockOf(source: AnyStateNode, target: AnyStateNode): AnyStateNode | undefined {
  const a = ancestry(source);
  const b = ancestry(target);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  let block: AnyStateNode | undefined = a[i - 1];
  if (block === source || block === target) block = block?.parent;
  while (block?.type === 'parallel') block = block.parent;
  return block;
}

/** The chart as a Mermaid `stateDiagram-v2`: nested and parallel states, initial and final states, every transition. */
export function chartMermaid(machine: AnyStateMachine): string {
  const nodes = allNodes(machine.root);
  const ids = new Map<AnyStateNode, string>();
  const taken = new Set<string>();
  for (const node of nodes) {
    const base = mermaidId(node.parent === undefined ? node.key : `${ids.get(node.parent)}_${node.key}`);
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}_${n}`;
    taken.add(id);
    ids.set(node, id);
  }
  const idOf = (node: AnyStateNode): string => ids.get(node)!;

  const edges = new Map<AnyStateNode | undefined, string[]>();
  for (const node of nodes) {
    const transitions = [
      ...[...node.transitions.values()].flat().map((t) => ({ t, always: false })),
      ...(node.always ?? []).map((t) => ({ t, always: true })),
    ];
    for (const { t, always } of transitions) {
      const guard = t.guard === undefined ? '' : ` [${guardLabel(t.guard)}]`;
      const text = mermaidText(`${eventLabel(node, t, always)}${guard}`);
      for (const target of t.target ?? [node]) {
        const block = blockOf(node, target);
        const lines = edges.get(block) ?? [];
        lines.push(`${idOf(node)} --> ${idOf(target)} : ${text}`);
        edges.set(block, lines);
      }
    }
  }

  const out = ['stateDiagram-v2'];
  const write = (node: AnyStateNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    const name =
      node.type === 'history' ? (node.history === 'deep' ? 'H*' : 'H') : mermaidText(node.key) || idOf(node);
    const children = Object.values(node.states);
    if (children.length === 0) {
      out.push(`${pad}state "${name}" as ${idOf(node)}`);
    } else {
      out.push(`${pad}state "${name}" as ${idOf(node)} {`);
      if (node.type === 'compound') {
        for (const initial of node.initial.target) out.push(`${pad}  [*] --> ${idOf(initial)}`);
      }
      children.forEach((child, i) => {
        if (node.type === 'parallel' && i > 0) out.push(`${pad}  --`);
        write(child, depth + 1);
      });
      for (const child of children) if (child.type === 'final') out.push(`${pad}  ${idOf(child)} --> [*]`);
      for (const line of edges.get(node) ?? []) out.push(`${pad}  ${line}`);
      out.push(`${pad}}`);
    }
  };
  write(machine.root, 1);
  for (const line of edges.get(undefined) ?? []) out.push(`  ${line}`);
  return `${out.join('\n')}\n`;
}
