// Start a member from a config (etcd's embed.StartEtcd): the lifecycle chart's
// steps built from the server layer (storage, Raft, apply, API services) and the
// client port this folder owns (listeners, /health, /version, /metrics,
// grpc.health.v1). The server layer plugs in through `MemberServer`
// (serverLayer.ts), which tests of the process around it replace.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { InspectionEvent, Observer } from 'xstate';
import { createHttpRoutes, createMetricsRoutes, type HttpPolicy, type HttpRoutes } from '../api/http.js';
import type { HealthSource } from '../api/httpHealth.js';
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../api/httpVersion.js';
import { ClientListeners, grpcServerOptions, probeListen, type ClientTlsMaterial } from '../api/listener.js';
import { ciphersOption } from './cipherSuites.js';
import { MetricsListeners } from './metricsListeners.js';
import { Profiler } from './profiling.js';
import { ensureSelfSigned } from './selfSignedCert.js';
import { CountedGrpcServer } from '../api/metrics.js';
import { PeerIdentities } from '../api/peerIdentities.js';
import { createMetrics, type EtcdMetrics } from './metrics.js';
import type { BootMode } from '../../machines/memberLifecycle.js';
import { configLogFields, type Config, type ConfigResult } from './config.js';
import { GrpcHealth } from './grpcHealth.js';
import { idHex } from '../server/ids.js';
import { runMember, type Member, type MemberSteps } from './lifecycleRunner.js';
import type { ChartHistory } from '../server/chartHistory.js';

/** The client port as the server layer sees it: where to mount its services and routes. */
export interface ClientApi {
  readonly grpc: grpc.Server;
  /** Mount the /v3/ gateway (and anything else) with `http.prefix('/v3/', ...)`. */
  readonly http: HttpRoutes;
  /** The verified client certificates of the port's TLS connections (--client-cert-auth). */
  readonly identities: PeerIdentities;
  /** The member lifecycle chart's changes (the dashboard draws them). */
  readonly lifecycle: ChartHistory;
  /** The client port's TLS, when on: what a member trusts and presents when it reads another member's port. */
  readonly tls?: Pick<ClientTlsMaterial, 'ca' | 'cert' | 'key'>;
}

/**
 * What the server layer provides to run a member. Each method is
 * one step of the lifecycle chart; throwing fails the member with the message.
 */
export interface MemberServer {
  /** Open (creating if needed) the storage under config.dataDir; say whether it already held a member. */
  openStorage(): Promise<{ hasData: boolean }>;
  /** Bootstrap a new cluster, join an existing one, or restore from the data. */
  bootstrap(mode: BootMode): Promise<void>;
  /** Refuse data that cannot be trusted (applied index ahead of the log, bad checksums, ...). */
  checkIntegrity(): Promise<void>;
  startRaft(): Promise<void>;
  /** Publish the member's name and client URLs through Raft. */
  publish(): Promise<void>;
  /** Register the etcd gRPC services (KV, Watch, Lease, Cluster, Maintenance, Auth, ...) and HTTP routes. */
  mountApi(api: ClientApi): void;
  /** What /health asks. */
  readonly health: HealthSource;
  /** Sync and close everything it opened. Called once, at any point of the start (after openStorage was called). */
  stop(): Promise<void>;
}

export interface MemberServerDeps {
  readonly logger: Logger;
  /** Shared with /metrics: update the instruments here. */
  readonly metrics: EtcdMetrics;
  /** Attach to the server's own actors so --inspect shows them too. */
  readonly inspect?: Observer<InspectionEvent>;
  /** Report a failure the member cannot go on after (the chart moves to failed, exit 1). */
  readonly fatal: (reason: string) => void;
  /** Stop the member as a signal would (it was removed from the cluster: exit 0). */
  readonly stop: (reason: string) => void;
}

export type MemberServerFactory = (config: Config, deps: MemberServerDeps) => MemberServer;

/** How long in-flight client requests get to finish on stop (etcd gives gRPC GracefulStop about 2 s). */
export const CLIENT_DRAIN_MS = 2000;

export interface ServingMember extends Member {
  /** The client listeners, once serving (their bound addresses, e.g. for port 0). */
  listeners(): ClientListeners | undefined;
  /** The --listen-metrics-urls with their bound ports, once serving. */
  metricsUrls(): readonly string[];
  metrics(): EtcdMetrics | undefined;
}

export interface StartEtcdOptions {
  readonly config: () => ConfigResult;
  /** The server layer: the real one (serverLayer.ts), or a stand-in in tests of the process around it. */
  readonly server: MemberServerFactory;
  readonly logger: Logger;
  readonly report?: (line: string) => void;
  readonly inspect?: Observer<InspectionEvent>;
  /** Routes the process around the member adds to the client port (bare --inspect's /inspect). */
  readonly routes?: (http: HttpRoutes) => void;
  readonly drainMs?: number;
}

