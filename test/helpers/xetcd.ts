// An xetcd member started the way a user starts it (`node bin/xetcd.js` with etcd's flags),
// on loopback random ports. Ready when /health answers 200 or a gRPC Range succeeds, so a
// server that has only one of the two listeners working is still found ready and tested.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startProcess } from './process.js';
import { retryOnPortClash } from './portRetry.js';
import { freePorts } from './ports.js';
import { allOf, anyOf, httpOk, httpsOk, logLine } from './probes.js';
import { serverTlsFlags, probeFiles, type TestPki } from './tls.js';
import { rangeSucceeds } from './etcdRpc.js';
import type { ServerInstance } from './etcd.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const XETCD_BIN = join(REPO_ROOT, 'bin', 'xetcd.js');

/** xetcd's server exists once its folder does; until then, xetcd targets are skipped. */
export function xetcdServerExists(): boolean {
  return existsSync(join(REPO_ROOT, 'src', 'server'));
}

export interface XetcdOptions {
  readonly dataDir: string;
  readonly port?: number;
  readonly peerPort?: number;
  readonly name?: string;
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Flags for the member's node process (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
  /** Serve clients over TLS with the test PKI (https:// client URLs, etcd's TLS flags). */
  readonly tls?: { readonly pki: TestPki; readonly clientCertAuth: boolean };
}

export async function startXetcd(opts: XetcdOptions): Promise<ServerInstance> {
  return retryOnPortClash(opts.port !== undefined || opts.peerPort !== undefined, () => startXetcdOnce(opts));
}

async function startXetcdOnce(opts: XetcdOptions): Promise<ServerInstance> {
  const [p1, p2] = await freePorts(2);
  const port = opts.port ?? p1!;
  const peerPort = opts.peerPort ?? (p2 === port ? p1! : p2!);
  const name = opts.name ?? 'default';
  const client = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = await startProcess({
    name: `xetcd:${port}`,
    command: process.execPath,
    args: [
      ...(opts.nodeArgs ?? []),
      XETCD_BIN,
      '--name',
      name,
      '--data-dir',
      opts.dataDir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      // Loopback peer URLs so several members can run side by side in one test run.
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${name}=${peer}`,
      ...(opts.tls ? serverTlsFlags(opts.tls) : []),
      ...(opts.args ?? []),
    ],
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    // The member's own word that it listens on the port first: under a loaded parallel run the
    // port can be answered by another test's member while this one fails to bind it.
    ready: allOf(
      logLine(new RegExp(`"address":"127\\.0\\.0\\.1:${port}"[^\\n]*serving client traffic`)),
      opts.tls
        ? httpsOk(`${client}/health`, probeFiles(opts.tls))
        : anyOf(httpOk(`${client}/health`), () => rangeSucceeds(client, 1_000)),
    ),
    readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
    pollMs: 200,
  });
  return {
    kind: 'xetcd',
    endpoint: client,
    peerUrl: peer,
    name,
    port,
    dataDir: opts.dataDir,
    process: proc,
    stop: async (graceMs = 5_000) => {
      await proc.stop(graceMs);
    },
  };
}
