import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api.js';
import { createMachine, not, setup, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { describe, expect, it } from 'vitest';
import { chartJson } from '../../../machines/chartExport.js';
import { MACHINES } from '../../../machines/catalog.js';
import { ANY_ID, chartGraph, stateNodeId, transitionText } from '../../../web/dashboard/chartGraph.js';
import {
  activeLeaves,
  activePaths,
  allStates,
  chartModel,
  guardText,
  stateName,
} from '../../../web/dashboard/chartModel.js';

// Node loads the bundle as CommonJS: the constructor is module.exports, which also carries it as .default.
const ELK = elkBundled.default;

/** A machine's definition as the page gets it: through the export's JSON. */
const exported = (machine: AnyStateMachine): unknown => JSON.parse(chartJson(machine));

function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap(nodesOf)];
}

/** The path the page uses for a state node: its id below the machine's. */
function pathOf(machine: AnyStateMachine, node: AnyStateNode): string {
  return node === machine.root ? '' : node.id.slice(machine.id.length + 1);
}

/** Every (source, target, event) the machine object has, one per target, with XState's raw event type. */
function machineTransitions(machine: AnyStateMachine): { source: string; target: string; always: boolean }[] {
  return nodesOf(machine.root).flatMap((node) =>
    [
      ...[...node.transitions.values()].flat().map((t) => ({ t, always: false })),
      ...(node.always ?? []).map((t) => ({ t, always: true })),
    ].flatMap(({ t, always }) =>
      (t.target ?? [node]).map((target) => ({
        source: pathOf(machine, node),
        target: pathOf(machine, target),
        always,
      })),
    ),
  );
}

describe('the chart layout input of each real machine', () => {
  for (const [name, machine] of MACHINES) {
    it(`${name}: every state is a node and every transition is on an edge or listed on its state`, () => {
      const model = chartModel(exported(machine));
      const graph = chartGraph(model);

      const statePaths = nodesOf(machine.root)
        .filter((n) => n !== machine.root)
        .map((n) => pathOf(machine, n));
      expect(allStates(model.states).map((s) => s.path)).toEqual(statePaths);
      for (const path of statePaths) expect(graph.nodes.get(stateNodeId(path))?.path).toBe(path);

      const expected = machineTransitions(machine);
      expect(model.transitions).toHaveLength(expected.length);
      const drawn = [
        ...[...graph.edges.values()].flatMap((e) => e.transitions),
        ...[...graph.nodes.values()].flatMap((n) => n.internal),
      ];
      expect(drawn).toHaveLength(expected.length);
      const key = (t: { source: string; target: string }): string => `${t.source} -> ${t.target}`;
      expect(drawn.map(key).sort()).toEqual(expected.map(key).sort());
      expect(drawn.filter((t) => t.event === 'always')).toHaveLength(expected.filter((t) => t.always).length);
      // Nothing XState-internal is left in a label.
      for (const t of drawn) expect(t.event).not.toMatch(/^xstate\.|^$/);
    });

    it(`${name}: ELK lays out every node and routes every edge`, async () => {
      const graph = chartGraph(chartModel(exported(machine)));
      const laidOut = await new ELK().layout(graph.graph);
      const positioned = new Map<string, ElkNode>();
      const walk = (n: ElkNode): void => {
        for (const c of n.children ?? []) {
          positioned.set(c.id, c);
          walk(c);
        }
      };
      walk(laidOut);
      for (const id of graph.nodes.keys()) {
        const n = positioned.get(id);
        expect(n?.x, id).toBeTypeOf('number');
        expect(n?.width, id).toBeGreaterThan(0);
      }
      const edges: NonNullable<ElkNode['edges']> = [];
      const collect = (n: ElkNode): void => {
        edges.push(...(n.edges ?? []));
        for (const c of n.children ?? []) collect(c);
      };
      collect(laidOut);
      expect(edges.map((e) => e.id).sort()).toEqual([...graph.edges.keys()].sort());
      for (const e of edges) expect(e.sections?.length, e.id).toBeGreaterThan(0);
    });
  }

  it('labels the Raft chart as the machine reads: guards spelled out, eventless edges as always', () => {
    const raft = chartGraph(chartModel(exported(MACHINES.get('raft')!)));
    const labels = [...raft.edges.values()].flatMap((e) => e.transitions.map(transitionText));
    expect(labels).toContain('always [hasWonElection]');
    expect(labels).toContain('CAMPAIGN [isPreVoteCampaign]');
    expect(labels).toContain('CHECK_QUORUM [not isQuorumActive]');
    // Transitions of the machine itself leave from the "any state" node.
    expect([...raft.edges.values()].some((e) => e.source === ANY_ID)).toBe(true);
  });
});

describe('chartModel', () => {
  const door = setup({
    guards: { isReady: () => true },
    actors: { opener: createMachine({}) },
  }).createMachine({
    id: 'door',
    initial: 'closed',
    on: { RESET: '.closed' },
    states: {
      closed: { on: { OPEN: { guard: 'isReady', target: 'opening' }, KNOCK: {} }, after: { 1000: 'locked' } },
      locked: { always: { guard: not('isReady'), target: 'closed' } },
      opening: { invoke: { src: 'opener', onDone: 'opened', onError: 'closed' } },
      opened: {
        type: 'parallel',
        states: { light: { initial: 'on', states: { on: { on: { FLIP: 'off' } }, off: {} } } },
      },
      done: { type: 'final' },
    },
  });

  it('reads events as people do: after, onDone/onError of the invoked source, always with its guard', () => {
    const model = chartModel(exported(door as AnyStateMachine));
    const text = (source: string): string[] =>
      model.transitions
        .filter((t) => t.source === source)
        .map((t) => `${t.event}${t.guard ? ` [${t.guard}]` : ''} -> ${t.target}`);
    expect(text('closed')).toEqual([
      'OPEN [isReady] -> opening',
      'KNOCK -> closed',
      'after 1000ms -> locked',
    ]);
    expect(text('locked')).toEqual(['always [not isReady] -> closed']);
    expect(text('opening')).toEqual(['onDone opener -> opened', 'onError opener -> closed']);
    expect(text('')).toEqual(['RESET -> closed']);
    expect(model.initial).toBe('closed');
    const opened = model.states.find((s) => s.key === 'opened');
    expect(opened?.type).toBe('parallel');
    expect(opened?.children[0]?.initial).toBe('opened.light.on');
  });

  it('rejects what is not a definition', () => {
    expect(() => chartModel({ hello: 1 })).toThrow(/not a statechart/);
  });

  it('spells out guard combinators', () => {
    expect(guardText('isReady')).toBe('isReady');
    expect(guardText({ type: 'xstate.not', guards: ['hasLeader'] })).toBe('not hasLeader');
    expect(guardText({ type: 'xstate.and', guards: ['a', { type: 'xstate.or', guards: ['b', 'c'] }] })).toBe(
      'a and (b or c)',
    );
  });

  it('finds the active and the current states of a state value', () => {
    const value = { serving: 'ready' };
    expect(activePaths(value)).toEqual(['serving', 'serving.ready']);
    expect(activeLeaves(value)).toEqual(['serving.ready']);
    expect(activeLeaves('leader')).toEqual(['leader']);
    expect(activeLeaves({ running: { leadership: 'leader', io: 'idle' } })).toEqual([
      'running.leadership.leader',
      'running.io.idle',
    ]);
    expect(stateName({ campaigning: 'preCandidate' })).toBe('preCandidate');
    expect(stateName({ running: { leadership: 'leader', io: 'idle' } })).toBe('leader, idle');
  });
});
