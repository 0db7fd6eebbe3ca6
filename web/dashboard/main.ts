/**
 * xetcd's dashboard page: the cluster as the serving member sees it, pushed
 * by /dashboard/events (server-sent events), the statecharts from
 * /dashboard/machines.json, and a key browser over the member's gateway.
 * Everything it loads comes from the member that serves it.
 *
 * Attributes for tests (stable; the browser tests select by them):
 * - members table: `tr[data-testid="member-row"]` with `data-member-id` (hex ID),
 *   `data-role` (RaftRoleName, absent until the member has spoken),
 *   `data-reachable` ("true" | "false"), `data-leader` ("true" on the row of a reachable leader);
 *   `data-testid="member-reason"` holds why a member is unreachable.
 * - charts: `svg[data-testid="chart"]` with `data-chart` (ChartName) and `data-member-id`;
 *   each state is `g[data-testid="chart-state"][data-state="following.follower"]` (its
 *   path below the machine); the states the member is in carry `data-active="true"`,
 *   the innermost of them (what is highlighted) `data-current="true"`; the svg itself carries
 *   `data-current-states` (those paths, space-separated).
 * - transitions: `ol[data-testid="transitions"][data-member-id]`, newest first,
 *   `li[data-testid="transition"]` with `data-chart` and `data-at` (the member's clock, ms since the epoch).
 * - panels: `figure[data-testid="panel"][data-panel]`.
 * - key browser: `[data-testid="key-tree"]`, `button[data-testid="key-item"][data-key]`,
 *   `[data-testid="key-detail"]`, `[data-testid="key-value"]`, `[data-testid="key-status"]`
 *   (`data-kind` "auth" | "denied" | "error" when it is a failure), `form[data-testid="login-form"]`,
 *   `input[data-testid="allow-editing"]`.
 * - `body[data-connection]`: "connecting" | "live" | "reconnecting";
 *   `body[data-charts]`: "loading" | "ready" | "failed".
 */
import './style.css';
import type { ChartDefinitions, ChartName, ClusterEvent } from '../../src/api/dashboard/protocol.js';
import { stateName } from './chartModel.js';
import { centerOnCurrent, chartFor, highlight, layoutChart, type ChartTemplate } from './chartView.js';
import {
  applyEvent,
  emptyCluster,
  orderedMembers,
  transitionText,
  type Change,
  type MemberView,
} from './cluster.js';
import { h } from './dom.js';
import { KeyBrowser } from './keyBrowser.js';
import { renderPanels } from './panels.js';
import { formatBytes } from './series.js';

/** The charts drawn for each member, in this order, with what the page calls them. */
const CHARTS: readonly (readonly [ChartName, string])[] = [
  ['raft', 'Raft role'],
  ['memberLifecycle', 'Member lifecycle'],
  ['serverParts', 'Server parts'],
];
const TRANSITIONS_SHOWN = 12;
const CLUSTER_EVENT_TYPES: readonly ClusterEvent['type'][] = ['members', 'reachability', 'member'];

const cluster = emptyCluster();
const templates = new Map<ChartName, ChartTemplate>();

const membersBody = h('tbody');
const chartsRoot = h('div', { class: 'members-charts' });
const panelsRoot = h('div', { class: 'panels' });
const connection = h('span', { class: 'connection', role: 'status' }, 'connecting…');
const servedBy = h('span', { class: 'served-by' });

/** Per member, the elements redrawn in place. */
interface MemberCard {
  readonly article: HTMLElement;
  readonly heading: HTMLElement;
  /** Where each chart goes once laid out. */
  readonly slots: ReadonlyMap<ChartName, HTMLElement>;
  readonly transitions: HTMLOListElement;
  readonly svgs: Map<ChartName, SVGSVGElement>;
}
const cards = new Map<string, MemberCard>();

