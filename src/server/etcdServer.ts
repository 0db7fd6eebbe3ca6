import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createActor, fromCallback, type Actor, type InspectionEvent, type Observer } from 'xstate';
import {
  serverPartsMachine,
  type ServerPartsEvent,
  type ServerPartsMachine,
} from '../../machines/serverParts.js';
import {
  BehaviorSubject,
  Subject,
  filter,
  firstValueFrom,
  race,
  switchMap,
  take,
  throwError,
  timer,
  type Observable,
  type Subscription,
} from 'rxjs';
import {
  AlarmRequest,
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmType,
  CompactionResponse,
  InternalRaftRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  MemberAddResponse,
  MemberPromoteResponse,
  MemberRemoveResponse,
  MemberUpdateResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  ResponseHeader,
  type AlarmMember,
  AlarmResponse,
  type CompactionRequest,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type LeaseGrantRequest,
  type LeaseTimeToLiveRequest,
  type Member,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
} from '../proto/etcdserverpb.js';
import { ConfChange, ConfChangeType, type ConfState } from '../proto/raftpb.js';
import { memberId as deriveMemberId } from './ids.js';
import type { MemoryStorage } from '../raft/memoryStorage.js';
import { restoreMemoryStorage } from '../storage/raftLogRestore.js';
import { RaftNode } from '../raft/raftNode.js';
import type { SoftState } from '../raft/ready.js';
import { ProposalDroppedError } from '../raft/errors.js';
import { RaftLogStore } from '../storage/raftLogStore.js';
import { KvStore } from '../mvcc/kvStore.js';
import { WatchableStore } from '../mvcc/watchableStore.js';
import { applyRange, applyTxn, isTxnReadOnly } from '../mvcc/kvRequests.js';
import { Lessor, MAX_LEASE_TTL, minLeaseTtl } from '../lease/lessor.js';
import {
  ErrLeaderChanged,
  ErrLeaseNotFound,
  ErrLeaseTTLTooLarge,
  ErrNoLeader,
  ErrNotLeader,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutWaitAppliedIndex,
  ErrLearnerNotReady,
  ErrMemberBadURLs,
  ErrMemberNotEnoughStarted,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrPeerURLExist,
  ErrRequestTooLarge,
  ErrNoSpace,
  ErrBadLeaderTransferee,
  ErrTooManyLearners,
  ErrTimeoutLeaderTransfer,
} from './errors.js';
import { Alarms } from './alarms.js';
import { Applier, type ApplyResult } from './applier.js';
import { createCompactor, type CompactionPolicy } from './compactor.js';
import { Membership } from './membership.js';
import { RaftLoop, type PeerSender } from './raftLoop.js';
import { LinearizableReadLoop } from './readLoop.js';
import { RequestIdGenerator } from './requestId.js';
import { WaitRegistry } from './wait.js';
import { readClusterRecord, writeClusterRecord } from './clusterRecord.js';
import { streamSnapshot, type SnapshotChunk } from './snapshotFile.js';
import type { ServerMetrics } from './metrics.js';

export interface ServerConfig {
  name: string;
  dataDir: string;
  memberId: bigint;
  clusterId: bigint;
  /** Every member of the initial cluster, this one included. */
  initialMembers: Member[];
  clientUrls: string[];
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number;
  /** Entries kept in the log behind a snapshot for slow followers (etcd: 5000). */
  snapshotCatchUpEntries: number;
  quotaBackendBytes: number;
  /** Largest encoded request that may be proposed (--max-request-bytes). */
  maxRequestBytes: number;
  compaction?: CompactionPolicy;
  preVote: boolean;
  /** Interval of progress notifications to watchers that ask for them. */
  watchProgressNotifyIntervalMs?: number;
  /** Seed of the election-timeout randomness; anything is fine in production. */
  seed?: number;
}

/** etcd's request timeout: 5 s plus twice the election timeout. */
function requestTimeoutMs(cfg: ServerConfig): number {
  return 5_000 + 2 * cfg.electionMs;
}

const LEASE_REVOKE_RATE_PER_TICK = 1000;
const LEASE_CHECK_MS = 500;
const QUOTA_CHECK_MS = 1_000;
/** etcd 3.4 allows one learner at a time (membership.maxLearners). */
const MAX_LEARNERS = 1;
/** etcd's applyTimeout: how long a lease renewal waits for the leader to apply what it committed. */
const APPLY_WAIT_MS = 1_000;

