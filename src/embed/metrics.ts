// A member's metrics: the server's and the API layer's, each declared by its
// own layer, on one registry per member (tests run several members in one
// process), with the member's identity and the process metrics.
import { readFileSync, readdirSync } from 'node:fs';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { createApiMetrics, type ApiMetrics } from '../api/metrics.js';
import { createServerMetrics, type ServerMetrics } from '../server/metrics.js';
import { createTransportMetrics, type TransportMetrics } from '../transport/metrics.js';

export type EtcdMetrics = ServerMetrics & ApiMetrics & TransportMetrics;

export interface MetricsIdentity {
  /** Hex member ID, as etcd_server_id labels it. */
  readonly memberIdHex: string;
  readonly serverVersion: string;
  /** major.minor, as etcd_cluster_version labels it. */
  readonly clusterVersion: string;
  readonly quotaBackendBytes: number;
}

export function createMetrics(
  identity?: MetricsIdentity,
  options: { processMetrics?: boolean; extensive?: boolean } = {},
): EtcdMetrics {
  const registry = new Registry();
  // The API metrics object itself is returned: the byte counters read `grpcBytes` from it at a scrape.
  const m: EtcdMetrics = Object.assign(
    createApiMetrics(registry, { extensive: options.extensive === true }),
    createServerMetrics(registry),
    createTransportMetrics(registry),
  );
  if (identity !== undefined) {
    m.serverId.set({ server_id: identity.memberIdHex }, 1);
    m.serverVersion.set({ server_version: identity.serverVersion }, 1);
    m.clusterVersion.set({ cluster_version: identity.clusterVersion }, 1);
    if (Number.isFinite(identity.quotaBackendBytes)) m.quotaBackendBytes.set(identity.quotaBackendBytes);
  }
  // process_resident_memory_bytes and friends: `etcdctl check datascale` reads them.
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    linuxProcessMetrics(registry);
  }
  return m;
}

/** A soft limit of /proc/self/limits; "unlimited" as Go's collector shows it (2^64). */
function limitOf(name: string): number | undefined {
  const m = new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(readFileSync('/proc/self/limits', 'utf8'));
  if (m === null) return undefined;
  return m[1] === 'unlimited' ? 2 ** 64 : Number(m[1]);
}

/**
 * etcd's os_fd_used and os_fd_limit and Go's process_virtual_memory_max_bytes,
 * read where Linux keeps them; elsewhere the families are not registered
 * rather than shown at a made-up 0.
 */
function linuxProcessMetrics(registry: Registry): void {
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'os_fd_used',
    help: 'The number of used file descriptors.',
    registers: [registry],
    collect() {
      this.set(readdirSync('/proc/self/fd').length);
    },
  });
  new Gauge({
    name: 'os_fd_limit',
    help: 'The file descriptor limit.',
    registers: [registry],
    collect() {
      const limit = limitOf('Max open files');
      if (limit !== undefined) this.set(limit);
    },
  });
  new Gauge({
    name: 'process_virtual_memory_max_bytes',
    help: 'Maximum amount of virtual memory available in bytes.',
    registers: [registry],
    collect() {
      const limit = limitOf('Max address space');
      if (limit !== undefined) this.set(limit);
    },
  });
}