function layout(): void {
  const section = (id: string, title: string, ...content: Node[]): HTMLElement =>
    h('section', { id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), ...content);
  const header = (label: string, abbr?: string): HTMLTableCellElement =>
    h('th', { scope: 'col' }, abbr === undefined ? label : h('abbr', { title: abbr }, label));
  document.body.append(
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'xetcd dashboard'),
      h('p', {}, servedBy, ' ', connection),
      h(
        'nav',
        { 'aria-label': 'Sections' },
        h('a', { href: '#members' }, 'Members'),
        h('a', { href: '#charts' }, 'Statecharts'),
        h('a', { href: '#metrics' }, 'Metrics'),
        h('a', { href: '#keys' }, 'Keys'),
      ),
    ),
    h(
      'main',
      {},
      section(
        'members',
        'Members',
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'members', 'data-testid': 'members' },
            h('caption', { class: 'visually-hidden' }, 'Each member, as etcdctl endpoint status shows it'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                header('Name'),
                header('ID'),
                header('Role'),
                header('Term'),
                header('Leader'),
                header('Commit'),
                header('Applied'),
                header('Revision'),
                header('DB size', 'size on disk (in use)'),
                header('Version'),
                header('Status'),
              ),
            ),
            membersBody,
          ),
        ),
      ),
      section('charts', 'Statecharts', chartsRoot),
      section(
        'metrics',
        'Metrics',
        h('p', { class: 'hint' }, 'The last five minutes, one line per member.'),
        panelsRoot,
      ),
      section('keys', 'Keys', h('div', { id: 'key-browser' })),
    ),
  );
}

const nameOf = (id: string): string => cluster.members.get(id)?.name ?? '';

function memberRow(m: MemberView): HTMLTableRowElement {
  const st = m.status;
  const cell = (label: string, ...content: (Node | string)[]): HTMLTableCellElement =>
    h('td', { 'data-label': label }, ...content);
  const reachable = m.reachable !== false;
  const leaderName = st === undefined || st.leader === '0' ? '' : nameOf(st.leader);
  const statusCell =
    m.reachable === false
      ? h('span', { class: 'bad', 'data-testid': 'member-reason' }, `unreachable: ${m.reason ?? ''}`)
      : m.reachable === undefined
        ? 'waiting…'
        : st !== undefined && st.errors.length > 0
          ? h('span', { class: 'warn' }, st.errors.join('; '))
          : h('span', { class: 'ok' }, 'reachable');
  const self = cluster.self === m.id;
  return h(
    'tr',
    {
      'data-testid': 'member-row',
      'data-member-id': m.id,
      'data-role': st?.role,
      'data-reachable': reachable ? 'true' : 'false',
      // An unreachable member's last status may still name it leader: it leads no longer as far as anyone knows.
      'data-leader': reachable && st !== undefined && st.leader === m.id ? 'true' : undefined,
      class: reachable ? undefined : 'unreachable',
    },
    h(
      'th',
      { scope: 'row', 'data-label': 'Name' },
      m.name || '(unnamed)',
      self ? h('span', { class: 'tag' }, 'this page') : '',
    ),
    cell('ID', h('code', {}, m.id)),
    cell(
      'Role',
      st === undefined
        ? '–'
        : h('span', { class: `role role-${st.role}` }, reachable ? st.role : `${st.role} (last seen)`),
    ),
    cell('Term', st === undefined ? '–' : String(st.term)),
    cell(
      'Leader',
      st === undefined || st.leader === '0'
        ? 'none'
        : h('span', {}, leaderName, ' ', h('code', {}, st.leader)),
    ),
    cell('Commit', st === undefined ? '–' : String(st.commitIndex)),
    cell('Applied', st === undefined ? '–' : String(st.appliedIndex)),
    cell('Revision', st === undefined ? '–' : String(st.revision)),
    cell('DB size', st === undefined ? '–' : `${formatBytes(st.dbSize)} (${formatBytes(st.dbSizeInUse)})`),
    cell('Version', st?.version ?? '–'),
    cell('Status', statusCell),
  );
}

