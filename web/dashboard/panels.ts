/**
 * The panels of etcd's Grafana dashboard, one small SVG line chart each, one
 * line per member (solid and dashed when a panel shows two quantities).
 */
import type { MetricsSample } from '../../src/api/dashboard/protocol.js';
import type { MemberView } from './cluster.js';
import { h, s } from './dom.js';
import { formatBytes, formatShort, gauge, intervalMean, niceCeil, rate, type Series } from './series.js';

interface Line {
  readonly label: string;
  readonly series: Series;
  readonly dashed?: boolean;
}

interface PanelSpec {
  readonly id: string;
  readonly title: string;
  readonly unit: (n: number) => string;
  readonly lines: (samples: readonly MetricsSample[]) => readonly Line[];
  /** A horizontal limit drawn across the panel (the quota). */
  readonly limit?: (samples: readonly MetricsSample[]) => number | undefined;
  /** Counts: an axis line at half of 1 would read "500m". */
  readonly whole?: boolean;
}

const perSecond = (n: number): string => `${formatShort(n)}/s`;
const bytesPerSecond = (n: number): string => `${formatBytes(n)}/s`;
const seconds = (n: number): string => `${formatShort(n)}s`;
/** etcd's default backend quota when --quota-backend-bytes is 0. */
const DEFAULT_QUOTA = 2 * 1024 ** 3;

export const PANELS: readonly PanelSpec[] = [
  {
    id: 'proposals-committed',
    title: 'Proposals committed',
    unit: perSecond,
    lines: (m) => [{ label: 'committed', series: rate(m, (x) => x.proposalsCommitted) }],
  },
  {
    id: 'proposals-applied',
    title: 'Proposals applied',
    unit: perSecond,
    lines: (m) => [{ label: 'applied', series: rate(m, (x) => x.proposalsApplied) }],
  },
  {
    id: 'proposals-pending',
    title: 'Proposals pending',
    unit: formatShort,
    whole: true,
    lines: (m) => [{ label: 'pending', series: gauge(m, (x) => x.proposalsPending) }],
  },
  {
    id: 'proposals-failed',
    title: 'Proposals failed',
    unit: perSecond,
    lines: (m) => [{ label: 'failed', series: rate(m, (x) => x.proposalsFailed) }],
  },
  {
    id: 'leader-changes',
    title: 'Leader changes (total)',
    unit: formatShort,
    whole: true,
    lines: (m) => [{ label: 'changes', series: gauge(m, (x) => x.leaderChanges) }],
  },
  {
    id: 'wal-fsync',
    title: 'WAL fsync latency (mean)',
    unit: seconds,
    lines: (m) => [{ label: 'fsync', series: intervalMean(m, (x) => x.walFsync) }],
  },
  {
    id: 'backend-commit',
    title: 'Backend commit latency (mean)',
    unit: seconds,
    lines: (m) => [{ label: 'commit', series: intervalMean(m, (x) => x.backendCommit) }],
  },
  {
    id: 'db-size',
    title: 'DB size (dashed: in use)',
    unit: formatBytes,
    lines: (m) => [
      { label: 'size', series: gauge(m, (x) => x.dbSize) },
      { label: 'in use', series: gauge(m, (x) => x.dbSizeInUse), dashed: true },
    ],
    limit: (m) => {
      const last = m[m.length - 1];
      return last === undefined ? undefined : last.quotaBytes > 0 ? last.quotaBytes : DEFAULT_QUOTA;
    },
  },
  {
    id: 'client-traffic',
    title: 'Client traffic (in, dashed: out)',
    unit: bytesPerSecond,
    lines: (m) => [
      { label: 'in', series: rate(m, (x) => x.clientBytesReceived) },
      { label: 'out', series: rate(m, (x) => x.clientBytesSent), dashed: true },
    ],
  },
  {
    id: 'peer-traffic',
    title: 'Peer traffic (in, dashed: out)',
    unit: bytesPerSecond,
    lines: (m) => [
      { label: 'in', series: rate(m, (x) => x.peerBytesReceived) },
      { label: 'out', series: rate(m, (x) => x.peerBytesSent), dashed: true },
    ],
  },
  {
    id: 'watches',
    title: 'Watch streams (dashed: watchers)',
    unit: formatShort,
    whole: true,
    lines: (m) => [
      { label: 'streams', series: gauge(m, (x) => x.watchStreams) },
      { label: 'watchers', series: gauge(m, (x) => x.watchers), dashed: true },
    ],
  },
];

