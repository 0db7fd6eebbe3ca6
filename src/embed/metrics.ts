// A member's metrics: the server's and the API layer's, each declared by its
// own layer, on one registry per member (tests run several members in one
// process), with the member's identity and the process metrics.
import { Registry, collectDefaultMetrics } from 'prom-client';
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
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  return m;
}
