// A V8 CPU profile (.cpuprofile, from `node --cpu-prof` or `npm run bench --
// --compare --profile DIR`) drawn as a flame graph in one self-contained SVG:
// one box per call path, as wide as the time spent in it and below it, idle
// time left out. Colours say whose code it is: xetcd's own, a dependency's,
// Node's, or the garbage collector; a table of where the busy time went goes
// to stdout. Usage: npm run flamegraph -- IN.cpuprofile OUT.svg [--title T]
import { readFileSync, writeFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
}

interface Frame {
  readonly name: string;
  readonly where: string;
  readonly kind: 'xetcd' | 'dependency' | 'node' | 'gc' | 'vm';
  readonly self: number;
  readonly children: Frame[];
  total: number;
}

const ROW = 17;
const WIDTH = 1600;
const COLOURS: Readonly<Record<Frame['kind'], string>> = {
  xetcd: '#e8743b',
  dependency: '#5b8def',
  node: '#9aa5b1',
  gc: '#d64545',
  vm: '#c9b458',
};

function kindOf(node: ProfileNode): Frame['kind'] {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'gc';
  if (url === '') return 'vm';
  if (url.includes('/node_modules/')) return 'dependency';
  if (url.startsWith('node:') || !url.includes('/')) return 'node';
  return 'xetcd';
}

function shortUrl(url: string): string {
  const at = url.lastIndexOf('/node_modules/');
  if (at >= 0) return url.slice(at + '/node_modules/'.length);
  const src = url.search(/\/(src|machines|dist)\//);
  return src >= 0 ? url.slice(src + 1) : url;
}

/** The call tree with each frame's own and total sample counts; idle time is not work and is dropped. */
export function callTree(profile: CpuProfile): Frame {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const build = (node: ProfileNode): Frame => {
    const children = (node.children ?? [])
      .map((id) => byId.get(id))
      .filter((n): n is ProfileNode => n !== undefined && n.callFrame.functionName !== '(idle)')
      .map(build);
    const self = node.hitCount ?? 0;
    const frame: Frame = {
      name: node.callFrame.functionName || '(anonymous)',
      where:
        node.callFrame.url === '' ? '' : `${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`,
      kind: kindOf(node),
      self,
      children: children.sort((a, b) => b.total - a.total),
      total: self + children.reduce((sum, c) => sum + c.total, 0),
    };
    return frame;
  };
  const root = profile.nodes[0];
  if (root === undefined) throw new Error('the profile has no nodes');
  return build(root);
}

const escape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function depth(frame: Frame): number {
  return 1 + frame.children.reduce((max, c) => Math.max(max, depth(c)), 0);
}

export function flameSvg(profile: CpuProfile, title: string): string {
  const root = callTree(profile);
  const samples = profile.samples?.length ?? root.total;
  const msPerSample = samples > 0 ? (profile.endTime - profile.startTime) / 1000 / samples : 0;
  const rows = depth(root);
  const height = (rows + 4) * ROW;
  const scale = root.total > 0 ? WIDTH / root.total : 0;
  const boxes: string[] = [];
  const draw = (frame: Frame, x: number, level: number): void => {
    const w = frame.total * scale;
    if (w < 0.5) return;
    const y = (level + 3) * ROW;
    const ms = (frame.total * msPerSample).toFixed(1);
    const pct = ((100 * frame.total) / root.total).toFixed(1);
    const label = w > 40 ? escape(frame.name.slice(0, Math.floor(w / 7))) : '';
    boxes.push(
      `<g><title>${escape(frame.name)} ${escape(frame.where)} — ${ms} ms, ${pct} % (self ${(frame.self * msPerSample).toFixed(1)} ms)</title>` +
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 1}" fill="${COLOURS[frame.kind]}" rx="2"/>` +
        (label ? `<text x="${(x + 3).toFixed(1)}" y="${y + ROW - 5}">${label}</text>` : '') +
        '</g>',
    );
    let cx = x;
    for (const c of frame.children) {
      draw(c, cx, level + 1);
      cx += c.total * scale;
    }
  };
  draw(root, 0, 0);
  const legend = Object.entries(COLOURS)
    .map(
      ([k, c], i) =>
        `<rect x="${4 + i * 104}" y="${ROW + 4}" width="12" height="12" fill="${c}"/><text x="${20 + i * 104}" y="${ROW + 14}">${k}</text>`,
    )
    .join('');
  const busy = (root.total * msPerSample).toFixed(0);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="monospace" font-size="11">
<style>text{fill:#111;pointer-events:none}</style>
<text x="4" y="14" font-size="13">${escape(title)} — ${busy} ms busy (idle left out)</text>${legend}
${boxes.join('\n')}
</svg>
`;
}

/** Who the self time belongs to: xetcd's own files, each dependency, Node, GC, the VM. */
function ownerOf(frame: Frame): string {
  if (frame.kind !== 'dependency' && frame.kind !== 'xetcd') return frame.kind;
  const path = frame.where.replace(/:\d+$/, '');
  if (frame.kind === 'xetcd') return path.split('/').slice(0, 2).join('/');
  const parts = path.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Busy time by owner, largest first, as a Markdown table (the flame graph's summary). */
export function selfTimeTable(profile: CpuProfile, top = 15): string {
  const root = callTree(profile);
  const byOwner = new Map<string, number>();
  const walk = (f: Frame): void => {
    byOwner.set(ownerOf(f), (byOwner.get(ownerOf(f)) ?? 0) + f.self);
    f.children.forEach(walk);
  };
  walk(root);
  const total = [...byOwner.values()].reduce((a, b) => a + b, 0);
  const rows = [...byOwner.entries()]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([owner, n]) => `| ${owner} | ${((100 * n) / total).toFixed(1)} % |`);
  return ['| self time in | share of busy time |', '|---|---|', ...rows].join('\n');
}

function main(argv: string[]): void {
  const args = argv.slice(2);
  const titleAt = args.indexOf('--title');
  const title = titleAt >= 0 ? (args.splice(titleAt, 2)[1] ?? '') : '';
  const [input, output] = args;
  if (input === undefined || output === undefined) {
    process.stderr.write('usage: npm run flamegraph -- IN.cpuprofile OUT.svg [--title TITLE]\n');
    process.exitCode = 2;
    return;
  }
  const profile = JSON.parse(readFileSync(input, 'utf8')) as CpuProfile;
  writeFileSync(output, flameSvg(profile, title || input));
  process.stderr.write(`wrote ${output}\n`);
  process.stdout.write(`${selfTimeTable(profile)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv);
