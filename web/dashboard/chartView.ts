/**
 * A chart laid out by ELK and drawn as SVG. Each definition is laid out once
 * (ELK is the page's slowest step); every member gets a copy of the drawing,
 * whose active states are then marked from the member's state value.
 *
 * ELK runs in a Web Worker the member serves (/dashboard/elk-worker.js):
 * its 1.6 MB of compiled Java then loads and lays out off the page's thread,
 * so the members table shows before the charts are ready. The worker starts
 * only when a chart is not in the layout cache.
 */
import ELK from 'elkjs/lib/elk-api.js';
import type { ELK as ElkApi, ElkExtendedEdge, ElkNode, ElkPoint } from 'elkjs/lib/elk-api.js';
import type { ChartName, StateValueJson } from '../../src/api/dashboard/protocol.js';
import { chartGraph, LINE_HEIGHT, transitionText, type ChartGraph, type NodeMeta } from './chartGraph.js';
import { activeLeaves, activePaths, chartModel } from './chartModel.js';
import { s, setAttr } from './dom.js';
import { cachedLayout, storeLayout } from './layoutCache.js';

export const ELK_WORKER_URL = '/dashboard/elk-worker.js';

let elk: ElkApi | undefined;

export interface ChartTemplate {
  readonly name: ChartName;
  readonly svg: SVGSVGElement;
}

export async function layoutChart(name: ChartName, definition: unknown): Promise<ChartTemplate> {
  const graph = chartGraph(chartModel(definition));
  const input = JSON.stringify(graph.graph);
  const cached = cachedLayout(name, input);
  if (cached !== undefined) return { name, svg: draw(name, cached, graph) };
  elk ??= new ELK({ workerUrl: ELK_WORKER_URL });
  const laidOut = await elk.layout(graph.graph);
  storeLayout(name, input, laidOut);
  return { name, svg: draw(name, laidOut, graph) };
}

function arrowHead(from: ElkPoint, to: ElkPoint): string {
  const angle = Math.atan2(to.y - from.y, to.x - from.x);
  const size = 7;
  const corner = (turn: number): string =>
    `${(to.x - size * Math.cos(angle + turn)).toFixed(1)},${(to.y - size * Math.sin(angle + turn)).toFixed(1)}`;
  return `${to.x.toFixed(1)},${to.y.toFixed(1)} ${corner(0.45)} ${corner(-0.45)}`;
}

function drawEdge(edge: ElkExtendedEdge, layer: SVGGElement, labels: SVGGElement): void {
  for (const section of edge.sections ?? []) {
    const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('');
    const last = points[points.length - 1]!;
    const before = points[points.length - 2] ?? last;
    layer.append(
      s('path', { class: 'edge', d }),
      s('polygon', { class: 'arrow', points: arrowHead(before, last) }),
    );
  }
  for (const label of edge.labels ?? []) {
    const x = label.x ?? 0;
    const y = label.y ?? 0;
    const text = s('text', { class: 'edge-label', x, y });
    (label.text ?? '').split('\n').forEach((line, i) => {
      text.append(s('tspan', { x, dy: i === 0 ? LINE_HEIGHT - 3 : LINE_HEIGHT }, line));
    });
    labels.append(
      s('rect', { class: 'edge-label-bg', x, y, width: label.width ?? 0, height: label.height ?? 0 }),
      text,
    );
  }
}

