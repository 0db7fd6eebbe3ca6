// The server layer of a member as etcd.ts drives it: each lifecycle step of
// machines/memberLifecycle.ts done by the EtcdServer, and the etcd v3 services
// mounted on the client port.
import {
  AlarmType,
  AuthService,
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
  WatchService,
} from '../proto/etcdserverpb.js';
import { ElectionService } from '../proto/v3electionpb.js';
import { LockService } from '../proto/v3lockpb.js';
import { createGateway } from '../api/gateway.js';
import { createConcurrencyGateway } from '../api/gatewayConcurrency.js';
import { createGatewayStreams } from '../api/gatewayStreams.js';
import { addGrpcService } from '../api/grpc/register.js';
import { leaderGate } from '../api/leaderGate.js';
import { GRPC_OVERHEAD_BYTES } from '../api/listener.js';
import { Election } from '../api/recipes/election.js';
import { Mutex } from '../api/recipes/mutex.js';
import { etcdFailures, recipeFailures } from '../api/rpc.js';
import { authService } from '../api/services/auth.js';
import { clusterService } from '../api/services/cluster.js';
import { electionService } from '../api/services/election.js';
import { kvService } from '../api/services/kv.js';
import { leaseService } from '../api/services/lease.js';
import { lockService } from '../api/services/lock.js';
import { maintenanceService } from '../api/services/maintenance.js';
import { watchService } from '../api/services/watch.js';
import type { Config } from './config.js';
import type { ClientApi, MemberServer, MemberServerDeps } from './etcd.js';
import { memberId } from '../server/ids.js';
import { MemberStorage, bootstrap, checkIntegrity, type Bootstrapped } from '../server/bootstrap.js';
import { EtcdServer } from '../server/etcdServer.js';
import { storageOptions, type ServerConfig } from '../server/serverConfig.js';
import { LoopbackTransport } from '../transport/loopback.js';
import { NatsTransport } from '../transport/natsTransport.js';
import type { Transport } from '../transport/transport.js';
import { fetchClusterFromPeers } from '../transport/discovery.js';
import type { NatsLinkOptions } from '../transport/natsLink.js';
import { peerKeyFrom, type PeerKey } from '../transport/peerSeal.js';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import type { ClusterMembers } from '../proto/xetcdpb.js';
import { NatsWatch } from '../natswatch/natsWatch.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { chartJson } from '../../machines/chartExport.js';
import { MACHINES } from '../../machines/catalog.js';
import { httpFeedConnector } from '../api/dashboard/clusterRelay.js';
import { mountDashboardFeeds } from '../api/dashboard/feedRoutes.js';
import { mountDashboardPage } from '../api/dashboard/page.js';
import { MemberFacts } from '../api/dashboard/memberFacts.js';
import { MemberFeed } from '../api/dashboard/memberFeed.js';
import type { ChartDefinitions } from '../api/dashboard/protocol.js';

/** Each chart's definition as `xetcd machines export --format json` writes it, by chart name. */
function chartDefinitions(): ChartDefinitions {
  const definition = (name: string): unknown => {
    const machine = MACHINES.get(name);
    if (machine === undefined) throw new Error(`no machine ${name}`);
    return JSON.parse(chartJson(machine)) as unknown;
  };
  return {
    raft: definition('raft'),
    memberLifecycle: definition('memberLifecycle'),
    serverParts: definition('serverParts'),
  };
}

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
    forceNewCluster: config.forceNewCluster,
    strictReconfigCheck: config.strictReconfigCheck,
    initialCorruptCheck: config.initialCorruptCheck,
    corruptCheckIntervalMs: config.corruptCheckIntervalMs,
    watchProgressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
    authToken: config.authToken,
    authTokenTtlMs: config.authTokenTtlMs,
    bcryptCost: config.bcryptCost,
    clientCertAuth: config.clientTls?.clientCertAuth ?? false,
    ...(config.walDir !== undefined ? { walDir: config.walDir } : {}),
    electionTickAdvance: config.electionTickAdvance,
    warningApplyDurationMs: config.warningApplyDurationMs,
    compactionBatchLimit: config.compactionBatchLimit,
  };
}

/**
 * What a member joining a running cluster learns from the members its
 * --initial-cluster names (etcd's GetClusterFromRemotePeers): asked over
 * NATS, by peer URL, since it does not know the cluster's ID yet.
 */
