import {
  and,
  createMachine,
  fromPromise,
  not,
  or,
  setup,
  type AnyStateMachine,
  type AnyStateNode,
} from 'xstate';
import { describe, expect, it } from 'vitest';
import { chartJson, chartMermaid, guardLabel } from '../../../machines/chartExport.js';
import { MACHINES } from '../../../machines/catalog.js';

const door = setup({
  guards: { isReady: () => true, isFull: () => false, isOpen: () => true },
  delays: { retryDelay: 500 },
}).createMachine({
  id: 'door',
  initial: 'closed',
  states: {
    closed: {
      on: { OPEN: { guard: 'isReady', target: 'opened' }, KNOCK: {} },
      after: { 1000: 'locked', retryDelay: { target: 'closed', reenter: true } },
    },
    locked: { always: [{ guard: not('isReady'), target: 'closed' }, { target: 'opened' }] },
    opened: {
      type: 'parallel',
      on: { SLAM: { guard: and(['isOpen', or(['isReady', 'isFull'])]), target: 'done' } },
      states: {
        light: { initial: 'on', states: { on: { on: { FLIP: 'off' } }, off: { on: { FLIP: 'on' } } } },
        fan: { initial: 'idle', states: { idle: {} } },
      },
      onDone: 'done',
    },
    done: { type: 'final' },
  },
});

/** Every state node of a machine, root first. */
function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap(nodesOf)];
}

/** How many edges a chart must draw: one per target of every transition (a targetless one loops). */
function edgeCount(machine: AnyStateMachine): number {
  return nodesOf(machine.root)
    .flatMap((n) => [...[...n.transitions.values()].flat(), ...(n.always ?? [])])
    .reduce((sum, t) => sum + (t.target?.length ?? 1), 0);
}

/**
 * What Mermaid's stateDiagram grammar needs of the text: declared, unique ids
 * of the characters its lexer takes; edges between declared states with a
 * non-empty label free of `:` `;` `#`; balanced blocks.
 */
