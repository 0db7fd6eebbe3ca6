// What a comparison measures, row by row: a workload under a load shape
// (clients, connections, watchers). `--table` runs the table etcd's users
// judge a store by; without it the rows are --workload × --clients.

export const WORKLOADS = [
  'put',
  'range-linearizable',
  'range-serializable',
  'txn',
  'txn-compare',
  'lease-keepalive',
  'watch-latency',
  'range-prefix',
  'range-keys-only',
  'range-count-only',
] as const;
export type Workload = (typeof WORKLOADS)[number];

/** The workloads that read a whole prefix of --scan-keys keys, --scan-total times. */
export const SCANS: ReadonlySet<Workload> = new Set(['range-prefix', 'range-keys-only', 'range-count-only']);

export interface RowSpec {
  readonly workload: Workload;
  readonly clients: number;
  /** gRPC connections the clients share (watch-latency: the watch streams). */
  readonly conns: number;
  /** watch-latency only: watchers on the watched key. */
  readonly watchers: number;
}

export function rowLabel(r: RowSpec): string {
  if (r.workload === 'watch-latency') return `watch-latency, ${r.watchers} watchers`;
  if (SCANS.has(r.workload)) return r.workload;
  return `${r.workload}, ${r.clients} ${r.clients === 1 ? 'client' : 'clients'}`;
}

/** Connections for a number of clients: one for one, else as etcd's benchmark is usually run (a few shared). */
const connsFor = (clients: number): number => Math.min(clients, 8);

const row = (workload: Workload, clients: number, watchers = 0): RowSpec => ({
  workload,
  clients,
  conns: workload === 'watch-latency' ? Math.min(Math.max(1, watchers / 100), 10) : connsFor(clients),
  watchers,
});

/** The table to reach: put, txn, reads, leases, watch latency and whole-prefix reads. */
export const TABLE: readonly RowSpec[] = [
  row('put', 1),
  row('put', 16),
  row('put', 64),
  row('txn-compare', 1),
  row('txn-compare', 64),
  row('range-linearizable', 1),
  row('range-linearizable', 64),
  row('range-serializable', 1),
  row('range-serializable', 64),
  row('lease-keepalive', 16),
  row('watch-latency', 1, 10),
  row('watch-latency', 1, 1000),
  row('range-prefix', 1),
  row('range-keys-only', 1),
  row('range-count-only', 1),
];

/** The rows without --table: every workload with the same clients, connections and watchers. */
export function rowsOf(
  workloads: readonly Workload[],
  shape: { clients: number; conns: number; watchers: number },
): RowSpec[] {
  return workloads.map((workload) => ({ workload, ...shape }));
}
