import { seededRandom } from '../raft/rng.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createActor, type Actor, type InspectionEvent, type Observer, type StateValue } from 'xstate';
import {
  BehaviorSubject,
  Subject,
  filter,
  firstValueFrom,
  takeUntil,
  throwError,
  throwIfEmpty,
  timeout,
  type Observable,
  type Subscription,
} from 'rxjs';
import type { ServerPartsMachine } from '../../machines/serverParts.js';
import {
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmResponse,
  AlarmType,
  CompactionResponse,
  ResponseHeader,
  type AlarmRequest,
  type CompactionRequest,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type InternalRaftRequest,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseLeasesResponse,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type MemberAddResponse,
  type MemberPromoteResponse,
  type MemberRemoveResponse,
  type MemberUpdateResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
} from '../proto/etcdserverpb.js';
import { MessageType, type ConfState, type Message } from '../proto/raftpb.js';
import { PeerRequest, PeerResponse } from '../proto/xetcdpb.js';
import { StepLocalMsgError, StepPeerNotFoundError } from '../raft/errors.js';
import { RaftNode } from '../raft/raftNode.js';
import { ChartHistory } from './chartHistory.js';
import type { RaftRole } from '../raft/ready.js';
import type { SoftState } from '../raft/ready.js';
import type { RaftLogStore } from '../storage/raftlog/store.js';
import type { KvStore } from '../mvcc/kvStore.js';
import { WatchableStore } from '../mvcc/watchableStore.js';
import { applyRange, applyTxn, isTxnReadOnly } from '../mvcc/kvRequests.js';
import { Lessor, minLeaseTtl } from '../lease/lessor.js';
import { AuthStore, type StoredAuthRecord } from '../auth/authStore.js';
import { JwtTokens } from '../auth/jwtTokens.js';
import { DEFAULT_BCRYPT_COST } from '../auth/passwords.js';
import { SimpleTokens } from '../auth/simpleTokens.js';
import type { TokenProvider } from '../auth/tokenProvider.js';
import { AUTH_PREFIX, authRecordKey, parseAuthRecordKey } from '../storage/backend/layout.js';
import type { PeerRequestHandler, RaftReceiver, Transport } from '../transport/transport.js';
import { Alarms } from './alarms.js';
import { Applier, type ClusterState } from './applier.js';
import { checkTxn } from './authApplier.js';
import { AuthRequests } from './authRequests.js';
import {
  MemberStorage,
  bootstrap,
  checkIntegrity,
  persistBootstrap,
  type Bootstrapped,
} from './bootstrap.js';
import { ClusterRequests } from './clusterRequests.js';
import { writeClusterRecord } from './clusterRecord.js';
import { ErrUserEmpty } from '../auth/errors.js';
import {
  ErrBadLeaderTransferee,
  ErrLeaderChanged,
  ErrNoLeader,
  ErrNotLeader,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutLeaderTransfer,
  serverErrorOf,
} from './errors.js';
import { PeerSnapshots } from './peerSnapshots.js';
import { CorruptionCheck } from './corruptionCheck.js';
import { LeaseRequests } from './leaseRequests.js';
import { Membership } from './membership.js';
import type { ServerMetrics } from './metrics.js';
import { Proposer } from './proposer.js';
import { Quota, putCost, txnCost } from './quota.js';
import { RaftLoop } from './raftLoop.js';
import { RaftSnapshots } from './raftSnapshot.js';
import type { Applied, AppliedResponses, ApplyResult } from './requestApplier.js';
import { LinearizableReadLoop } from './readLoop.js';
import { RequestIdGenerator } from './requestId.js';
import { INTERNAL, unlessCanceled, type RequestContext } from './requestContext.js';
import {
  DEFAULT_WARNING_APPLY_MS,
  requestTimeoutMs,
  storageOptions,
  type ServerConfig,
} from './serverConfig.js';
import { serverParts } from './serverParts.js';
import { streamSnapshot, type SnapshotChunk } from './snapshotFile.js';
import { WaitRegistry } from './wait.js';

/** etcd 3.5's readIndexRetryTime: a ReadIndex unanswered this long is asked again. */
const READ_INDEX_RETRY_MS = 500;

/** What a server is given besides its data: where it logs, counts, sends and is watched. */
export interface ServerDeps {
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  /** The road to the other members. */
  readonly transport: Transport;
  /** Attaches the server's own actors (its parts, the Raft role) to --inspect. */
  readonly inspect?: Observer<InspectionEvent>;
}

/**
 * One member (etcd's EtcdServer): it owns the Raft node and its loop, the
 * storage, the key space, the lessor and the read loop, and answers the
 * client API. Writes go through Raft and are answered once applied; reads are
 * linearizable through ReadIndex unless asked to be serializable. It is what
 * its transport delivers peers' messages to (etcd's rafthttp.Raft).
 */