function drawNode(node: ElkNode, meta: NodeMeta, ox: number, oy: number): SVGGElement {
  const x = ox + (node.x ?? 0);
  const y = oy + (node.y ?? 0);
  const width = node.width ?? 0;
  const height = node.height ?? 0;
  if (meta.kind === 'initial') {
    return s('g', { class: 'initial' }, s('circle', { cx: x + width / 2, cy: y + height / 2, r: width / 2 }));
  }
  const classes = [
    'state',
    meta.kind === 'any' ? 'any' : (meta.type ?? 'atomic'),
    meta.compound ? 'compound' : '',
  ];
  const g = s('g', {
    class: classes.join(' ').trim(),
    'data-testid': meta.kind === 'state' ? 'chart-state' : undefined,
    'data-state': meta.kind === 'state' ? meta.path : undefined,
  });
  g.append(s('rect', { x, y, width, height, rx: meta.compound ? 8 : 6 }));
  if (meta.type === 'final')
    g.append(
      s('rect', { class: 'final-inner', x: x + 3, y: y + 3, width: width - 6, height: height - 6, rx: 4 }),
    );
  const textX = x + width / 2;
  const firstLine = meta.compound
    ? y + 16
    : y + height / 2 + 4 - (meta.internal.length > 0 ? LINE_HEIGHT / 2 : 0);
  g.append(s('text', { class: 'state-label', x: textX, y: firstLine }, meta.label));
  if (meta.internal.length > 0) {
    const events = [...new Set(meta.internal.map(transitionText))];
    g.append(
      s(
        'text',
        { class: 'state-internal', x: textX, y: firstLine + LINE_HEIGHT },
        s('title', {}, `Handled without leaving the state:\n${events.join('\n')}`),
        `↻ ${meta.internal.length} ${meta.internal.length === 1 ? 'event' : 'events'}`,
      ),
    );
  }
  return g;
}

function draw(name: ChartName, root: ElkNode, graph: ChartGraph): SVGSVGElement {
  const width = Math.ceil(root.width ?? 0);
  const height = Math.ceil(root.height ?? 0);
  const nodes = s('g', { class: 'nodes' });
  const edges = s('g', { class: 'edges' });
  const labels = s('g', { class: 'labels' });

  const walk = (node: ElkNode, ox: number, oy: number): void => {
    for (const child of node.children ?? []) {
      const meta = graph.nodes.get(child.id);
      if (meta !== undefined) nodes.append(drawNode(child, meta, ox, oy));
      walk(child, ox + (child.x ?? 0), oy + (child.y ?? 0));
    }
    for (const edge of node.edges ?? []) drawEdge(edge, edges, labels);
  };
  walk(root, 0, 0);

  return s(
    'svg',
    {
      class: 'chart',
      'data-testid': 'chart',
      'data-chart': name,
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: 'img',
    },
    nodes,
    edges,
    labels,
  );
}

/** A member's copy of a laid-out chart. */
export function chartFor(template: ChartTemplate, memberId: string, memberName: string): SVGSVGElement {
  const svg = template.svg.cloneNode(true) as SVGSVGElement;
  svg.setAttribute('data-member-id', memberId);
  svg.setAttribute('data-member-name', memberName);
  highlight(svg, undefined);
  return svg;
}

/** Marks the states `value` holds active; the innermost ones are the current state. Says whether they changed. */
export function highlight(svg: SVGSVGElement, value: StateValueJson | undefined): boolean {
  const before = svg.dataset['currentStates'];
  const active = new Set(value === undefined ? [] : activePaths(value));
  const current = new Set(value === undefined ? [] : activeLeaves(value));
  for (const g of svg.querySelectorAll<SVGGElement>('g[data-state]')) {
    const path = g.getAttribute('data-state') ?? '';
    setAttr(g, 'data-active', active.has(path) ? 'true' : undefined);
    setAttr(g, 'data-current', current.has(path) ? 'true' : undefined);
  }
  const chart = svg.getAttribute('data-chart') ?? 'chart';
  const member = svg.getAttribute('data-member-name') ?? '';
  svg.setAttribute(
    'aria-label',
    `${chart} statechart of ${member}, in ${[...current].join(', ') || 'no known state'}`,
  );
  svg.dataset['currentStates'] = [...current].join(' ');
  return before !== svg.dataset['currentStates'];
}

/** Scrolls a chart too big for its box so that its current state is in the middle of it. */
export function centerOnCurrent(box: HTMLElement, svg: SVGSVGElement): void {
  if (box.scrollWidth <= box.clientWidth && box.scrollHeight <= box.clientHeight) return;
  const node = svg.querySelector<SVGGElement>('[data-current="true"]');
  if (node === null) return;
  const boxRect = box.getBoundingClientRect();
  const nodeRect = node.getBoundingClientRect();
  box.scrollLeft += nodeRect.left + nodeRect.width / 2 - (boxRect.left + box.clientWidth / 2);
  box.scrollTop += nodeRect.top + nodeRect.height / 2 - (boxRect.top + box.clientHeight / 2);
}