function checkMermaidSyntax(text: string): { states: string[]; edges: number } {
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toBe('stateDiagram-v2');
  const declared: string[] = [];
  const endpoints: string[] = [];
  let depth = 0;
  let edges = 0;
  for (const line of lines.slice(1).map((l) => l.trim())) {
    let m: RegExpExecArray | null;
    if ((m = /^state "([^"]+)" as ([A-Za-z0-9_]+)( \{)?$/.exec(line)) !== null) {
      declared.push(m[2]!);
      if (m[3] !== undefined) depth++;
    } else if (line === '}') {
      depth--;
      expect(depth).toBeGreaterThanOrEqual(0);
    } else if ((m = /^\[\*\] --> ([A-Za-z0-9_]+)$/.exec(line)) !== null) {
      endpoints.push(m[1]!);
    } else if ((m = /^([A-Za-z0-9_]+) --> \[\*\]$/.exec(line)) !== null) {
      endpoints.push(m[1]!);
    } else if ((m = /^([A-Za-z0-9_]+) --> ([A-Za-z0-9_]+) : (.*)$/.exec(line)) !== null) {
      endpoints.push(m[1]!, m[2]!);
      expect(m[3]!.trim()).not.toBe('');
      expect(m[3]).not.toMatch(/[:;#]/);
      edges++;
    } else {
      expect(line).toBe('--');
    }
  }
  expect(depth).toBe(0);
  expect(new Set(declared).size).toBe(declared.length);
  for (const id of declared) expect(id).not.toMatch(/^default/i);
  for (const id of endpoints) expect(declared).toContain(id);
  return { states: declared, edges };
}

describe('chartMermaid', () => {
  it('draws nested, parallel, initial and final states, guards, after and always', () => {
    expect(chartMermaid(door)).toBe(
      [
        'stateDiagram-v2',
        '  state "door" as door {',
        '    [*] --> door_closed',
        '    state "closed" as door_closed',
        '    state "locked" as door_locked',
        '    state "opened" as door_opened {',
        '      state "light" as door_opened_light {',
        '        [*] --> door_opened_light_on',
        '        state "on" as door_opened_light_on',
        '        state "off" as door_opened_light_off',
        '        door_opened_light_on --> door_opened_light_off : FLIP',
        '        door_opened_light_off --> door_opened_light_on : FLIP',
        '      }',
        '      --',
        '      state "fan" as door_opened_fan {',
        '        [*] --> door_opened_fan_idle',
        '        state "idle" as door_opened_fan_idle',
        '      }',
        '    }',
        '    state "done" as door_done',
        '    door_done --> [*]',
        '    door_closed --> door_opened : OPEN [isReady]',
        '    door_closed --> door_closed : KNOCK',
        '    door_closed --> door_locked : after 1000ms',
        '    door_closed --> door_closed : after retryDelay',
        '    door_locked --> door_closed : always [not isReady]',
        '    door_locked --> door_opened : always',
        '    door_opened --> door_done : SLAM [isOpen and (isReady or isFull)]',
        '    door_opened --> door_done : onDone',
        '  }',
        '',
      ].join('\n'),
    );
  });

  it('writes an edge into its own child, and one from the root, outside the parent; names invoked actors', () => {
    const job = setup({
      actors: { fetchIt: fromPromise(() => Promise.resolve(1)) },
    }).createMachine({
      id: 'job',
      initial: 'busy',
      on: { RESET: '.busy' },
      states: {
        busy: {
          initial: 'loading',
          on: { RETRY: '.loading' },
          states: {
            loading: { invoke: { src: 'fetchIt', onDone: '#job.idle', onError: 'failed' } },
            failed: {},
          },
        },
        idle: {},
      },
    });
    expect(chartMermaid(job)).toBe(
      [
        'stateDiagram-v2',
        '  state "job" as job {',
        '    [*] --> job_busy',
        '    state "busy" as job_busy {',
        '      [*] --> job_busy_loading',
        '      state "loading" as job_busy_loading',
        '      state "failed" as job_busy_failed',
        '      job_busy_loading --> job_busy_failed : onError fetchIt',
        '    }',
        '    state "idle" as job_idle',
        '    job_busy --> job_busy_loading : RETRY',
        '    job_busy_loading --> job_idle : onDone fetchIt',
        '  }',
        '  job --> job_busy : RESET',
        '',
      ].join('\n'),
    );
  });

  it('escapes what Mermaid cannot take: ids of other characters, keywords, collisions; quotes, colons, comments in labels', () => {
    const odd = createMachine({
      id: 'default',
      initial: 'a-b',
      states: {
        'a-b': { on: { 'go:now': 'a_b' } },
        a_b: { on: { 'say "hi"; #1 %%': 'note' } },
        note: {},
      },
    });
    expect(chartMermaid(odd)).toBe(
      [
        'stateDiagram-v2',
        '  state "default" as _default {',
        '    [*] --> _default_a_b',
        '    state "a-b" as _default_a_b',
        '    state "a_b" as _default_a_b_2',
        '    state "note" as _default_note',
        '    _default_a_b --> _default_a_b_2 : go now',
        '    _default_a_b_2 --> _default_note : say hi 1',
        '  }',
        '',
      ].join('\n'),
    );
  });

  it('labels guards by name, combinators spelled out', () => {
    expect(guardLabel('isReady')).toBe('isReady');
    expect(guardLabel({ type: 'isAbove', params: { n: 1 } })).toBe('isAbove');
    expect(guardLabel(not(and(['a', 'b'])))).toBe('not (a and b)');
    expect(guardLabel(or([not('a'), 'b']))).toBe('not a or b');
  });

  for (const [name, machine] of MACHINES) {
    it(`draws every state and every transition of ${name}, in syntax Mermaid takes`, () => {
      const { states, edges } = checkMermaidSyntax(chartMermaid(machine));
      expect(states).toHaveLength(nodesOf(machine.root).length);
      expect(edges).toBe(edgeCount(machine));
    });
  }
});

describe('chartJson', () => {
  it('is machine.definition with always transitions and inline guards kept', () => {
    const json = JSON.parse(chartJson(door)) as {
      id: string;
      states: Record<
        string,
        { always?: { guard?: unknown; target?: string[] }[]; on: Record<string, unknown[]> }
      >;
    };
    expect(json.id).toBe('door');
    expect(Object.keys(json.states)).toEqual(['closed', 'locked', 'opened', 'done']);
    expect(json.states.locked!.always).toEqual([
      expect.objectContaining({
        guard: { type: 'xstate.not', guards: ['isReady'] },
        target: ['#door.closed'],
      }),
      expect.objectContaining({ target: ['#door.opened'] }),
    ]);
    expect(json.states.opened!.on.SLAM).toEqual([
      expect.objectContaining({
        guard: {
          type: 'xstate.and',
          guards: ['isOpen', { type: 'xstate.or', guards: ['isReady', 'isFull'] }],
        },
      }),
    ]);
    expect(chartJson(door)).not.toContain('toJSON');
  });

  for (const [name, machine] of MACHINES) {
    it(`holds every state and every transition of ${name}`, () => {
      type Def = { id: string; states: Record<string, Def>; transitions: unknown[]; always?: unknown[] };
      const byId = new Map<string, Def>();
      const walk = (d: Def): void => {
        byId.set(d.id, d);
        Object.values(d.states).forEach(walk);
      };
      walk(JSON.parse(chartJson(machine)) as Def);
      const nodes = nodesOf(machine.root);
      expect([...byId.keys()].sort()).toEqual(nodes.map((n) => n.id).sort());
      for (const n of nodes) {
        const def = byId.get(n.id)!;
        expect(def.transitions).toHaveLength([...n.transitions.values()].flat().length);
        expect(def.always?.length ?? 0).toBe(n.always?.length ?? 0);
      }
    });
  }
});