async function tlsMaterial(config: Config): Promise<ClientTlsMaterial | undefined> {
  const t = config.clientTls;
  if (t === undefined) return undefined;
  if (t.selfSigned) {
    const hosts = [...config.listenClientUrls, ...config.listenMetricsUrls].map((u) =>
      new URL(u).hostname.replace(/^\[(.*)\]$/, '$1'),
    );
    await ensureSelfSigned(t.certFile, t.keyFile, [...new Set(hosts)]);
  }
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`--${flag}: cannot read '${path}' (${(err as Error).message})`);
    }
  };
  const ciphers = ciphersOption(t.ciphers);
  return {
    cert: read('cert-file', t.certFile),
    key: read('key-file', t.keyFile),
    ...(t.trustedCaFile !== undefined ? { ca: read('trusted-ca-file', t.trustedCaFile) } : {}),
    ...(t.crlFile !== undefined ? { crl: read('client-crl-file', t.crlFile) } : {}),
    ...(t.allowedHostname !== undefined ? { allowedHostname: t.allowedHostname } : {}),
    ...(ciphers !== undefined ? { ciphers } : {}),
    requireClientCert: t.clientCertAuth,
  };
}

export function startEtcd(options: StartEtcdOptions): ServingMember {
  const { logger } = options;
  let listeners: ClientListeners | undefined;
  let metricsListeners: MetricsListeners | undefined;
  let profiler: Profiler | undefined;
  let metrics: EtcdMetrics | undefined;

  const steps = (config: Config): MemberSteps => {
    const m = createMetrics(
      {
        memberIdHex: idHex(config.memberId),
        serverVersion: ETCD_SERVER_VERSION,
        clusterVersion: ETCD_CLUSTER_VERSION.split('.').slice(0, 2).join('.'),
        quotaBackendBytes: config.quotaBackendBytes,
      },
      { extensive: config.metricsLevel === 'extensive' },
    );
    metrics = m;
    const health = new GrpcHealth();
    let server: MemberServer | undefined;
    const need = (): MemberServer => {
      if (server === undefined) throw new Error('the server layer was not created');
      return server;
    };
    const policy: HttpPolicy = { corsOrigins: config.corsOrigins, hostWhitelist: config.hostWhitelist };
    return {
      openStorage: async () => {
        // A port another process holds is found before anything is created on disk.
        await probeListen([...config.listenClientUrls, ...config.listenMetricsUrls]);
        logger.info(
          {
            ...configLogFields(config),
            'local-member-id': idHex(config.memberId),
            'cluster-id': idHex(config.clusterId),
          },
          'starting an etcd server',
        );
        server = options.server(config, {
          logger,
          metrics: m,
          ...(options.inspect !== undefined ? { inspect: options.inspect } : {}),
          // Only called once serving, long after runMember below has returned.
          fatal: (reason) => member.fatal(reason),
          stop: (reason) => member.stop(reason),
        });
        return server.openStorage();
      },
      bootstrap: (mode) => need().bootstrap(mode),
      checkIntegrity: () => need().checkIntegrity(),
      startRaft: () => need().startRaft(),
      publish: () => need().publish(),
      serve: async () => {
        const grpcServer = new CountedGrpcServer(
          m,
          grpcServerOptions(config.maxRequestBytes, m, {
            maxConcurrentStreams: config.maxConcurrentStreams,
            keepaliveIntervalMs: config.grpcKeepaliveIntervalMs,
            keepaliveTimeoutMs: config.grpcKeepaliveTimeoutMs,
          }),
        );
        health.register(grpcServer);
        const routeOptions = { metrics: m, health: () => server?.health, logger };
        const http = createHttpRoutes(routeOptions, policy);
        if (config.enablePprof) {
          profiler = new Profiler();
          await profiler.start();
          profiler.mount(http);
        }
        const identities = new PeerIdentities();
        const tls = await tlsMaterial(config);
        need().mountApi({
          grpc: grpcServer,
          http,
          identities,
          lifecycle: member.history,
          ...(tls !== undefined ? { tls } : {}),
        });
        options.routes?.(http);
        const upgradeHandler = http.upgradeListener();
        listeners = await ClientListeners.listen({
          urls: config.listenClientUrls,
          grpcServer,
          httpHandler: http.listener(),
          ...(upgradeHandler !== undefined ? { upgradeHandler } : {}),
          identities,
          ...(tls !== undefined ? { tls } : {}),
          logger,
        });
        m.grpcBytes = listeners;
        for (const l of listeners.addresses()) {
          logger.info(
            { address: `${l.host}:${l.port}`, url: l.boundUrl },
            'serving client traffic (gRPC and HTTP)',
          );
        }
        if (config.listenMetricsUrls.length > 0) {
          metricsListeners = await MetricsListeners.listen(
            config.listenMetricsUrls,
            createMetricsRoutes(routeOptions, policy),
            tls,
          );
          for (const url of metricsListeners.boundUrls) logger.info({ address: url }, 'serving metrics');
        }
      },
      stop: async () => {
        health.shutdown();
        profiler?.stop();
        const errors: string[] = [];
        await metricsListeners?.close();
        if (listeners !== undefined) {
          await listeners
            .close(options.drainMs ?? CLIENT_DRAIN_MS)
            .catch((err: unknown) => errors.push((err as Error).message));
        }
        if (server !== undefined)
          await server.stop().catch((err: unknown) => errors.push((err as Error).message));
        if (errors.length > 0) throw new Error(errors.join('; '));
      },
    };
  };

  const member: Member = runMember({
    config: options.config,
    steps,
    logger,
    ...(options.report !== undefined ? { report: options.report } : {}),
    ...(options.inspect !== undefined ? { inspect: options.inspect } : {}),
  });
  return {
    ...member,
    listeners: () => listeners,
    metricsUrls: () => metricsListeners?.boundUrls ?? [],
    metrics: () => metrics,
  };
}
