// GET /version. etcd 3.4 answers {"etcdserver":"3.4.23","etcdcluster":"3.4.0"};
// clients (etcdctl, Kubernetes' health checks, version-gating libraries) parse
// these as semver, so xetcd reports the etcd version whose wire behaviour it
// implements, not its own package version.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The etcd release xetcd is wire-compatible with (Maintenance.Status reports the same). */
export const ETCD_SERVER_VERSION = '3.4.23';
/** The cluster version a 3.4 cluster settles on (major.minor.0). */
export const ETCD_CLUSTER_VERSION = '3.4.0';

export function versionBody(): string {
  return JSON.stringify({ etcdserver: ETCD_SERVER_VERSION, etcdcluster: ETCD_CLUSTER_VERSION });
}

export function serveVersion(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET') {
    res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Method Not Allowed\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(versionBody());
}