export class EtcdServer implements RaftReceiver, PeerRequestHandler {
  private readonly appliedIndexes: BehaviorSubject<number>;
  private readonly leaderChanges = new Subject<bigint>();
  private readonly stops = new Subject<void>();
  private readonly fatalSubject = new Subject<Error>();
  // The streams below are the subjects themselves, typed as Observables: only the server emits.
  /** The applied index, current value first. */
  readonly applied$: Observable<number>;
  /** The leader's ID at each change (0 while there is none). */
  readonly leaderChanged$: Observable<bigint> = this.leaderChanges;
  /** Emits once, when the server begins to stop. */
  readonly stopping$: Observable<void> = this.stops;
  /** The member cannot go on (its log could not be made durable); the lifecycle stops it. */
  readonly fatal$: Observable<Error> = this.fatalSubject;
  private readonly removedSubject = new Subject<string>();
  /**
   * Emits once when this member learns it was removed from the cluster (it
   * applied its own removal, or a member told it): it must stop, and never
   * come back with this data dir.
   */
  readonly removed$: Observable<string> = this.removedSubject;
  private removedSaid = false;
  readonly config: ServerConfig;
  readonly kv: KvStore;
  readonly alarms = new Alarms();
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  readonly membership: Membership;
  /** Users, roles and permissions, as applied. */
  readonly authStore: AuthStore;
  /** Who a request acts as, authentication, and the Auth RPCs. */
  readonly auth: AuthRequests;
  private readonly tokens: TokenProvider;
  private readonly logger: Logger;
  private readonly metrics: ServerMetrics;
  private readonly raftLog: RaftLogStore;
  private readonly waits = new WaitRegistry<ApplyResult>();
  private readonly ids: RequestIdGenerator;
  private readonly applier: Applier;
  private readonly raft: RaftNode;
  private readonly loop: RaftLoop;
  private readonly readLoop: LinearizableReadLoop;
  private readonly proposer: Proposer;
  private readonly quota: Quota;
  private readonly leases: LeaseRequests;
  private readonly cluster: ClusterRequests;
  private readonly snapshots: RaftSnapshots;
  private readonly peerSnapshots: PeerSnapshots;
  private readonly corruption: CorruptionCheck;
  private lead = 0n;
  private term = 0;
  private actor: Actor<ServerPartsMachine> | undefined;
  /** The server parts chart's state changes (the dashboard draws them). */
  readonly partsHistory: ChartHistory;
  /** The Raft role's changes, each with what caused it. */
  readonly raftHistory = new ChartHistory();
  private readonly subscriptions: Subscription[] = [];
  /** Temp files of Snapshot streams in progress. */
  private readonly snapshotFiles = new Set<string>();
  private stopped = false;

  /**
   * Opens, bootstraps and checks a member in one go (its data decides between
   * a new member and a restart), for callers that do not run the lifecycle chart.
   */
  static async open(config: ServerConfig, deps: ServerDeps): Promise<EtcdServer> {
    const storage = await MemberStorage.open(config.dataDir, deps.logger, storageOptions(config));
    try {
      const member = await bootstrap(storage, config, storage.hasData ? 'restarting' : 'new', deps.logger);
      await checkIntegrity(member, deps.logger);
      return new EtcdServer(member, deps);
    } catch (err) {
      await storage.close().catch(() => undefined);
      throw err;
    }
  }

