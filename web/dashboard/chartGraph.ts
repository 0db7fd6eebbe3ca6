/**
 * A chart model as ELK's input graph: a compound node per nested state, an
 * initial marker in every compound state, one edge per (source, target)
 * pair labelled with every transition it stands for, and the transitions
 * that stay in their state (actions only) listed on the state instead of
 * drawn as loops (the Raft leader alone has a score of them).
 *
 * Labels are sized without a DOM: chart text is monospace, so a width is
 * the character count times one advance.
 */
import type { ElkExtendedEdge, ElkLabel, ElkNode } from 'elkjs/lib/elk-api.js';
import type { ChartModel, ChartState, ChartTransition } from './chartModel.js';

/** Chart text: 11 px monospace, whose advance is 0.6 em (the SVG sets the same font). */
export const CHAR_WIDTH = 6.7;
export const LINE_HEIGHT = 14;
const PAD_X = 10;
const LEAF_HEIGHT = 26;
const INITIAL_SIZE = 10;

export type NodeKind = 'state' | 'initial' | 'any';

/** What the drawing needs of each ELK node beyond its box. */
export interface NodeMeta {
  readonly kind: NodeKind;
  /** The state's path ('' for the machine's "any state" node and the top initial marker). */
  readonly path: string;
  readonly label: string;
  readonly type?: ChartState['type'];
  readonly compound: boolean;
  /** Transitions that leave the state where it is. */
  readonly internal: readonly ChartTransition[];
}

export interface EdgeMeta {
  readonly source: string;
  readonly target: string;
  readonly transitions: readonly ChartTransition[];
  /** The ELK node the edge is defined in ('root' for the graph): the innermost state holding both ends. */
  readonly container: string;
}

export interface ChartGraph {
  readonly graph: ElkNode;
  readonly nodes: ReadonlyMap<string, NodeMeta>;
  readonly edges: ReadonlyMap<string, EdgeMeta>;
}

export const ROOT_ID = 'root';
export const ANY_ID = 'any';
export const stateNodeId = (path: string): string => `s:${path}`;
const initialNodeId = (parentPath: string): string => `init:${parentPath}`;

export const transitionText = (t: ChartTransition): string =>
  t.guard === undefined ? t.event : `${t.event} [${t.guard}]`;

function label(lines: readonly string[]): ElkLabel {
  const width = Math.max(...lines.map((l) => l.length)) * CHAR_WIDTH;
  return { text: lines.join('\n'), width, height: lines.length * LINE_HEIGHT };
}

/** One line per distinct text: the same event under several guards reads once per guard. */
function edgeLines(transitions: readonly ChartTransition[]): string[] {
  return [...new Set(transitions.map(transitionText))];
}

const parentPath = (path: string): string => (path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '');

/** The innermost state holding both ends ('' is the machine); an edge into a state's own child is drawn outside it. */
function containerPath(source: string, target: string): string {
  const a = source === '' ? [] : source.split('.');
  const b = target === '' ? [] : target.split('.');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  let common = a.slice(0, i).join('.');
  if (i > 0 && (common === source || common === target)) common = parentPath(common);
  return common;
}

const elkIdOfPath = (path: string): string => (path === '' ? ROOT_ID : stateNodeId(path));

