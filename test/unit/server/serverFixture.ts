// A real EtcdServer in-process, built the way src/embed/serverLayer.ts builds one: on a temp
// data dir, silent logger, fresh metrics, no peers. `peers` > 1 declares members that never
// start, so the member can never win an election (requests then wait, time out or fail).
// `grpc()` mounts the etcd v3 services on a loopback gRPC port for tests that need the wire.
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { EtcdServer } from '../../../src/server/etcdServer.js';
import type { ServerConfig } from '../../../src/server/serverConfig.js';
import { LoopbackTransport } from '../../../src/transport/loopback.js';
import { silentLogger } from '../../../src/logging.js';
import { createMetrics } from '../../../src/embed/metrics.js';
import { clusterId, memberId } from '../../../src/server/ids.js';
import {
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchService,
} from '../../../src/proto/etcdserverpb.js';
import { addGrpcService } from '../../../src/api/grpc/register.js';
import { etcdFailures } from '../../../src/api/rpc.js';
import { clusterService } from '../../../src/api/services/cluster.js';
import { kvService } from '../../../src/api/services/kv.js';
import { leaseService } from '../../../src/api/services/lease.js';
import { maintenanceService } from '../../../src/api/services/maintenance.js';
import { watchService } from '../../../src/api/services/watch.js';

export interface FixtureOptions {
  /** Members of the initial cluster, this one included; only this one runs. Default 1. */
  members?: number;
  /** Reuse a data dir (a restart); otherwise a fresh temp dir is made. */
  dataDir?: string;
  config?: Partial<ServerConfig>;
}

export interface ServerFixture {
  readonly server: EtcdServer;
  readonly dataDir: string;
  /** Stops the server (idempotent); the data dir stays for a restart. */
  stop(): Promise<void>;
  /** Stops this server and opens a new one on the same data dir. */
  restart(config?: Partial<ServerConfig>): Promise<ServerFixture>;
  /** The etcd v3 services on a loopback port; closed by stop(). Returns the address. */
  grpc(): Promise<string>;
}

const dirs: string[] = [];

/** Removes every data dir the fixtures made; call from afterAll/afterEach once servers are stopped. */
export async function removeFixtureDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true, maxRetries: 3 });
}

export function fixtureConfig(
  dataDir: string,
  members: number,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const peers = Array.from({ length: members }, (_, i) => `http://127.0.0.1:${23800 + i}`);
  const ids = peers.map((p) => memberId([p], 'etcd-cluster'));
  return {
    name: 'm0',
    dataDir,
    memberId: ids[0]!,
    clusterId: clusterId(ids),
    initialMembers: ids.map((id, i) => ({
      id,
      name: `m${i}`,
      peerUrls: [peers[i]!],
      clientUrls: [],
      isLearner: false,
    })),
    clientUrls: ['http://127.0.0.1:23790'],
    heartbeatMs: 10,
    electionMs: 100,
    snapshotCount: 10_000,
    snapshotCatchUpEntries: 5_000,
    quotaBackendBytes: 0,
    maxRequestBytes: 1.5 * 1024 * 1024,
    preVote: true,
    seed: 1,
    ...overrides,
  };
}

export async function openServer(opts: FixtureOptions = {}): Promise<ServerFixture> {
  let dataDir = opts.dataDir;
  if (dataDir === undefined) {
    dataDir = await mkdtemp(join(tmpdir(), 'xetcd-server-'));
    dirs.push(dataDir);
  }
  const members = opts.members ?? 1;
  const config = fixtureConfig(dataDir, members, opts.config);
  const server = await EtcdServer.open(config, {
    logger: silentLogger(),
    metrics: createMetrics(),
    transport: new LoopbackTransport(config.memberId),
  });
  await server.start();
  let grpcServer: grpc.Server | undefined;
  let stopped: Promise<void> | undefined;
  const fixture: ServerFixture = {
    server,
    dataDir,
    stop() {
      stopped ??= (async () => {
        if (grpcServer) {
          const s = grpcServer;
          // Streams still open would hold tryShutdown forever; tests end theirs, this is the backstop.
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              s.forceShutdown();
              resolve();
            }, 1_000);
            s.tryShutdown(() => {
              clearTimeout(t);
              resolve();
            });
          });
        }
        await server.stop();
      })();
      return stopped;
    },
    async restart(config) {
      await fixture.stop();
      return openServer({ members, dataDir, config: { ...opts.config, ...config } });
    },
    async grpc() {
      const s = new grpc.Server();
      const log = silentLogger();
      addGrpcService(s, KVService, kvService(server, { maxTxnOps: 128 }), etcdFailures, log);
      addGrpcService(s, WatchService, watchService(server), etcdFailures, log);
      addGrpcService(s, LeaseService, leaseService(server), etcdFailures, log);
      addGrpcService(s, ClusterService, clusterService(server), etcdFailures, log);
      addGrpcService(s, MaintenanceService, maintenanceService(server, log), etcdFailures, log);
      const port = await new Promise<number>((resolve, reject) =>
        s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
      grpcServer = s;
      return `127.0.0.1:${port}`;
    },
  };
  if (members === 1) {
    await waitLeader(server);
    // As member.ts does before it serves: the publish entry is applied only after every
    // entry before it, so a restarted member has replayed its whole log by then.
    await server.publish();
  }
  return fixture;
}

export async function waitLeader(server: EtcdServer, timeoutMs = 5_000): Promise<void> {
  if (server.isLeader()) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    firstValueFrom(server.leaderChanged$.pipe(filter(() => server.isLeader()))),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('no leader in time')), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
export const text = (b: Uint8Array | undefined): string =>
  Buffer.from(b ?? new Uint8Array(0)).toString('utf8');

/** Resolves with the rejection of `p`, failing the test if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got a result');
}