/**
 * One member (etcd's EtcdServer): it owns the Raft node and its loop, the
 * storage, the key space, the lessor and the read loop, and answers the
 * client API. Writes go through Raft and are answered once applied; reads are
 * linearizable through ReadIndex unless asked to be serializable.
 */
export class EtcdServer {
  readonly applied$: BehaviorSubject<number>;
  readonly leaderChanged$ = new Subject<bigint>();
  readonly stopping$ = new Subject<void>();
  private readonly fatalSubject = new Subject<Error>();
  /** The member cannot go on (its log could not be made durable); the lifecycle stops it. */
  readonly fatal$: Observable<Error> = this.fatalSubject.asObservable();
  readonly alarms = new Alarms();
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  readonly membership: Membership;
  private readonly waits = new WaitRegistry<ApplyResult>();
  private readonly ids: RequestIdGenerator;
  private readonly applier: Applier;
  private raft!: RaftNode;
  private loop!: RaftLoop;
  private readLoop!: LinearizableReadLoop;
  private lead = 0n;
  private term = 0;
  private confState: ConfState;
  private snapshotIndex: number;
  private actor: Actor<ServerPartsMachine> | undefined;
  /** The key space's size on disk as the quota guard last measured it. */
  private dbSizeEstimate = 0;
  private readonly subscriptions: Subscription[] = [];
  private stopped = false;

  private constructor(
    readonly config: ServerConfig,
    private readonly raftLog: RaftLogStore,
    private readonly memory: MemoryStorage,
    readonly kv: KvStore,
    private readonly logger: Logger,
    private readonly peers: PeerSender,
    readonly metrics: ServerMetrics,
    private readonly inspect: Observer<InspectionEvent> | undefined,
    restored: { stateIndex: number; alarms: AlarmMember[] },
  ) {
    this.ids = new RequestIdGenerator(config.memberId);
    this.applied$ = new BehaviorSubject(kv.consistentIndex);
    this.watchable = new WatchableStore(kv, {
      logger,
      ...(config.watchProgressNotifyIntervalMs
        ? { progressIntervalMs: config.watchProgressNotifyIntervalMs }
        : {}),
    });
    this.lessor = new Lessor({ minTtl: minLeaseTtl(config.electionMs) });
    for (const lease of kv.leases()) this.lessor.grant(lease.id, lease.ttl, lease.remainingTtl);
    this.membership = new Membership(config.clusterId, config.initialMembers);
    for (const a of restored.alarms) this.alarms.activate(a);
    this.confState = memory.initialState().confState;
    this.snapshotIndex = memory.firstIndex() - 1;
    this.applier = new Applier({
      kv,
      lessor: this.lessor,
      alarms: this.alarms,
      membership: this.membership,
      waits: this.waits,
      applyConfChange: (cc) => this.raft.applyConfChange(cc),
      stateIndex: restored.stateIndex,
      persistClusterState: (index, state) =>
        writeClusterRecord(join(config.dataDir, 'member'), {
          memberId: config.memberId,
          clusterId: config.clusterId,
          members: state.members,
          alarms: state.alarms,
          stateIndex: index,
        }),
      logger,
      onApplied: (index, confState) => this.onApplied(index, confState),
      onCommitFailed: (err) => {
        this.logger.fatal({ err }, 'committing the key space failed; the member stops');
        this.fatalSubject.next(err instanceof Error ? err : new Error(String(err)));
      },
    });
  }