export function chartGraph(model: ChartModel): ChartGraph {
  const nodes = new Map<string, NodeMeta>();
  const edges = new Map<string, EdgeMeta>();
  const elkNodes = new Map<string, ElkNode>();

  const internalOf = new Map<string, ChartTransition[]>();
  const between = new Map<string, ChartTransition[]>();
  for (const t of model.transitions) {
    if (t.source === t.target) {
      internalOf.set(t.source, [...(internalOf.get(t.source) ?? []), t]);
    } else {
      const key = `${t.source}\u0000${t.target}`;
      between.set(key, [...(between.get(key) ?? []), t]);
    }
  }

  const internalLine = (path: string): string[] => {
    const n = internalOf.get(path)?.length ?? 0;
    return n === 0 ? [] : [`↻ ${n} ${n === 1 ? 'event' : 'events'}`];
  };

  const build = (state: ChartState): ElkNode => {
    const id = stateNodeId(state.path);
    const compound = state.children.length > 0;
    const lines = [state.key, ...internalLine(state.path)];
    nodes.set(id, {
      kind: 'state',
      path: state.path,
      label: state.key,
      type: state.type,
      compound,
      internal: internalOf.get(state.path) ?? [],
    });
    const width = Math.max(...lines.map((l) => l.length)) * CHAR_WIDTH + 2 * PAD_X;
    const node: ElkNode = compound
      ? {
          id,
          children: [...initialMarker(state.path, state.initial), ...state.children.map(build)],
          layoutOptions: {
            'elk.padding': `[top=${12 + lines.length * LINE_HEIGHT},left=12,bottom=12,right=12]`,
            'elk.nodeSize.minimum': `(${width}, ${LEAF_HEIGHT})`,
            'elk.nodeSize.constraints': 'MINIMUM_SIZE',
          },
          edges: [],
        }
      : { id, width, height: LEAF_HEIGHT + (lines.length - 1) * LINE_HEIGHT };
    elkNodes.set(id, node);
    return node;
  };

  const initialMarker = (parent: string, initial: string | undefined): ElkNode[] => {
    if (initial === undefined) return [];
    const id = initialNodeId(parent);
    nodes.set(id, { kind: 'initial', path: parent, label: '', compound: false, internal: [] });
    const key = `${id}\u0000${initial}`;
    edges.set(`e:${key}`, {
      source: id,
      target: stateNodeId(initial),
      transitions: [],
      container: elkIdOfPath(parent),
    });
    return [{ id, width: INITIAL_SIZE, height: INITIAL_SIZE }];
  };

  const root: ElkNode = {
    id: ROOT_ID,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '28',
      'elk.spacing.edgeLabel': '2',
      'elk.layered.spacing.edgeNodeBetweenLayers': '12',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
      // Edges and their labels in the graph's coordinates, wherever they are defined.
      'elk.json.edgeCoords': 'ROOT',
    },
    children: [],
    edges: [],
  };
  elkNodes.set(ROOT_ID, root);
  root.children = [...initialMarker('', model.initial), ...model.states.map(build)];

  const rootInternal = internalOf.get('') ?? [];
  const rootLeaves = [...between.keys()].some((k) => k.startsWith('\u0000'));
  if (rootLeaves || rootInternal.length > 0) {
    const lines = ['any state', ...internalLine('')];
    nodes.set(ANY_ID, { kind: 'any', path: '', label: 'any state', compound: false, internal: rootInternal });
    root.children.push({
      id: ANY_ID,
      width: Math.max(...lines.map((l) => l.length)) * CHAR_WIDTH + 2 * PAD_X,
      height: LEAF_HEIGHT + (lines.length - 1) * LINE_HEIGHT,
    });
  }

  for (const [key, transitions] of between) {
    const [source = '', target = ''] = key.split('\u0000');
    const container = source === '' ? ROOT_ID : elkIdOfPath(containerPath(source, target));
    edges.set(`e:${key}`, {
      source: source === '' ? ANY_ID : stateNodeId(source),
      target: stateNodeId(target),
      transitions,
      container,
    });
  }

  for (const [id, edge] of edges) {
    const elkEdge: ElkExtendedEdge = {
      id,
      sources: [edge.source],
      targets: [edge.target],
      ...(edge.transitions.length > 0 ? { labels: [label(edgeLines(edge.transitions))] } : {}),
    };
    const container = elkNodes.get(edge.container) ?? root;
    container.edges = [...(container.edges ?? []), elkEdge];
  }
  return { graph: root, nodes, edges };
}