function renderMembers(): void {
  membersBody.replaceChildren(...orderedMembers(cluster).map(memberRow));
}

function card(m: MemberView): MemberCard {
  let c = cards.get(m.id);
  if (c !== undefined) return c;
  const heading = h('h3', {});
  const transitions = h('ol', {
    class: 'transitions',
    'data-testid': 'transitions',
    'data-member-id': m.id,
    reversed: true,
  });
  const slots = new Map<ChartName, HTMLElement>();
  // One chart shown at a time per member (the others stay drawn and highlighted, only hidden).
  const figures = CHARTS.map(([name, title]) => {
    const slot = h(
      'div',
      { class: 'chart-scroll', tabindex: 0, role: 'group', 'aria-label': `${title} chart` },
      h('p', { class: 'hint' }, 'Laying out…'),
    );
    slots.set(name, slot);
    return h(
      'figure',
      { class: `chart-figure chart-${name}`, id: `chart-${m.id}-${name}`, hidden: name !== 'raft' },
      h('figcaption', { class: 'visually-hidden' }, `${title} of ${m.name || m.id}`),
      slot,
    );
  });
  const buttons = CHARTS.map(([name, title]) =>
    h(
      'button',
      {
        type: 'button',
        'aria-controls': `chart-${m.id}-${name}`,
        'aria-pressed': name === 'raft' ? 'true' : 'false',
      },
      title,
    ),
  );
  buttons.forEach((button, i) =>
    button.addEventListener('click', () => {
      buttons.forEach((b, j) => b.setAttribute('aria-pressed', i === j ? 'true' : 'false'));
      figures.forEach((f, j) => (f.hidden = i !== j));
      const name = CHARTS[i]![0];
      const svg = cards.get(m.id)?.svgs.get(name);
      const slot = slots.get(name);
      if (svg !== undefined && slot !== undefined) centerOnCurrent(slot, svg);
    }),
  );
  const article = h(
    'article',
    { class: 'member-card', 'data-member-id': m.id, 'aria-label': `Member ${m.name || m.id}` },
    heading,
    h('div', { class: 'chart-switch', role: 'group', 'aria-label': 'Chart' }, ...buttons),
    ...figures,
    h('h4', {}, 'Recent transitions'),
    transitions,
  );
  c = { article, heading, slots, transitions, svgs: new Map() };
  cards.set(m.id, c);
  for (const name of templates.keys()) placeChart(m, name);
  return c;
}

/** Puts a member's copy of a laid-out chart in its slot, highlighted. */
function placeChart(m: MemberView, name: ChartName): void {
  const c = cards.get(m.id);
  const template = templates.get(name);
  if (c === undefined || template === undefined || c.svgs.has(name)) return;
  const svg = chartFor(template, m.id, m.name);
  c.svgs.set(name, svg);
  const slot = c.slots.get(name);
  slot?.replaceChildren(svg);
  highlight(svg, m.status?.states[name]);
  if (slot !== undefined) centerOnCurrent(slot, svg);
}

function renderCards(): void {
  const members = orderedMembers(cluster);
  for (const id of [...cards.keys()]) {
    if (!cluster.members.has(id)) {
      cards.get(id)?.article.remove();
      cards.delete(id);
    }
  }
  const articles = members.map((m) => card(m).article);
  // Re-inserting a card would drop the keyboard focus inside it: only reorder when the order changed.
  const inPlace =
    articles.length === chartsRoot.children.length && articles.every((a, i) => chartsRoot.children[i] === a);
  if (!inPlace) chartsRoot.replaceChildren(...articles);
  for (const m of members) {
    renderCardStatus(m);
    renderTransitions(m);
  }
}

function renderCardStatus(m: MemberView): void {
  const c = card(m);
  const st = m.status;
  const role = st === undefined ? 'unknown' : st.role;
  c.heading.replaceChildren(m.name || m.id, ' ', h('span', { class: `role role-${role}` }, role));
  c.article.classList.toggle('unreachable', m.reachable === false);
  for (const [name, svg] of c.svgs) {
    const slot = c.slots.get(name);
    if (highlight(svg, st?.states[name]) && slot !== undefined) centerOnCurrent(slot, svg);
  }
}

