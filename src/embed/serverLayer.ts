// The server layer of a member as etcd.ts drives it: each lifecycle step of
// machines/memberLifecycle.ts done by the EtcdServer, and the etcd v3 services
// mounted on the client port.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { AlarmType } from '../proto/etcdserverpb.js';
import {
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchService,
} from '../proto/etcdserverpb.js';
import { clusterService } from '../api/grpc/clusterService.js';
import { kvService } from '../api/grpc/kvService.js';
import { leaseService } from '../api/grpc/leaseService.js';
import { maintenanceService } from '../api/grpc/maintenanceService.js';
import { watchService } from '../api/grpc/watchService.js';
import { createGateway } from '../api/gateway.js';
import { ElectionService } from '../proto/v3electionpb.js';
import { LockService } from '../proto/v3lockpb.js';
import { Election } from '../api/recipes/election.js';
import { Mutex } from '../api/recipes/mutex.js';
import { electionService } from '../api/grpc/electionService.js';
import { lockService } from '../api/grpc/lockService.js';
import { createGatewayStreams } from '../api/gatewayStreams.js';
import { createConcurrencyGateway } from '../api/gatewayConcurrency.js';
import type { Config } from './config.js';
import type { ClientApi, MemberServer, MemberServerDeps } from './etcd.js';
import { memberId } from '../server/ids.js';
import { EtcdServer, type ServerConfig } from '../server/etcdServer.js';

export function serverConfigOf(config: Config): ServerConfig {
  return {
    name: config.name,
    dataDir: config.dataDir,
    memberId: config.memberId,
    clusterId: config.clusterId,
    initialMembers: config.initialCluster.map((m) => ({
      id: memberId(m.peerUrls, config.initialClusterToken),
      name: m.name,
      peerUrls: [...m.peerUrls],
      clientUrls: [],
      isLearner: false,
    })),
    clientUrls: [...config.advertiseClientUrls],
    heartbeatMs: config.heartbeatIntervalMs,
    electionMs: config.electionTimeoutMs,
    snapshotCount: config.snapshotCount,
    snapshotCatchUpEntries: config.snapshotCatchUpEntries,
    quotaBackendBytes: Number.isFinite(config.quotaBackendBytes) ? config.quotaBackendBytes : 0,
    maxRequestBytes: config.maxRequestBytes,
    compaction:
      config.autoCompaction.mode === 'periodic'
        ? { mode: 'periodic', retentionMs: config.autoCompaction.retentionMs }
        : { mode: 'revision', retention: config.autoCompaction.retentionRevisions },
    preVote: config.preVote,
    watchProgressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
  };
}

export function createServerLayer(config: Config, deps: MemberServerDeps): MemberServer {
  const { logger, metrics } = deps;
  let server: EtcdServer | undefined;
  const need = (): EtcdServer => {
    if (server === undefined) throw new Error('the member has not opened its storage');
    return server;
  };
  return {
    async openStorage() {
      const hasData = await access(join(config.dataDir, 'member', 'raft', 'CURRENT')).then(
        () => true,
        () => false,
      );
      return { hasData };
    },

    async bootstrap(mode) {
      if (mode === 'joining') {
        throw new Error(
          '--initial-cluster-state=existing: joining a running cluster needs the NATS peer transport, which this version does not have yet; start a new cluster with --initial-cluster-state=new',
        );
      }
      // Peers are reached over NATS; a one-member cluster sends no messages at all.
      server = await EtcdServer.open(
        serverConfigOf(config),
        logger,
        { send: () => undefined },
        metrics,
        deps.inspect,
      );
      server.fatal$.subscribe((err) => deps.fatal(err.message));
    },

    async checkIntegrity() {
      const started = performance.now();
      // Reading every record once verifies every checksum before anything is served.
      const { hash, hashRevision } = await need().kv.hashKV();
      logger.info(
        { revision: hashRevision, hash, tookMs: Math.round(performance.now() - started) },
        'key space verified',
      );
    },

    async startRaft() {
      need().start();
    },

    async publish() {
      await need().publish();
    },

    mountApi(api: ClientApi) {
      const s = need();
      const log = logger.child({ component: 'grpc' });
      const limits = { maxTxnOps: config.maxTxnOps };
      api.grpc.addService(KVService, kvService(s, limits, log));
      api.grpc.addService(WatchService, watchService(s, log));
      api.grpc.addService(LeaseService, leaseService(s, log));
      api.grpc.addService(ClusterService, clusterService(s, log));
      api.grpc.addService(MaintenanceService, maintenanceService(s, log));
      createGateway(api.http, s, limits, logger);
      const election = new Election(s, log);
      const mutex = new Mutex(s);
      api.grpc.addService(ElectionService, electionService(election, log));
      api.grpc.addService(LockService, lockService(mutex, log));
      createGatewayStreams(api.http, s, election, logger);
      createConcurrencyGateway(api.http, election, mutex, logger);
    },

    health: {
      hasLeader: () => (server?.leader ?? 0n) !== 0n,
      activeAlarms: () => server?.alarms.list().map((a) => AlarmType[a.alarm]) ?? [],
      linearizableRead: () => need().waitLinearizable(),
    },

    async stop() {
      await server?.stop();
    },
  };
}