  constructor(
    private readonly member: Bootstrapped,
    private readonly deps: ServerDeps,
  ) {
    const { config, storage, memory } = member;
    this.partsHistory = new ChartHistory(deps.inspect);
    const { logger, metrics } = deps;
    this.config = config;
    this.kv = storage.kv;
    this.raftLog = storage.raftLog;
    this.logger = logger;
    this.metrics = metrics;
    this.ids = new RequestIdGenerator(config.memberId);
    this.appliedIndexes = new BehaviorSubject(this.kv.consistentIndex);
    this.applied$ = this.appliedIndexes;
    this.watchable = new WatchableStore(this.kv, {
      logger,
      ...(config.watchProgressNotifyIntervalMs
        ? { progressIntervalMs: config.watchProgressNotifyIntervalMs }
        : {}),
    });
    this.lessor = new Lessor({ minTtl: minLeaseTtl(config.electionMs) });
    for (const lease of this.kv.leases()) this.lessor.grant(lease.id, lease.ttl, lease.remainingTtl);
    this.membership = new Membership(config.clusterId, config.initialMembers, member.removed);
    this.tokens =
      config.authToken?.kind === 'jwt'
        ? new JwtTokens(config.authToken)
        : new SimpleTokens({ ttlMs: config.authTokenTtlMs ?? DEFAULT_SIMPLE_TOKEN_TTL_MS });
    this.authStore = new AuthStore({
      records: { stage: (bucket, key, value) => this.kv.stageRecord(authRecordKey(bucket, key), value) },
      tokens: this.tokens,
      logger: logger.child({ component: 'auth' }),
    });
    for (const a of member.alarms) this.alarms.activate(a);
    metrics.bind({
      kv: this.kv,
      watch: this.watchable,
      authRevision: () => this.authStore.revision,
    });
    this.raft = new RaftNode({
      id: config.memberId,
      storage: memory,
      electionTick: Math.max(2, Math.round(config.electionMs / config.heartbeatMs)),
      heartbeatTick: 1,
      // Raft hands out everything after the snapshot again on restart: conf changes
      // must reach the Raft configuration anew, while the key space skips what it has.
      applied: memory.firstIndex() - 1,
      preVote: config.preVote,
      checkQuorum: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      random: seededRandom(config.seed ?? Number(config.memberId & 0xffffffffn) ^ Date.now()),
      logger: logger.child({ component: 'raft' }),
      ...(deps.inspect ? { inspect: (event: InspectionEvent) => deps.inspect?.next?.(event) } : {}),
    });
    this.subscriptions.push(
      this.raft.roleChanged$.subscribe((c) =>
        this.raftHistory.record({ from: c.from, to: c.to, event: c.cause, term: c.term, at: Date.now() }),
      ),
    );
    this.snapshots = new RaftSnapshots({
      memory,
      raftLog: this.raftLog,
      flushApplied: () => this.applier.flush(),
      snapshotCount: config.snapshotCount,
      catchUpEntries: config.snapshotCatchUpEntries,
      logger,
      saved: (marshalMs, totalMs) => {
        metrics.snapSaveMarshalling.observe(marshalMs / 1000);
        metrics.snapSaveTotal.observe(totalMs / 1000);
      },
    });
    this.applier = new Applier({
      kv: this.kv,
      lessor: this.lessor,
      alarms: this.alarms,
      auth: this.authStore,
      membership: this.membership,
      waits: this.waits,
      applyConfChange: (cc) => this.raft.applyConfChange(cc),
      peers: deps.transport,
      stateIndex: member.stateIndex,
      persistClusterState: (index, state) => this.persistClusterState(index, state),
      restoreSnapshot: async (snapshot) => {
        metrics.snapshotApplyInProgress.set(1);
        try {
          await this.peerSnapshots.restore(snapshot);
        } finally {
          metrics.snapshotApplyInProgress.set(0);
        }
      },
      onSnapshotInstalled: (index, confState) => {
        this.snapshots.installed(index, confState);
        this.onApplied(index, undefined);
      },
      logger,
      leaseEvents: {
        granted: (ttl) => {
          metrics.leaseGranted.inc();
          metrics.leaseTtl.observe(ttl);
        },
        revoked: () => metrics.leaseRevoked.inc(),
      },
      slowApply: {
        thresholdMs: config.warningApplyDurationMs ?? DEFAULT_WARNING_APPLY_MS,
        record: () => metrics.slowApply.inc(),
      },
      onApplied: (index, confState) => this.onApplied(index, confState),
      onCommitFailed: (err) => {
        this.logger.fatal({ err }, 'committing the key space failed; the member stops');
        this.fatalSubject.next(err instanceof Error ? err : new Error(String(err)));
      },
    });
    this.peerSnapshots = new PeerSnapshots({
      snapshotDir: storage.snapshotDir,
      kv: this.kv,
      watchable: this.watchable,
      lessor: this.lessor,
      membership: this.membership,
      alarms: this.alarms,
      transport: deps.transport,
      atRest: (capture) => this.applier.atRest(capture),
      appliedIndex: () => this.applier.applied,
      confState: () => this.raft.status().config,
      termOf: (index) => memory.term(index),
      persistClusterState: (index, state) => this.persistClusterState(index, state),
      reloadAuth: () => this.reloadAuth(),
      reportFailure: (to) => this.reportSnapshot(to, 'failure'),
      logger,
    });
    this.corruption = new CorruptionCheck({
      kv: this.kv,
      membership: this.membership,
      selfId: config.memberId,
      ask: (to, request) => deps.transport.request(to, request, requestTimeoutMs(config)),
      raiseCorrupt: async (memberId) => {
        await this.propose({ alarm: { action: AlarmAction.ACTIVATE, memberId, alarm: AlarmType.CORRUPT } });
      },
      logger,
    });
    this.loop = new RaftLoop(
      this.raft,
      memory,
      this.raftLog,
      { send: (messages) => this.sendMessages(messages) },
      this.applier,
      { tickMs: config.heartbeatMs },
      logger,
      (ms, rd) => {
        metrics.walFsyncDuration.observe(ms / 1000);
        metrics.walWriteBytes.set(this.raftLog.bytesWritten);
        // A snapshot from the leader is recorded in the same synced batch (etcd syncs its .snap file).
        if (rd.snapshot) metrics.snapFsync.observe(ms / 1000);
      },
    );
    this.readLoop = new LinearizableReadLoop({
      requestReadIndex: (ctx) => {
        this.raft.readIndex(ctx);
        this.loop.kick();
      },
      nextRequestId: () => this.ids.next(),
      readState$: this.loop.readState$,
      leaderChanged$: this.leaderChanged$,
      applied$: this.applied$,
      stopping$: this.stopping$,
      timeoutMs: requestTimeoutMs(config),
      retryMs: READ_INDEX_RETRY_MS,
      // etcd counts a read index lost to a leader change as failed, one that timed out as slow.
      errors: {
        leaderChanged: () => {
          metrics.readIndexesFailed.inc();
          return ErrLeaderChanged;
        },
        timeout: () => {
          metrics.slowReadIndexes.inc();
          return ErrTimeout;
        },
        stopped: () => ErrStopped,
      },
    });
    this.proposer = new Proposer({
      raft: () => this.raft,
      kick: () => this.loop.kick(),
      waits: this.waits,
      ids: this.ids,
      metrics,
      maxRequestBytes: config.maxRequestBytes,
      timeoutMs: requestTimeoutMs(config),
      isStopped: () => this.stopped,
      hasLeader: () => this.lead !== 0n,
      authInfo: (ctx) => this.auth.authInfo(ctx),
    });
    this.auth = new AuthRequests({
      store: this.authStore,
      tokens: this.tokens,
      bcryptCost: config.bcryptCost ?? DEFAULT_BCRYPT_COST,
      clientCertAuth: config.clientCertAuth ?? false,
      proposeRequest: (kind, request, ctx) => this.proposer.proposeRequest(kind, request, ctx),
      linearizableRead: (ctx) => this.waitLinearizable(ctx),
      header: () => this.header(),
      logger,
    });
    this.quota = new Quota({
      quotaBackendBytes: config.quotaBackendBytes,
      memberId: config.memberId,
      leads: () => this.isLeader() && !this.stopped,
      kv: this.kv,
      alarms: this.alarms,
      propose: (req) => this.propose(req),
      metrics,
      logger,
    });
    this.leases = new LeaseRequests({
      kv: this.kv,
      lessor: this.lessor,
      quota: this.quota,
      ids: this.ids,
      applied$: this.applied$,
      committedIndex: () => this.committedIndex,
      isLeader: () => this.isLeader(),
      askLeader: (request) => this.askLeader(request),
      isStopped: () => this.stopped,
      header: () => this.header(),
      proposeWrite: (kind, request, ctx) => this.proposeWrite(kind, request, ctx),
      linearizableRead: (ctx) => this.waitLinearizable(ctx),
      waitForLeader: () => this.waitForLeader(),
      waitFor: (source, ms, onTimeout) => this.waitFor(source, ms, onTimeout),
      counted: { renewed: () => metrics.leaseRenewed.inc(), expired: () => metrics.leaseExpired.inc() },
      logger,
    });
    this.cluster = new ClusterRequests({
      membership: this.membership,
      proposer: this.proposer,
      progressOf: (id) => this.raft.status().progress?.get(id),
      committedIndex: () => this.committedIndex,
      caughtUp: (ctx) => this.waitLinearizable(ctx),
      selfId: config.memberId,
      isActive: (id) => deps.transport.isActive(id),
      strict: config.strictReconfigCheck ?? true,
      isLeader: () => this.isLeader(),
      askLeader: (request) => this.askLeader(request),
      memberHeader: () => this.memberHeader(),
      promoted: () => metrics.learnerPromotes.inc(),
    });
  }

