// The server layer of a member as etcd.ts drives it: each lifecycle step of
// machines/memberLifecycle.ts done by the EtcdServer, and the etcd v3 services
// mounted on the client port.
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
import { MemberStorage, bootstrap, checkIntegrity, type Bootstrapped } from '../server/bootstrap.js';
import { EtcdServer } from '../server/etcdServer.js';
import type { ServerConfig } from '../server/serverConfig.js';
import { LoopbackTransport } from '../transport/loopback.js';

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
  // Until the NATS transport exists a member reaches no one but itself: a
  // one-member cluster needs no more, and the peers of a bigger one are unreachable.
  const transport = new LoopbackTransport(config.memberId);
  let storage: MemberStorage | undefined;
  let member: Bootstrapped | undefined;
  let server: EtcdServer | undefined;
  const need = <T>(part: T | undefined, what: string): T => {
    if (part === undefined) throw new Error(`the member has no ${what} yet`);
    return part;
  };
  return {
    async openStorage() {
      storage = await MemberStorage.open(config.dataDir, logger);
      return { hasData: storage.hasData };
    },

    async bootstrap(mode) {
      member = await bootstrap(need(storage, 'storage'), serverConfigOf(config), mode, logger);
    },

    async checkIntegrity() {
      await checkIntegrity(need(member, 'bootstrapped state'), logger);
    },

    async startRaft() {
      server = new EtcdServer(need(member, 'bootstrapped state'), {
        logger,
        metrics,
        transport,
        ...(deps.inspect !== undefined ? { inspect: deps.inspect } : {}),
      });
      server.fatal$.subscribe((err) => deps.fatal(err.message));
      await server.start();
    },

    async publish() {
      await need(server, 'server').publish();
    },

    mountApi(api: ClientApi) {
      const s = need(server, 'server');
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
      linearizableRead: () => need(server, 'server').waitLinearizable(),
    },

    async stop() {
      // A started server closes its storage; before that, only the storage is open.
      if (server !== undefined) await server.stop();
      else await storage?.close();
    },
  };
}