  /**
   * Opens the member's storage (raft log and key space) under dataDir, decides
   * between a new member and a restart, and checks that the two agree. Throws
   * with a clear reason when the data cannot be trusted.
   */
  static async open(
    config: ServerConfig,
    logger: Logger,
    peers: PeerSender,
    metrics: ServerMetrics,
    inspect?: Observer<InspectionEvent>,
  ): Promise<EtcdServer> {
    const memberDir = join(config.dataDir, 'member');
    await mkdir(memberDir, { recursive: true });
    const { store: raftLog, state } = await RaftLogStore.open(join(memberDir, 'raft'), { logger });
    let kv: KvStore;
    try {
      kv = await KvStore.open(join(memberDir, 'kv'), { logger });
    } catch (err) {
      await raftLog.close();
      throw err;
    }
    try {
      const fresh = state.entries.length === 0 && !state.snapshotMetadata && state.hardState.term === 0;
      let restored: { stateIndex: number; alarms: AlarmMember[] } = { stateIndex: 0, alarms: [] };
      const memory = restoreMemoryStorage(state);
      if (fresh) {
        if (kv.consistentIndex > 0) {
          throw new Error(
            `data dir ${config.dataDir}: the key space has applied index ${kv.consistentIndex} but the raft log is empty; the raft log was lost or deleted. Restore from a snapshot or remove the data dir and re-add the member.`,
          );
        }
        // Identity first: a log without it could not be restarted, an identity without a log is a fresh member.
        await writeClusterRecord(memberDir, {
          memberId: config.memberId,
          clusterId: config.clusterId,
          members: config.initialMembers,
        });
        RaftNode.bootstrap(
          memory,
          config.initialMembers.map((m) => m.id),
        );
        // The initial configuration is snapshot 0: persisted so that a restart knows the voters.
        await raftLog.saveSnapshot(memory.snapshot().metadata!);
      } else {
        const record = await readClusterRecord(memberDir);
        if (!record) {
          throw new Error(
            `data dir ${config.dataDir} holds a raft log but no member/cluster.json: the member's identity is lost. Restore the data dir from a snapshot or remove the member and re-add it.`,
          );
        }
        if (record.memberId !== config.memberId) {
          logger.warn(
            { storedMemberId: record.memberId.toString(16), flagsMemberId: config.memberId.toString(16) },
            'restarting with the member ID stored in the data dir; --initial-cluster and peer URL flags only matter to a new member',
          );
        }
        config = {
          ...config,
          memberId: record.memberId,
          clusterId: record.clusterId,
          initialMembers: record.members,
        };
        restored = { stateIndex: record.stateIndex ?? 0, alarms: record.alarms ?? [] };
        checkIntegrity(
          config.dataDir,
          kv.consistentIndex,
          memory.lastIndex(),
          state.snapshotMetadata?.index ?? 0,
        );
      }
      const server = new EtcdServer(config, raftLog, memory, kv, logger, peers, metrics, inspect, restored);
      logger.info(
        {
          name: config.name,
          memberId: config.memberId.toString(16),
          clusterId: config.clusterId.toString(16),
          dataDir: config.dataDir,
          appliedIndex: kv.consistentIndex,
          revision: kv.currentRevision,
          fresh,
        },
        fresh ? 'starting a new member' : 'restarting member from existing data',
      );
      return server;
    } catch (err) {
      await kv.close().catch(() => undefined);
      await raftLog.close().catch(() => undefined);
      throw err;
    }
  }

  /** Starts Raft, the apply and read loops, the lessor and the compactor. */
  start(): void {
    const { config } = this;
    void this.kv.dbSize().then((size) => (this.dbSizeEstimate = size));
    this.raft = new RaftNode({
      id: config.memberId,
      storage: this.memory,
      electionTick: Math.max(2, Math.round(config.electionMs / config.heartbeatMs)),
      heartbeatTick: 1,
      // Raft hands out everything after the snapshot again on restart: conf changes
      // must reach the Raft configuration anew, while the key space skips what it has.
      applied: this.memory.firstIndex() - 1,
      preVote: config.preVote,
      checkQuorum: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      random: seededRandom(config.seed ?? Number(config.memberId & 0xffffffffn) ^ Date.now()),
      logger: this.logger.child({ component: 'raft' }),
      ...(this.inspect ? { inspect: (event: InspectionEvent) => this.inspect?.next?.(event) } : {}),
    });
    this.loop = new RaftLoop(
      this.raft,
      this.memory,
      this.raftLog,
      this.peers,
      this.applier,
      { tickMs: config.heartbeatMs },
      this.logger,
      (ms) => this.metrics.walFsyncDuration.observe(ms / 1000),
    );
    this.subscriptions.push(this.loop.softState$.subscribe((s) => this.onSoftState(s)));
    this.actor = createActor(this.partsMachine(), this.inspect ? { inspect: this.inspect } : {});
    this.actor.subscribe((snapshot) => {
      if (snapshot.status === 'done' && snapshot.value === 'failed') {
        this.fatalSubject.next(new Error(snapshot.context.failure ?? 'server failed'));
      }
    });
    this.actor.start();
    // A member that is the only voter elects itself at once instead of waiting an election timeout.
    if (this.membership.votingMembers().length === 1 && this.membership.has(config.memberId)) {
      this.raft.campaign();
      this.loop.kick();
    }
  }