const W = 300;
const H = 120;
const LEFT = 52;
const BOTTOM = 16;
const TOP = 6;
/** The window a panel shows. */
export const WINDOW_MS = 5 * 60 * 1000;

/** Members get colours by their position, so a member keeps its colour on every panel. */
export const memberColorClass = (index: number): string => `member-${index % 6}`;

function linePath(series: Series, x: (at: number) => number, y: (v: number) => number): string {
  let d = '';
  let prevAt: number | undefined;
  for (const p of series) {
    // A gap of more than a few samples (a member away) is drawn as one.
    const jump = prevAt === undefined || p.at - prevAt > 5000;
    d += `${jump ? 'M' : 'L'}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`;
    prevAt = p.at;
  }
  return d;
}

function drawPanel(spec: PanelSpec, members: readonly MemberView[]): SVGSVGElement {
  const now = Math.max(0, ...members.flatMap((m) => m.metrics.slice(-1).map((x) => x.at)));
  const from = now - WINDOW_MS;
  const drawn = members.map((m) => {
    const samples = m.metrics.filter((x) => x.at >= from - 1000);
    return { lines: spec.lines(samples), limit: spec.limit?.(samples) };
  });
  const values = drawn.flatMap((d) => d.lines.flatMap((l) => l.series.map((p) => p.value)));
  const limits = drawn.map((d) => d.limit).filter((l): l is number => l !== undefined);
  const dataMax = Math.max(0, ...values);
  // The quota sets the scale only when the data comes near it; otherwise it is a note.
  const top = niceCeil(limits.some((l) => l <= dataMax * 2) ? Math.max(dataMax, ...limits) : dataMax);
  const x = (at: number): number => LEFT + ((at - from) / WINDOW_MS) * (W - LEFT - 4);
  const y = (v: number): number => TOP + (1 - v / top) * (H - TOP - BOTTOM);

  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'panel-chart',
    role: 'img',
    'aria-label': spec.title,
  });
  const ticks = spec.whole === true && !Number.isInteger(top / 2) ? [0, top] : [0, top / 2, top];
  for (const v of ticks) {
    svg.append(
      s('line', { class: 'grid', x1: LEFT, x2: W - 4, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis', x: LEFT - 4, y: y(v) + 4 }, spec.unit(v)),
    );
  }
  svg.append(
    s('text', { class: 'axis time', x: LEFT, y: H - 2 }, '−5 min'),
    s('text', { class: 'axis time end', x: W - 4, y: H - 2 }, 'now'),
  );
  drawn.forEach((d, i) => {
    for (const line of d.lines) {
      svg.append(
        s('path', {
          class: `line ${memberColorClass(i)}${line.dashed === true ? ' dashed' : ''}`,
          d: linePath(line.series, x, y),
        }),
      );
    }
    if (d.limit !== undefined && d.limit <= top) {
      svg.append(s('line', { class: 'limit', x1: LEFT, x2: W - 4, y1: y(d.limit), y2: y(d.limit) }));
    }
  });
  if (limits.length > 0 && Math.max(...limits) > top) {
    svg.append(
      s('text', { class: 'axis note', x: W - 6, y: TOP + 10 }, `quota ${formatBytes(Math.max(...limits))}`),
    );
  }
  return svg;
}

/** The latest value of a panel's first line, per member, for the legend. */
function latest(spec: PanelSpec, member: MemberView): string {
  const series = spec.lines(member.metrics.slice(-2))[0]?.series ?? [];
  const last = series[series.length - 1];
  return last === undefined ? '–' : spec.unit(last.value);
}

export function renderPanels(container: HTMLElement, members: readonly MemberView[]): void {
  const figures = PANELS.map((spec) =>
    h(
      'figure',
      { class: 'panel', 'data-testid': 'panel', 'data-panel': spec.id },
      h('figcaption', {}, spec.title),
      drawPanel(spec, members),
      h(
        'ul',
        { class: 'legend' },
        ...members.map((m, i) =>
          h(
            'li',
            {},
            h('span', { class: `swatch ${memberColorClass(i)}`, 'aria-hidden': 'true' }),
            `${m.name || m.id} ${latest(spec, m)}`,
          ),
        ),
      ),
    ),
  );
  container.replaceChildren(...figures);
}