function renderTransitions(m: MemberView): void {
  const c = card(m);
  const shown = m.transitions.slice(0, TRANSITIONS_SHOWN);
  c.transitions.replaceChildren(
    ...(shown.length === 0
      ? [h('li', { class: 'hint' }, 'none yet')]
      : shown.map((t) =>
          h(
            'li',
            { 'data-testid': 'transition', 'data-chart': t.chart, 'data-at': t.at },
            h('time', { datetime: new Date(t.at).toISOString() }, new Date(t.at).toLocaleTimeString()),
            ' ',
            t.chart === 'raft' ? '' : h('span', { class: 'tag' }, t.chart),
            transitionText(t),
          ),
        )),
  );
  c.transitions.setAttribute(
    'aria-label',
    `Recent transitions of ${m.name || m.id}; now ${stateName(m.status?.states.raft ?? 'unknown')}`,
  );
}

let panelsQueued = false;
function queuePanels(): void {
  if (panelsQueued) return;
  panelsQueued = true;
  requestAnimationFrame(() => {
    panelsQueued = false;
    renderPanels(panelsRoot, orderedMembers(cluster));
  });
}

function apply(changes: readonly Change[]): void {
  for (const change of changes) {
    switch (change.kind) {
      case 'members':
        renderMembers();
        renderCards();
        queuePanels();
        servedBy.textContent = `Served by ${nameOf(cluster.self ?? '') || cluster.self || '?'}.`;
        break;
      case 'status': {
        renderMembers();
        const m = cluster.members.get(change.id);
        if (m !== undefined) {
          if (!cards.has(m.id)) renderCards();
          renderCardStatus(m);
        }
        break;
      }
      case 'transitions': {
        const m = cluster.members.get(change.id);
        if (m !== undefined) renderTransitions(m);
        break;
      }
      case 'metrics':
        queuePanels();
        break;
    }
  }
}

function connect(): void {
  const source = new EventSource('/dashboard/events');
  const state = (s: 'connecting' | 'live' | 'reconnecting', text: string): void => {
    document.body.dataset['connection'] = s;
    connection.textContent = text;
    connection.className = `connection ${s}`;
  };
  state('connecting', 'connecting…');
  source.addEventListener('open', () => state('live', 'live'));
  // EventSource reconnects by itself; the member's first events then restate everything.
  source.addEventListener('error', () => state('reconnecting', 'connection lost, reconnecting…'));
  for (const type of CLUSTER_EVENT_TYPES) {
    source.addEventListener(type, (e: MessageEvent<string>) => {
      apply(applyEvent(cluster, JSON.parse(e.data) as ClusterEvent));
    });
  }
}

async function loadCharts(): Promise<void> {
  document.body.dataset['charts'] = 'loading';
  try {
    const res = await fetch('/dashboard/machines.json');
    if (!res.ok) throw new Error(`machines.json: HTTP ${res.status}`);
    const definitions = (await res.json()) as ChartDefinitions;
    // All three go to the worker at once; it answers in order, and each is drawn as it comes.
    await Promise.all(
      CHARTS.map(async ([name]) => {
        const template = await layoutChart(name, definitions[name]);
        templates.set(name, template);
        for (const m of cluster.members.values()) placeChart(m, name);
      }),
    );
    document.body.dataset['charts'] = 'ready';
  } catch (err) {
    document.body.dataset['charts'] = 'failed';
    chartsRoot.before(
      h(
        'p',
        { class: 'error', role: 'alert' },
        `The charts could not be drawn: ${err instanceof Error ? err.message : String(err)}`,
      ),
    );
  }
}

layout();
connect();
new KeyBrowser(document.getElementById('key-browser')!).start();
void loadCharts();