async function fetchCluster(config: Config, logger: Logger): Promise<ClusterMembers> {
  if (config.natsServers.length === 0) {
    throw new Error(
      '--initial-cluster-state=existing needs --nats-servers: the cluster is reached over NATS',
    );
  }
  const others = config.initialCluster.filter((m) => m.name !== config.name).flatMap((m) => m.peerUrls);
  if (others.length === 0) {
    throw new Error(
      '--initial-cluster-state=existing: --initial-cluster names no member besides this one to ask for the cluster',
    );
  }
  const found = await fetchClusterFromPeers(
    { ...natsLinkOptions(config, config.electionTimeoutMs), name: `xetcd ${config.name} (joining)` },
    others,
    5_000,
    logger.child({ component: 'transport' }),
    peerKeyOf(config),
  );
  logger.info(
    {
      'cluster-id': found.memberList!.header!.clusterId.toString(16),
      members: found.memberList!.members.length,
    },
    'fetched the cluster to join from its members',
  );
  return found;
}

function natsLinkOptions(config: Config, electionMs: number): Omit<NatsLinkOptions, 'logger' | 'name'> {
  return {
    servers: config.natsServers,
    // Two unanswered pings mark a dead connection: noticed within a few election timeouts.
    pingIntervalMs: Math.max(1_000, 2 * electionMs),
    reconnectWaitMs: 250,
    awayLogEveryMs: 10_000,
    connection: natsConnectionOf(config),
  };
}

/** TLS and credentials for NATS, as the NATS client takes them (--nats-tls-*, --nats-creds-file, XETCD_NATS_*). */
function natsConnectionOf(config: Config): Partial<NodeConnectionOptions> {
  const { tls, credsFile, user, password, token } = config.natsSecurity;
  return {
    ...(tls !== undefined ? { tls } : {}),
    ...(credsFile !== undefined ? { authenticator: credsAuthenticator(readFileSync(credsFile)) } : {}),
    ...(user !== undefined ? { user, pass: password ?? '' } : {}),
    ...(token !== undefined ? { token } : {}),
  };
}

/** The peer key from --peer-key-file, read when the member starts. */
function peerKeyOf(config: Config): PeerKey | undefined {
  const path = config.peerKeyFile;
  if (path === undefined) return undefined;
  let key: PeerKey | string;
  try {
    key = peerKeyFrom(readFileSync(path));
  } catch (err) {
    throw new Error(`--peer-key-file: cannot read '${path}' (${(err as Error).message})`);
  }
  if (typeof key === 'string') throw new Error(`--peer-key-file: '${path}' ${key}`);
  return key;
}

/**
 * The road to the other members, for the identity the member really has (a
 * restarted member's comes from its data dir): NATS when servers are named,
 * else the in-process loopback of a one-member cluster, which needs no NATS.
 */
function transportFor(config: Config, member: Bootstrapped, deps: MemberServerDeps): Transport {
  const { memberId, clusterId, initialMembers, electionMs } = member.config;
  if (config.natsServers.length === 0) return new LoopbackTransport(memberId);
  const self = initialMembers.find((m) => m.id === memberId);
  const peerKey = peerKeyOf(config);
  return new NatsTransport({
    clusterId,
    memberId,
    peerUrls: self?.peerUrls ?? config.initialAdvertisePeerUrls,
    snapshotDir: member.storage.snapshotDir,
    link: { ...natsLinkOptions(config, electionMs), name: `xetcd ${config.name} ${memberId.toString(16)}` },
    logger: deps.logger.child({ component: 'transport' }),
    metrics: deps.metrics,
    peerInactiveMs: Math.max(3_000, 3 * electionMs),
    ...(peerKey !== undefined ? { peerKey } : {}),
    onHeartbeatSendFailures: (n) => deps.metrics.heartbeatSendFailures.inc(n),
  });
}