  /**
   * Starts Raft (a new member's initial state is written first), the apply and
   * read loops, and the leader's parts.
   */
  async start(): Promise<void> {
    const { config, logger } = this;
    if (this.member.fresh) await persistBootstrap(this.member);
    await this.reloadAuth();
    this.kv.dbSize().then(
      (size) => this.quota.measured(size),
      (err: unknown) => logger.warn({ err }, 'measuring the backend failed'),
    );
    this.subscriptions.push(this.loop.softState$.subscribe((s) => this.onSoftState(s)));
    // The road is open before Raft runs, so the first messages either way find it.
    await this.deps.transport.start(this);
    this.deps.transport.serve(this);
    for (const m of this.membership.list()) this.deps.transport.addPeer({ id: m.id, peerUrls: m.peerUrls });
    const parts = serverParts({
      raftLoop: this.loop,
      readLoop: this.readLoop,
      revokeExpiredLeases: () => this.leases.revokeExpired(),
      compaction: config.compaction,
      currentRevision: () => this.kv.currentRevision,
      compact: (revision) => this.compact({ revision, physical: false }, INTERNAL),
      checkQuota: () => this.quota.check(),
      checkCorruption: () => this.corruption.periodic(),
      corruptCheckIntervalMs: config.corruptCheckIntervalMs ?? 0,
      logger,
    });
    this.actor = createActor(parts, { inspect: this.partsHistory.inspect });
    this.actor.subscribe((snapshot) => {
      if (snapshot.status === 'done' && snapshot.value === 'failed') {
        this.fatalSubject.next(new Error(snapshot.context.failure ?? 'server failed'));
      }
    });
    this.actor.start();
    // A member that is the only voter elects itself at once instead of waiting an election timeout.
    if (
      config.electionTickAdvance !== false &&
      this.membership.votingMembers().length === 1 &&
      this.membership.has(config.memberId)
    ) {
      this.raft.campaign();
      this.loop.kick();
    }
  }