  /** The parts of machines/serverParts.ts, each a child actor that owns its timers and streams. */
  private partsMachine() {
    const { config } = this;
    const every = (ms: number, fn: () => void) =>
      fromCallback<ServerPartsEvent>(() => {
        const timer = setInterval(fn, ms);
        return () => clearInterval(timer);
      });
    return serverPartsMachine.provide({
      actors: {
        raftLoop: fromCallback<ServerPartsEvent>(({ sendBack }) => {
          const sub = this.loop.fatal$.subscribe((err) => sendBack({ type: 'FATAL', reason: err.message }));
          this.loop.start();
          return () => {
            sub.unsubscribe();
            void this.loop.stop();
          };
        }),
        readLoop: fromCallback<ServerPartsEvent>(() => {
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
            errors: {
              leaderChanged: () => ErrLeaderChanged,
              timeout: () => ErrTimeout,
              stopped: () => ErrStopped,
            },
          });
          const readLoop = this.readLoop;
          return () => readLoop.stop();
        }),
        leaseExpiry: every(LEASE_CHECK_MS, () => this.revokeExpiredLeases()),
        autoCompactor: fromCallback<ServerPartsEvent>(() => {
          const compactor = config.compaction && createCompactor(config.compaction, Date.now());
          if (!compactor) return undefined;
          const timer = setInterval(() => {
            const target = compactor.observe(Date.now(), this.kv.currentRevision);
            if (target === undefined) return;
            this.logger.info({ revision: target, mode: config.compaction?.mode }, 'auto compaction');
            this.compact({ revision: target, physical: false }).catch((err: unknown) =>
              this.logger.warn({ err, revision: target }, 'auto compaction failed'),
            );
          }, compactor.pollMs);
          return () => clearInterval(timer);
        }),
        quotaGuard: every(QUOTA_CHECK_MS, () => void this.checkQuota()),
      },
    });
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
        this.logger.info({ name: config.name, clientUrls: config.clientUrls }, 'published member attributes');
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
    this.stopping$.next();
    this.actor?.send({ type: 'STOP' });
    this.actor?.stop();
    await this.loop?.stop();
    for (const s of this.subscriptions) s.unsubscribe();
    this.waits.failAll(ErrStopped);
    this.watchable.close();
    this.applier.stop();
    await this.applier
      .flush()
      .catch((err: unknown) => this.logger.error({ err }, 'final key-space commit failed'));
    await this.kv.close();
    await this.raftLog.close();
    this.stopping$.complete();
    this.leaderChanged$.complete();
    this.logger.info({ name: this.config.name }, 'member stopped');
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

  isLeader(): boolean {
    return this.lead === this.config.memberId;
  }

  get appliedIndex(): number {
    return this.applier.applied;
  }

  get committedIndex(): number {
    return this.raft?.status().commit ?? 0;
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

  async range(req: RangeRequest): Promise<RangeResponse> {
    if (!req.serializable) await this.linearizableRead();
    const resp = await applyRange(this.kv, req);
    resp.header = this.header(resp.header?.revision ?? this.kv.currentRevision);
    return resp;
  }

  async put(req: PutRequest): Promise<PutResponse> {
    await this.assertQuota(putCost(req));
    return this.proposeWrite<PutResponse>({ put: req });
  }

  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return this.proposeWrite<DeleteRangeResponse>({ deleteRange: req });
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    if (isTxnReadOnly(req)) {
      if (!isTxnSerializable(req)) await this.linearizableRead();
      const resp = await applyTxn(this.kv, req);
      resp.header = this.header(resp.header?.revision ?? this.kv.currentRevision);
      return resp;
    }
    await this.assertQuota(txnCost(req));
    return this.proposeWrite<TxnResponse>({ txn: req });
  }

  async compact(req: CompactionRequest): Promise<CompactionResponse> {
    const result = await this.propose({ compaction: req });
    if (req.physical && result.physicalDone) await result.physicalDone;
    const resp = (result.response as CompactionResponse | undefined) ?? CompactionResponse.create();
    resp.header = this.header();
    return resp;
  }

  // ------------------------------------------------------------------ leases

  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    if (req.ttl > MAX_LEASE_TTL) throw ErrLeaseTTLTooLarge;
    await this.assertQuota(LEASE_OVERHEAD_BYTES);
    // etcd makes an ID when the client leaves it 0: positive, so clients never see it negative.
    const id = req.id !== 0n ? req.id : BigInt.asIntN(64, this.ids.next() & 0x7fff_ffff_ffff_ffffn);
    const resp = await this.proposeWrite<LeaseGrantResponse>({ leaseGrant: { id, ttl: req.ttl } });
    return resp;
  }

  async leaseRevoke(id: bigint): Promise<LeaseRevokeResponse> {
    return this.proposeWrite<LeaseRevokeResponse>({ leaseRevoke: { id } });
  }

  /**
   * Keep-alive: only the leader renews, after it has applied everything it
   * committed so that a revoke already agreed on is seen (etcd #13675).
   * Returns the TTL, or throws ErrLeaseNotFound.
   */
  async leaseRenew(id: bigint): Promise<number> {
    await this.waitForLeader();
    if (!this.isLeader()) throw ErrNotLeader;
    await this.waitFor(
      this.applied$.pipe(filter((a) => a >= this.committedIndex)),
      APPLY_WAIT_MS,
      () => ErrTimeoutWaitAppliedIndex,
    );
    if (this.lessor.hasExpired(id)) {
      // Its time ran out: the leader is revoking it (or will at the next sweep). etcd's
      // Renew waits for that revoke rather than revive it; a keep-alive answered with a
      // TTL here would promise keys that are about to be deleted.
      await this.leaseRevoke(id).catch((err: unknown) => {
        if (err !== ErrLeaseNotFound) throw err;
      });
      throw ErrLeaseNotFound;
    }
    const ttl = this.lessor.renew(id);
    if (ttl === undefined) throw ErrLeaseNotFound;
    return ttl;
  }

  async leaseTimeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    await this.linearizableRead();
    const ttl = this.lessor.timeToLive(req.id);
    if (!ttl) return LeaseTimeToLiveResponse.create({ header: this.header(), id: req.id, ttl: -1 });
    return LeaseTimeToLiveResponse.create({
      header: this.header(),
      id: req.id,
      ttl: ttl.remainingTtl,
      grantedTtl: ttl.grantedTtl,
      keys: req.keys ? this.kv.keysOfLease(req.id) : [],
    });
  }

  async leaseLeases(): Promise<LeaseLeasesResponse> {
    await this.linearizableRead();
    return LeaseLeasesResponse.create({
      header: this.header(),
      leases: this.kv.leases().map((l) => ({ id: l.id })),
    });
  }

  // ------------------------------------------------------------------ alarms

  /** etcd 3.4 answers Alarm without a header (its applier builds a bare AlarmResponse). */
  async alarm(req: AlarmRequest): Promise<AlarmResponse> {
    if (req.action === AlarmAction.GET) {
      // etcd 3.4 sends GET through Raft: what it lists is what the cluster agreed on.
      await this.linearizableRead();
      return AlarmResponse.create({ alarms: this.alarms.list(req.alarm) });
    }
    const result = await this.propose({ alarm: req });
    return result.response as AlarmResponse;
  }

  // ------------------------------------------------------------------ membership

  async memberAdd(peerUrls: string[], isLearner: boolean): Promise<MemberAddResponse> {
    if (peerUrls.length === 0 || !peerUrls.every(isValidPeerUrl)) throw ErrMemberBadURLs;
    const taken = new Set(this.membership.list().flatMap((m) => m.peerUrls));
    if (peerUrls.some((u) => taken.has(u))) throw ErrPeerURLExist;
    // etcd's MemberAdd: no name, no cluster token, the time of adding.
    const id = deriveMemberId(peerUrls, '', Date.now() / 1000);
    if (isLearner && this.membership.list().filter((m) => m.isLearner).length >= MAX_LEARNERS)
      throw ErrTooManyLearners;
    if (!isLearner && !this.readyToAddVoter()) throw ErrMemberNotEnoughStarted;
    await this.proposeConfChange(
      isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode,
      id,
      { id: id.toString(), peerURLs: peerUrls, isLearner },
    );
    return MemberAddResponse.create({
      header: this.memberHeader(),
      member: this.membership.get(id),
      members: this.membership.list(),
    });
  }

  async memberRemove(id: bigint): Promise<MemberRemoveResponse> {
    const member = this.membership.get(id);
    if (!member) throw ErrMemberNotFound;
    if (!member.isLearner && !this.readyToRemoveVoter(id)) throw ErrMemberNotEnoughStarted;
    await this.proposeConfChange(ConfChangeType.ConfChangeRemoveNode, id, undefined);
    return MemberRemoveResponse.create({ header: this.memberHeader(), members: this.membership.list() });
  }

  async memberUpdate(id: bigint, peerUrls: string[]): Promise<MemberUpdateResponse> {
    const member = this.membership.get(id);
    if (!member) throw ErrMemberNotFound;
    if (peerUrls.length === 0 || !peerUrls.every(isValidPeerUrl)) throw ErrMemberBadURLs;
    await this.proposeConfChange(ConfChangeType.ConfChangeUpdateNode, id, {
      id: id.toString(),
      peerURLs: peerUrls,
      isLearner: member.isLearner,
    });
    return MemberUpdateResponse.create({ header: this.memberHeader(), members: this.membership.list() });
  }

  async memberPromote(id: bigint): Promise<MemberPromoteResponse> {
    const member = this.membership.get(id);
    if (!member) throw ErrMemberNotFound;
    if (!member.isLearner) throw ErrMemberNotLearner;
    // A learner is in sync when the leader's progress shows it near the commit
    // index; with no such progress (it never connected) it cannot be promoted.
    const progress = this.raft.status().progress?.get(id);
    if (!progress || progress.match < this.committedIndex * 0.9) throw ErrLearnerNotReady;
    await this.proposeConfChange(ConfChangeType.ConfChangeAddNode, id, {
      id: id.toString(),
      peerURLs: member.peerUrls,
      isLearner: false,
    });
    return MemberPromoteResponse.create({ header: this.memberHeader(), members: this.membership.list() });
  }

  /** etcd's IsReadyToAddVotingMember: adding one must leave a quorum of started voters. */
  private readyToAddVoter(): boolean {
    const voters = this.membership.votingMembers();
    const started = voters.filter((m) => m.name !== '').length;
    const total = voters.length + 1;
    // Adding a second member to a one-member cluster is how a cluster grows from a restored snapshot.
    if (started === 1 && total === 2) return true;
    return started >= Math.floor(total / 2) + 1;
  }

  /** etcd's IsReadyToRemoveVotingMember: removing one must leave a quorum of started voters. */
  private readyToRemoveVoter(id: bigint): boolean {
    const voters = this.membership.votingMembers();
    const remaining = voters.filter((m) => m.id !== id);
    const started = remaining.filter((m) => m.name !== '').length;
    return started >= Math.floor(remaining.length / 2) + 1;
  }

  private async proposeConfChange(
    type: ConfChangeType,
    nodeId: bigint,
    member: object | undefined,
  ): Promise<void> {
    if (this.stopped) throw ErrStopped;
    const id = this.ids.next();
    const cc = ConfChange.create({
      type,
      nodeId,
      id: Number(id & 0x1f_ffff_ffff_ffffn),
      context: member ? Buffer.from(JSON.stringify(member)) : new Uint8Array(0),
    });
    const done = this.waits.register(BigInt(cc.id));
    try {
      this.raft.proposeConfChange(cc);
    } catch (err) {
      this.waits.fail(BigInt(cc.id), err instanceof ProposalDroppedError ? ErrTimeout : (err as Error));
    }
    this.loop.kick();
    const timer = setTimeout(() => this.waits.fail(BigInt(cc.id), ErrTimeout), requestTimeoutMs(this.config));
    try {
      const result = await done;
      if (result.error) throw result.error;
    } finally {
      clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------------ raft-level

  /** Hands a leadership transfer to Raft and waits until someone else leads (etcd's MoveLeader). */
  async moveLeader(target: bigint): Promise<void> {
    if (!this.isLeader()) throw ErrNotLeader;
    const transferee = this.membership.get(target);
    if (!transferee || transferee.isLearner) throw ErrBadLeaderTransferee;
    if (target === this.config.memberId) return;
    this.raft.transferLeadership(target);
    this.loop.kick();
    await this.waitFor(
      this.leaderChanged$.pipe(filter((lead) => lead === target)),
      requestTimeoutMs(this.config),
      () => ErrTimeoutLeaderTransfer,
    );
  }

  /** The key space as etcd's Snapshot RPC streams it (see snapshotFile.ts). */
  async *snapshotStream(): AsyncGenerator<SnapshotChunk> {
    // The snapshot reads the key space from disk: everything applied goes there first.
    await this.applier.flush();
    const path = join(
      this.config.dataDir,
      'member',
      `snapshot-${process.pid}-${this.ids.next().toString(16)}.tmp`,
    );
    // Members and alarms go into the file's members and alarm buckets, as etcd's backend holds them.
    yield* streamSnapshot(this.kv.snapshotRecords(), path, {
      members: this.membership.list(),
      alarms: this.alarms.list(),
    });
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
    this.dbSizeEstimate = after;
    this.logger.info(
      { dbSizeBefore: before, dbSizeAfter: after, tookMs: Math.round(performance.now() - started) },
      'defragmented',
    );
  }

  /** Applied entries, Raft progress and storage sizes for Status. */
  async statusFigures(): Promise<{ dbSize: number; raftIndex: number; raftApplied: number }> {
    return { dbSize: await this.kv.dbSize(), raftIndex: this.committedIndex, raftApplied: this.appliedIndex };
  }

  // ------------------------------------------------------------------ internals

  private async proposeWrite<T extends { header?: ResponseHeader }>(
    req: Partial<InternalRaftRequest>,
  ): Promise<T> {
    const result = await this.propose(req);
    const resp = result.response as T;
    resp.header = this.header(resp.header?.revision || this.kv.currentRevision);
    return resp;
  }

  /** Proposes a request and waits for its result from the applier (etcd's processInternalRaftRequestOnce). */
  async propose(req: Partial<InternalRaftRequest>): Promise<ApplyResult & { response?: unknown }> {
    if (this.stopped) throw ErrStopped;
    const id = this.ids.next();
    const full = InternalRaftRequest.create({ ...req, id, header: { id, username: '', authRevision: 0 } });
    const data = InternalRaftRequest.encode(full);
    if (data.length > this.config.maxRequestBytes) throw ErrRequestTooLarge;
    const done = this.waits.register(id);
    try {
      this.raft.propose(data);
    } catch (err) {
      this.waits.fail(
        id,
        err instanceof ProposalDroppedError ? (this.lead === 0n ? ErrNoLeader : ErrTimeout) : (err as Error),
      );
      return done;
    }
    this.metrics.proposalsPending.inc();
    this.loop.kick();
    const timer = setTimeout(() => this.waits.fail(id, ErrTimeout), requestTimeoutMs(this.config));
    try {
      const result = await done;
      if (result.error) {
        this.metrics.proposalsFailed.inc();
        throw result.error;
      }
      return result;
    } finally {
      clearTimeout(timer);
      this.metrics.proposalsPending.dec();
    }
  }

  private linearizableRead(): Promise<void> {
    return this.readLoop.waitLinearizable();
  }

  /** Resolves when a read served now from local state is linearizable. */
  waitLinearizable(): Promise<void> {
    return this.readLoop.waitLinearizable();
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
   * The first value of `source`, or the timeout's error, or ErrStopped. One rxjs race, so
   * the losers are unsubscribed: a Promise.race of firstValueFrom()s would leave a
   * subscription on stopping$ behind for every keep-alive, growing without bound.
   */
  private waitFor<T>(source: Observable<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    if (this.stopped) return Promise.reject(ErrStopped);
    return firstValueFrom(
      race(
        source.pipe(take(1)),
        timer(timeoutMs).pipe(switchMap(() => throwError(onTimeout))),
        this.stopping$.pipe(switchMap(() => throwError(() => ErrStopped))),
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
    this.leaderChanged$.next(s.lead);
  }

  private onApplied(index: number, confState: ConfState | undefined): void {
    if (confState) this.confState = confState;
    this.metrics.proposalsApplied.set(index);
    this.metrics.proposalsCommitted.set(this.committedIndex);
    this.applied$.next(index);
    if (index - this.snapshotIndex >= this.config.snapshotCount) this.snapshot(index);
  }

  /**
   * Takes a Raft snapshot at the applied index and compacts the log behind it,
   * keeping catch-up entries (etcd's triggerSnapshot). The key space itself is
   * the snapshot's state: it is already durable up to its applied index.
   */
  private snapshot(index: number): void {
    const snap = this.memory.createSnapshot(index, this.confState, new Uint8Array(0));
    this.snapshotIndex = index;
    const compactTo = index - this.config.snapshotCatchUpEntries;
    // A restart resumes applying after the snapshot: the key space must hold
    // everything up to it on disk before the raft log says so.
    // The log store holds the commit index only as of its last write (a newer
    // commit alone is not written): record it first, the snapshot may not pass it.
    // Entries up to the applied index are committed and durable, so the commit may be raised to it.
    const durable = this.memory.initialState().hardState;
    const hardState = { ...durable, commit: Math.max(durable.commit, index) };
    void this.applier
      .flush()
      .then(() => this.raftLog.save({ hardState, entries: [] }, { sync: false }))
      .then(() => this.raftLog.saveSnapshot(snap.metadata!))
      .then(async () => {
        if (compactTo > this.memory.firstIndex()) {
          this.memory.compact(compactTo);
          await this.raftLog.compact(compactTo);
        }
        this.logger.info(
          { index, compactedTo: Math.max(0, compactTo) },
          'saved raft snapshot and compacted the log',
        );
      })
      .catch((err: unknown) => this.logger.error({ err, index }, 'saving the raft snapshot failed'));
  }

  private revokeExpiredLeases(): void {
    if (!this.isLeader() || this.stopped) return;
    for (const id of this.lessor.expired(LEASE_REVOKE_RATE_PER_TICK)) {
      this.logger.info({ lease: id.toString(16) }, 'lease expired; revoking');
      this.leaseRevoke(id).catch((err: unknown) => {
        if (err !== ErrLeaseNotFound)
          this.logger.warn({ err, lease: id.toString(16) }, 'revoking an expired lease failed');
      });
    }
  }

  /** Raises NOSPACE once the key space outgrows the quota (etcd's backend quota). */
  /**
   * etcd's quota check before a request that grows the key space: if the
   * backend plus the request's cost would pass the quota, raise NOSPACE and
   * refuse the request with etcd's error. The size is the quota guard's last
   * reading (taken every second), since measuring the files per request costs
   * more than the request.
   */
  private async assertQuota(cost: number): Promise<void> {
    const quota = this.config.quotaBackendBytes;
    if (quota <= 0 || this.dbSizeEstimate + cost < quota) return;
    if (!this.alarms.has(AlarmType.NOSPACE)) await this.raiseNoSpace();
    throw ErrNoSpace;
  }

  private async checkQuota(): Promise<void> {
    if (!this.isLeader() || this.stopped || this.config.quotaBackendBytes <= 0) return;
    const size = await this.kv.dbSize();
    this.dbSizeEstimate = size;
    this.metrics.dbTotalSize.set(size);
    if (this.alarms.has(AlarmType.NOSPACE)) return;
    if (size <= this.config.quotaBackendBytes) return;
    this.logger.warn(
      { dbSize: size, quota: this.config.quotaBackendBytes },
      'database space exceeded; raising NOSPACE',
    );
    await this.raiseNoSpace();
  }

  /** Raises NOSPACE through Raft; a failure is harmless, the next check raises it again. */
  private async raiseNoSpace(): Promise<void> {
    await this.propose({
      alarm: AlarmRequest.create({
        action: AlarmAction.ACTIVATE,
        memberId: this.config.memberId,
        alarm: AlarmType.NOSPACE,
      }),
    }).catch(() => undefined);
  }
}

/** etcd's quota cost of a put: the key, the value and a fixed overhead for its index and bookkeeping. */
const KV_OVERHEAD_BYTES = 256;
/** etcd's quota cost of a lease grant. */
const LEASE_OVERHEAD_BYTES = 64;

function putCost(req: PutRequest): number {
  return KV_OVERHEAD_BYTES + req.key.length + req.value.length;
}

/** etcd's: the costlier of the two branches (only one of them runs). */
function txnCost(req: TxnRequest): number {
  const branch = (ops: TxnRequest['success']): number =>
    ops.reduce(
      (sum, op) =>
        sum + (op.requestPut ? putCost(op.requestPut) : op.requestTxn ? txnCost(op.requestTxn) : 0),
      0,
    );
  return Math.max(branch(req.success), branch(req.failure));
}

function isValidPeerUrl(u: string): boolean {
  try {
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.port !== '';
  } catch {
    return false;
  }
}

function isTxnSerializable(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].every((op) => op.requestRange?.serializable ?? true);
}

/** The key space must not be ahead of the raft log, and the log must reach what was applied. */
function checkIntegrity(dataDir: string, applied: number, lastIndex: number, snapIndex: number): void {
  if (applied > lastIndex && applied > snapIndex) {
    throw new Error(
      `data dir ${dataDir}: the key space has applied index ${applied} but the raft log ends at ${lastIndex}; the raft log lost entries. Restore from a snapshot or remove the member and re-add it.`,
    );
  }
}

/** A small seeded generator (mulberry32) for the randomized election timeout. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
