// Prometheus's text exposition format, read into families and samples, and a
// check of PromQL selectors against them: enough to ask "would this
// dashboard panel or alert rule find a series here?" without a Prometheus.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly samples: Sample[];
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
    labels[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return labels;
}

/** Families by name; samples of histograms and summaries (…_bucket, …_sum, …_count) go to their family. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type !== null) {
      families.set(type[1] ?? '', { name: type[1] ?? '', type: type[2] ?? '', samples: [] });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null) continue;
    const name = m[1] ?? '';
    const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count|total|created)$/, ''));
    family?.samples.push({ name, labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return families;
}

export interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly Matcher[];
}

/** Words of PromQL that look like metric names but are not. */
const NOT_METRICS = new Set([
  'sum',
  'count',
  'max',
  'min',
  'avg',
  'rate',
  'irate',
  'increase',
  'changes',
  'histogram_quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'delta',
  'deriv',
  'topk',
  'bottomk',
  'abs',
  'time',
  'vector',
  'scalar',
]);

/**
 * The metric selectors of a PromQL expression: every `name{matchers}` or bare
 * metric name, not the functions, aggregations, their `by (...)` label lists
 * or range durations. A selector written as `{__name__=...}` is not used by
 * etcd's dashboards and is not handled.
 */
export function selectorsOf(expr: string): Selector[] {
  const out: Selector[] = [];
  // Label lists of by/without/on/ignoring name labels, not metrics.
  const stripped = expr.replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/gi, ' ');
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?/g;
  for (let m = re.exec(stripped); m !== null; m = re.exec(stripped)) {
    const word = m[1] ?? '';
    const before = stripped.slice(0, m.index);
    // A function or aggregation is followed by "(", a duration sits inside "[...]".
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (NOT_METRICS.has(word.toLowerCase()) || (after.startsWith('(') && m[2] === undefined)) continue;
    if (/\[[^\]]*$/.test(before)) continue;
    if (/^\d/.test(word)) continue;
    const matchers: Matcher[] = [];
    for (const mm of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
      matchers.push({ label: mm[1] ?? '', op: mm[2] as Matcher['op'], value: mm[3] ?? '' });
    }
    out.push({ metric: word, matchers });
  }
  return out;
}

function matches(m: Matcher, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[m.label] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~':
      return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

/** The samples a selector selects (target labels such as job/instance, which Prometheus adds, are given as ignored). */
export function select(
  families: ReadonlyMap<string, Family>,
  selector: Selector,
  ignoredLabels: ReadonlySet<string>,
): Sample[] {
  const familyName = selector.metric.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(selector.metric) ?? families.get(familyName);
  if (family === undefined) return [];
  return family.samples.filter(
    (s) =>
      s.name === selector.metric &&
      selector.matchers.every((m) => ignoredLabels.has(m.label) || matches(m, s.labels)),
  );
}