  /** etcd's --experimental-initial-corrupt-check: throws when a peer holds another key space at this revision. */
  checkHashesBeforeServing(): Promise<void> {
    return this.corruption.beforeServing();
  }

  /** Publishes this member's name and client URLs through Raft (etcd's publish), retrying until it lands. */
  async publish(): Promise<void> {
    const { config } = this;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.propose({
          clusterMemberAttrSet: {
            memberId: config.memberId,
            memberAttributes: { name: config.name, clientUrls: config.clientUrls },
          },
        });
        this.logger.info(
          { name: config.name, 'client-urls': config.clientUrls },
          'published member attributes',
        );
        return;
      } catch (err) {
        if (this.stopped) throw err;
        // The first failure is worth a warning; repeating it every retry would bury everything else.
        const log = attempt === 1 || attempt % 50 === 0 ? 'warn' : 'debug';
        this.logger[log](
          { err: (err as Error).message, attempt },
          'publishing member attributes failed; retrying',
        );
        // etcd retries publish after a request timeout; a short pause is enough not to spin.
        await new Promise((resolve) => setTimeout(resolve, config.heartbeatMs));
      }
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stops.next();
    this.actor?.send({ type: 'STOP' });
    this.actor?.stop();
    this.partsHistory.stop();
    this.raftHistory.stop();
    // Its part stops it too; a server opened but never started has no parts.
    this.readLoop.stop();
    await this.loop.stop();
    await this.deps.transport.stop();
    for (const s of this.subscriptions) s.unsubscribe();
    this.waits.failAll(ErrStopped);
    this.tokens.stop();
    this.watchable.close();
    this.applier.stop();
    await this.applier
      .flush()
      .catch((err: unknown) => this.logger.error({ err }, 'final key-space commit failed'));
    await this.member.storage.close();
    await Promise.all([...this.snapshotFiles].map((path) => rm(path, { force: true })));
    this.stops.complete();
    this.leaderChanges.complete();
    this.logger.info({ name: this.config.name }, 'member stopped');
  }

  // ------------------------------------------------------------------ from peers

  /**
   * A peer's message for this member's Raft. A message Raft refuses (a local
   * type, a response from a node not in the configuration) is dropped: a peer
   * cannot stop this member. Anything else Raft throws means its state can no
   * longer be trusted, and the member stops.
   */
  process(message: Message): void {
    if (this.stopped) return;
    try {
      this.raft.step(message);
    } catch (err) {
      if (err instanceof StepPeerNotFoundError || err instanceof StepLocalMsgError) {
        this.logger.debug(
          { from: message.from.toString(16), type: message.type, reason: err.message },
          'dropped a message from a peer',
        );
        return;
      }
      this.logger.fatal({ err }, 'raft failed on a message from a peer; the member stops');
      this.fatalSubject.next(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A peer's request (a follower's lease renewal, a HashKV for the corruption check, a joining member's question). */
  async handle(request: PeerRequest): Promise<PeerResponse> {
    if (request.leaseRenew) {
      const id = request.leaseRenew.id;
      const ttl = await this.leases.renewHere(id, INTERNAL);
      return { leaseRenew: { header: this.header(), id, ttl } };
    }
    if (request.leaseTimeToLive) {
      return { leaseTimeToLive: await this.leases.timeToLiveHere(request.leaseTimeToLive, INTERNAL) };
    }
    if (request.hashKv) {
      const { hash, compactRevision, hashRevision } = await this.kv.hashKV(request.hashKv.revision);
      return { hashKv: { header: this.header(hashRevision), hash, compactRevision } };
    }
    if (request.memberPromote) {
      return { memberPromote: await this.cluster.promoteHere(request.memberPromote.id, INTERNAL) };
    }
    if (request.memberList) {
      const memberList = { header: this.memberHeader(), members: this.membership.list() };
      // While the log starts at index 1, a joining member can replay all of it from the initial configuration.
      const start = this.member.memory.snapshot().metadata;
      const initial = start !== undefined && start.index === 0 ? start.confState : undefined;
      return { memberList: { memberList, ...(initial ? { initialConfState: initial } : {}) } };
    }
    throw new Error('unknown peer request');
  }

  /** Asks the leader over the transport; its error comes back as the same error value. */
  private async askLeader(request: PeerRequest): Promise<PeerResponse> {
    const lead = this.lead;
    if (lead === 0n) throw ErrNoLeader;
    let answer: PeerResponse;
    try {
      answer = await this.deps.transport.request(lead, request, requestTimeoutMs(this.config));
    } catch {
      throw this.lead === lead ? ErrTimeout : ErrLeaderChanged;
    }
    if (answer.error !== undefined) throw serverErrorOf(answer.error);
    return answer;
  }

  /** A Ready's messages: snapshots travel with the state they stand for, the rest as they are. */
  private sendMessages(messages: readonly Message[]): void {
    const plain = messages.filter((m) => m.type !== MessageType.MsgSnap);
    if (plain.length > 0) this.deps.transport.send(plain);
    if (plain.length === messages.length) return;
    for (const m of messages) if (m.type === MessageType.MsgSnap) this.peerSnapshots.send(m);
  }

  private persistClusterState(index: number, state: ClusterState): Promise<void> {
    const { config } = this;
    // writeClusterRecord serializes writes of one member dir, in call order.
    return writeClusterRecord(this.member.storage.memberDir, {
      memberId: config.memberId,
      clusterId: config.clusterId,
      members: state.members,
      removed: state.removed,
      alarms: state.alarms,
      stateIndex: index,
    });
  }

  isIdRemoved(id: bigint): boolean {
    return this.membership.isRemoved(id);
  }

  reportUnreachable(id: bigint): void {
    if (!this.stopped) this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: bigint, status: 'finish' | 'failure'): void {
    if (!this.stopped) this.raft.reportSnapshot(id, status);
  }

  removedFromCluster(by: bigint): void {
    if (this.membership.isRemoved(by)) return;
    this.sayRemoved(`member ${by.toString(16)} says this member was removed from the cluster`);
  }

  private sayRemoved(how: string): void {
    if (this.removedSaid || this.stopped) return;
    this.removedSaid = true;
    this.logger.error(
      { how },
      'the member has been permanently removed from the cluster; it stops (remove its data dir before adding it again)',
    );
    // A removed leader gives its followers a moment to learn that the removal is committed.
    const delayMs = this.isLeader() ? 2 * this.config.heartbeatMs : 0;
    setTimeout(() => this.removedSubject.next(how), delayMs);
  }

  // ------------------------------------------------------------------ state

  get memberId(): bigint {
    return this.config.memberId;
  }

  get clusterId(): bigint {
    return this.config.clusterId;
  }

  get leader(): bigint {
    return this.lead;
  }

  get raftTerm(): number {
    return this.term;
  }

  /** The Raft role chart as it stands: the role and the chart's full state value. */
  raftChart(): { role: RaftRole; value: StateValue } {
    return { role: this.raft.currentRole, value: this.raft.stateValue() };
  }

  isLeader(): boolean {
    return this.lead === this.config.memberId;
  }

  get appliedIndex(): number {
    return this.applier.applied;
  }

  get committedIndex(): number {
    return this.raft.status().commit;
  }

  header(revision = this.kv.currentRevision): ResponseHeader {
    return ResponseHeader.create({
      clusterId: this.config.clusterId,
      memberId: this.config.memberId,
      revision,
      raftTerm: this.term,
    });
  }

  /** etcd's cluster RPCs fill cluster_id, member_id and raft_term but leave revision 0. */
  memberHeader(): ResponseHeader {
    return this.header(0);
  }

  // ------------------------------------------------------------------ KV

  async range(req: RangeRequest, ctx: RequestContext = INTERNAL): Promise<RangeResponse> {
    if (!req.serializable) await this.waitLinearizable(ctx);
    const resp = await this.auth.serialized(
      ctx,
      (who) => this.authStore.isRangePermitted(who, req.key, req.rangeEnd),
      () => applyRange(this.kv, req),
    );
    resp.header = this.header(resp.header?.revision ?? this.kv.currentRevision);
    return resp;
  }

  async put(req: PutRequest, ctx: RequestContext = INTERNAL): Promise<PutResponse> {
    await this.quota.assert(putCost(req));
    return this.proposeWrite('put', req, ctx);
  }

  deleteRange(req: DeleteRangeRequest, ctx: RequestContext = INTERNAL): Promise<DeleteRangeResponse> {
    return this.proposeWrite('deleteRange', req, ctx);
  }

  async txn(req: TxnRequest, ctx: RequestContext = INTERNAL): Promise<TxnResponse> {
    if (isTxnReadOnly(req)) {
      if (!isTxnSerializable(req)) await this.waitLinearizable(ctx);
      const resp = await this.auth.serialized(
        ctx,
        (who) => checkTxn(this.authStore, who, req, (id) => this.kv.keysOfLease(id)),
        () => applyTxn(this.kv, req),
      );
      resp.header = this.header(resp.header?.revision ?? this.kv.currentRevision);
      return resp;
    }
    await this.quota.assert(txnCost(req));
    return this.proposeWrite('txn', req, ctx);
  }

  async compact(req: CompactionRequest, ctx: RequestContext = INTERNAL): Promise<CompactionResponse> {
    const { response, physicalDone } = await this.proposer.proposeRequest('compaction', req, ctx);
    if (req.physical) await physicalDone;
    response.header = this.header();
    return response;
  }

  // ------------------------------------------------------------------ leases

  leaseGrant(req: LeaseGrantRequest, ctx: RequestContext = INTERNAL): Promise<LeaseGrantResponse> {
    return this.leases.grant(req, ctx);
  }

  leaseRevoke(id: bigint, ctx: RequestContext = INTERNAL): Promise<LeaseRevokeResponse> {
    return this.leases.revoke(id, ctx);
  }

  /** Keep-alive: the TTL the leader renewed the lease to, or ErrLeaseNotFound. */
  leaseRenew(id: bigint, ctx: RequestContext = INTERNAL): Promise<number> {
    return this.leases.renew(id, ctx);
  }

  /**
   * Asked with keys, the user must be allowed to read every key of the lease
   * (etcd's fix of CVE-2023-32082): the keys come back in the answer.
   */
  async leaseTimeToLive(
    req: LeaseTimeToLiveRequest,
    ctx: RequestContext = INTERNAL,
  ): Promise<LeaseTimeToLiveResponse> {
    if (!req.keys) return this.leases.timeToLive(req, ctx);
    return this.auth.serialized(
      ctx,
      (who) => {
        if (this.authStore.isEnabled && who === undefined) throw ErrUserEmpty;
        for (const key of this.kv.keysOfLease(req.id)) this.authStore.isRangePermitted(who, key);
      },
      () => this.leases.timeToLive(req, ctx),
    );
  }

  leaseLeases(ctx: RequestContext = INTERNAL): Promise<LeaseLeasesResponse> {
    return this.leases.leases(ctx);
  }

  // ------------------------------------------------------------------ alarms

  /** etcd 3.4 answers Alarm without a header (its applier builds a bare AlarmResponse). */
  async alarm(req: AlarmRequest, ctx: RequestContext = INTERNAL): Promise<AlarmResponse> {
    if (req.action === AlarmAction.GET) {
      // etcd 3.4 sends GET through Raft: what it lists is what the cluster agreed on, and a bad token is refused.
      await this.auth.authInfo(ctx);
      await this.waitLinearizable(ctx);
      return AlarmResponse.create({ alarms: this.alarms.list(req.alarm) });
    }
    return this.proposer.proposeRequest('alarm', req, ctx);
  }

  // ------------------------------------------------------------------ membership

  // Membership changes are the root role's once auth is on (etcd's checkMembershipOperationPermission).

  async memberAdd(
    peerUrls: string[],
    isLearner: boolean,
    ctx: RequestContext = INTERNAL,
  ): Promise<MemberAddResponse> {
    await this.auth.checkAdmin(ctx);
    return this.cluster.add(peerUrls, isLearner, ctx);
  }

  async memberRemove(id: bigint, ctx: RequestContext = INTERNAL): Promise<MemberRemoveResponse> {
    await this.auth.checkAdmin(ctx);
    return this.cluster.remove(id, ctx);
  }

  async memberUpdate(
    id: bigint,
    peerUrls: string[],
    ctx: RequestContext = INTERNAL,
  ): Promise<MemberUpdateResponse> {
    await this.auth.checkAdmin(ctx);
    return this.cluster.update(id, peerUrls, ctx);
  }

  async memberPromote(id: bigint, ctx: RequestContext = INTERNAL): Promise<MemberPromoteResponse> {
    await this.auth.checkAdmin(ctx);
    return this.cluster.promote(id, ctx);
  }

  // ------------------------------------------------------------------ maintenance

  /** Hands a leadership transfer to Raft and waits until someone else leads (etcd's MoveLeader). */
  async moveLeader(target: bigint, ctx: RequestContext = INTERNAL): Promise<void> {
    if (!this.isLeader()) throw ErrNotLeader;
    const transferee = this.membership.get(target);
    if (!transferee || transferee.isLearner) throw ErrBadLeaderTransferee;
    if (target === this.config.memberId) return;
    this.raft.transferLeadership(target);
    this.loop.kick();
    await unlessCanceled(
      this.waitFor(
        this.leaderChanged$.pipe(filter((lead) => lead === target)),
        requestTimeoutMs(this.config),
        () => ErrTimeoutLeaderTransfer,
      ),
      ctx,
    );
  }

  /** The key space as etcd's Snapshot RPC streams it (see snapshotFile.ts). */
  async *snapshotStream(): AsyncGenerator<SnapshotChunk> {
    // The snapshot reads the key space from disk: everything applied goes there first.
    await this.applier.flush();
    const path = join(
      this.member.storage.memberDir,
      `snapshot-${process.pid}-${this.ids.next().toString(16)}.tmp`,
    );
    // A stream its client stopped reading may still be open when the member stops: stop removes its file.
    this.snapshotFiles.add(path);
    const started = performance.now();
    try {
      // Members and alarms go into the file's members and alarm buckets, as etcd's backend holds them.
      yield* streamSnapshot(this.kv.snapshotRecords(), path, {
        members: this.membership.list(),
        alarms: this.alarms.list(),
      });
      this.metrics.backendSnapshotDuration.observe((performance.now() - started) / 1000);
    } finally {
      this.snapshotFiles.delete(path);
    }
  }

  /** etcd's Hash: of the whole backend on disk, so everything applied is committed first. */
  async hash(): Promise<{ hash: number; revision: number }> {
    await this.applier.flush();
    return this.kv.hash();
  }

  async defragment(): Promise<void> {
    const started = performance.now();
    const before = await this.kv.dbSize();
    await this.kv.defragment();
    const after = await this.kv.dbSize();
    this.quota.measured(after);
    this.logger.info(
      {
        'db-size-before': before,
        'db-size-after': after,
        'took-ms': Math.round(performance.now() - started),
      },
      'defragmented',
    );
  }

  /** Applied entries, Raft progress and storage sizes for Status. */
  async statusFigures(): Promise<{ dbSize: number; raftIndex: number; raftApplied: number }> {
    return { dbSize: await this.kv.dbSize(), raftIndex: this.committedIndex, raftApplied: this.appliedIndex };
  }

  // ------------------------------------------------------------------ internals

  /** Puts the auth store in the state the key space's backend holds (on start, after a snapshot install). */
  private async reloadAuth(): Promise<void> {
    const records: StoredAuthRecord[] = [];
    for (const { key, payload } of await this.kv.recordsUnder(Buffer.of(AUTH_PREFIX))) {
      const at = parseAuthRecordKey(key);
      if (at !== undefined) records.push({ bucket: at.bucket, key: at.key, value: payload });
    }
    this.authStore.load(records);
  }

  /** Proposes a request and waits for what applying it answered (etcd's processInternalRaftRequestOnce). */
  propose(req: Partial<InternalRaftRequest>, ctx: RequestContext = INTERNAL): Promise<Applied> {
    return this.proposer.propose(req, ctx);
  }

  /** A write, answered with the header of the revision it made (or of the current one). */
  private async proposeWrite<K extends WriteKind>(
    kind: K,
    request: InternalRaftRequest[K],
    ctx: RequestContext,
  ): Promise<AppliedResponses[K]> {
    const resp = await this.proposer.proposeRequest(kind, request, ctx);
    resp.header = this.header(resp.header?.revision || this.kv.currentRevision);
    return resp;
  }

  /** Resolves when a read served now from local state is linearizable. */
  waitLinearizable(ctx: RequestContext = INTERNAL): Promise<void> {
    return unlessCanceled(this.readLoop.waitLinearizable(), ctx);
  }

  private async waitForLeader(): Promise<void> {
    if (this.lead !== 0n) return;
    await this.waitFor(
      this.leaderChanged$.pipe(filter((l) => l !== 0n)),
      requestTimeoutMs(this.config),
      () => ErrNoLeader,
    );
  }

  /**
   * The first value of `source`, or the timeout's error, or ErrStopped. One
   * pipeline, so everything it subscribed to is let go with its answer: a
   * subscription left on stopping$ per keep-alive would grow without bound.
   */
  private waitFor<T>(source: Observable<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    if (this.stopped) return Promise.reject(ErrStopped);
    return firstValueFrom(
      source.pipe(
        timeout({ first: timeoutMs, with: () => throwError(onTimeout) }),
        takeUntil(this.stopping$),
        throwIfEmpty(() => ErrStopped),
      ),
    );
  }

  private onSoftState(s: SoftState): void {
    const status = this.raft.status();
    this.term = status.term;
    if (s.lead === this.lead) return;
    const wasLeader = this.isLeader();
    this.lead = s.lead;
    this.metrics.hasLeader.set(s.lead === 0n ? 0 : 1);
    if (s.lead !== 0n) this.metrics.leaderChangesSeen.inc();
    if (this.isLeader()) {
      this.lessor.promote(this.config.electionMs);
      this.metrics.isLeader.set(1);
      this.actor?.send({ type: 'LEADER_ELECTED' });
    } else if (wasLeader) {
      this.lessor.demote();
      this.metrics.isLeader.set(0);
      this.actor?.send({ type: 'LEADERSHIP_LOST' });
    }
    this.logger.info({ lead: s.lead.toString(16), role: s.role, term: this.term }, 'leader changed');
    this.leaderChanges.next(s.lead);
  }

  private onApplied(index: number, confState: ConfState | undefined): void {
    if (confState !== undefined && this.membership.isRemoved(this.config.memberId)) {
      this.sayRemoved(`applied its own removal at index ${index}`);
    }
    this.metrics.proposalsApplied.set(index);
    this.metrics.proposalsCommitted.set(this.committedIndex);
    this.appliedIndexes.next(index);
    this.snapshots.applied(index, confState);
  }
}

/** etcd's simple token lifetime after the last use (--auth-token-ttl). */
const DEFAULT_SIMPLE_TOKEN_TTL_MS = 300_000;

/** The requests answered with a header of their own revision. */
type WriteKind = 'put' | 'deleteRange' | 'txn' | 'leaseGrant' | 'leaseRevoke';

function isTxnSerializable(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].every((op) => op.requestRange?.serializable ?? true);
}