export function createServerLayer(config: Config, deps: MemberServerDeps): MemberServer {
  const { logger, metrics } = deps;
  let storage: MemberStorage | undefined;
  let member: Bootstrapped | undefined;
  let server: EtcdServer | undefined;
  let natsWatch: NatsWatch | undefined;
  let dashboardFeed: MemberFeed | undefined;
  const need = <T>(part: T | undefined, what: string): T => {
    if (part === undefined) throw new Error(`the member has no ${what} yet`);
    return part;
  };
  return {
    async openStorage() {
      storage = await MemberStorage.open(config.dataDir, logger, storageOptions(serverConfigOf(config)));
      return { hasData: storage.hasData };
    },

    async bootstrap(mode) {
      const joined = mode === 'joining' ? await fetchCluster(config, logger) : undefined;
      member = await bootstrap(need(storage, 'storage'), serverConfigOf(config), mode, logger, joined);
    },

    async checkIntegrity() {
      await checkIntegrity(need(member, 'bootstrapped state'), logger);
    },

    async startRaft() {
      const bootstrapped = need(member, 'bootstrapped state');
      server = new EtcdServer(bootstrapped, {
        logger,
        metrics,
        transport: transportFor(config, bootstrapped, deps),
        ...(deps.inspect !== undefined ? { inspect: deps.inspect } : {}),
      });
      server.fatal$.subscribe((err) => deps.fatal(err.message));
      server.removed$.subscribe(() => deps.stop('removed from the cluster'));
      await server.start();
    },

    async publish() {
      const s = need(server, 'server');
      if (config.initialCorruptCheck) await s.checkHashesBeforeServing();
      await s.publish();
      if (config.natsWatch !== undefined) {
        natsWatch = new NatsWatch({
          host: s,
          servers: config.natsServers,
          connection: natsConnectionOf(config),
          ...(config.natsWatch.jetStream !== undefined ? { jetStream: config.natsWatch.jetStream } : {}),
          checkpointFile: join(config.dataDir, 'member', 'nats-watch-checkpoint'),
          name: `xetcd ${config.name} watch`,
          logger: logger.child({ component: 'nats-watch' }),
        });
      }
    },

    mountApi(api: ClientApi) {
      const s = need(server, 'server');
      const log = logger.child({ component: 'grpc' });
      const call = { leader: leaderGate(s, s.config.electionMs), identities: api.identities };
      const services = {
        kv: kvService(s, { maxTxnOps: config.maxTxnOps }),
        lease: leaseService(s),
        cluster: clusterService(s),
        maintenance: maintenanceService(s, log),
        auth: authService(s),
      };
      const election = new Election(s, log);
      const concurrency = { election: electionService(election), lock: lockService(new Mutex(s)) };
      addGrpcService(api.grpc, KVService, services.kv, etcdFailures, log, call);
      addGrpcService(api.grpc, WatchService, watchService(s), etcdFailures, log, call);
      addGrpcService(api.grpc, LeaseService, services.lease, etcdFailures, log, call);
      addGrpcService(api.grpc, ClusterService, services.cluster, etcdFailures, log, call);
      addGrpcService(api.grpc, MaintenanceService, services.maintenance, etcdFailures, log, call);
      addGrpcService(api.grpc, AuthService, services.auth, etcdFailures, log, call);
      addGrpcService(api.grpc, ElectionService, concurrency.election, recipeFailures, log, call);
      addGrpcService(api.grpc, LockService, concurrency.lock, recipeFailures, log, call);
      createGateway(
        api.http,
        services,
        { maxMessageBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES },
        logger,
      );
      createGatewayStreams(api.http, s, election, logger);
      createConcurrencyGateway(api.http, concurrency.election, concurrency.lock, logger);
      const facts = new MemberFacts({ server: s, registry: deps.metrics.registry, lifecycle: api.lifecycle });
      dashboardFeed = new MemberFeed(facts, logger.child({ component: 'dashboard' }));
      mountDashboardFeeds(api.http, {
        facts,
        feed: dashboardFeed,
        connect: httpFeedConnector(api.tls),
        charts: chartDefinitions(),
      });
      mountDashboardPage(api.http, { logger });
    },

    health: {
      hasLeader: () => (server?.leader ?? 0n) !== 0n,
      activeAlarms: () => server?.alarms.list().map((a) => AlarmType[a.alarm]) ?? [],
      linearizableRead: () => need(server, 'server').waitLinearizable(),
    },

    async stop() {
      dashboardFeed?.stop();
      await natsWatch?.stop();
      // A started server closes its storage; before that, only the storage is open.
      if (server !== undefined) await server.stop();
      else await storage?.close();
    },
  };
}
