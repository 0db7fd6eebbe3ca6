import {
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  ConfState,
  type Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  Snapshot,
  SnapshotMetadata,
} from '../../src/proto/raftpb.js';
import { MemoryStorage } from '../../src/raft/memoryStorage.js';
import { RaftNode } from '../../src/raft/raftNode.js';
import { sendsBeforeWrite } from '../../src/raft/ready.js';
import {
  ConfChangeError,
  ProposalDroppedError,
  RaftInvariantError,
  StepPeerNotFoundError,
} from '../../src/raft/errors.js';

import { App } from './app.js';
import { Ghost, isMember } from './ghost.js';
import { chainNext, entryHash, LogView } from './logView.js';
import { describeMessage, type Envelope, Network, typeName } from './network.js';
import { bootstrapDisk, SimNode } from './node.js';
import type { ConfOp, SimConfig, SimEvent } from './schedule.js';
import { formatEvent } from './schedule.js';
import { SimViolation, violation } from './violation.js';
import { Checks } from './checks.js';
import { drain, round, settle } from './liveness.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the events of a script print (test/unit/raft/datadriven.ts compares it with the script's). */
export interface ScriptOutput {
  lines: string[];
  /** Read states released, printed after the event's other lines. */
  reads: string[];
}

export interface SimStats {
  events: number;
  ticks: number;
  delivered: number;
  lost: number;
  crashes: number;
  snapshotsSent: number;
  confApplied: number;
  leaderTerms: number;
  maxCommit: number;
  readsReleased: number;
  proposalsDropped: number;
  /** Uncommitted suffixes replaced by a new leader's entries (log repair). */
  truncations: number;
}

/**
 * Runs one cluster through events, checking every property after every event.
 * A property that fails throws a SimViolation; so does an exception escaping
 * the core (etcd's raft would have panicked).
 */
export class Simulator {
  readonly config: SimConfig;
  readonly nodes = new Map<number, SimNode>();
  readonly network = new Network();
  readonly ghost: Ghost;
  readonly stats: SimStats = {
    events: 0,
    ticks: 0,
    delivered: 0,
    lost: 0,
    crashes: 0,
    snapshotsSent: 0,
    confApplied: 0,
    leaderTerms: 0,
    maxCommit: 0,
    readsReleased: 0,
    proposalsDropped: 0,
    truncations: 0,
  };
  readonly checks: Checks = new Checks(this);
  /** Virtual time: global ticks so far. */
  time = 0;
  /** When set, every executed event (and settle's inner steps) is reported here. */
  trace: ((line: string) => void) | undefined;
  /** When set, what the events print goes here (a script whose output is compared). */
  out: ScriptOutput | undefined;
  private proposals = 0;

  constructor(config: SimConfig) {
    this.config = config;
    const voters: bigint[] = [];
    const learners: bigint[] = [];
    for (let i = 1; i <= config.voters; i++) voters.push(BigInt(i));
    for (let i = 1; i <= config.learners; i++) learners.push(BigInt(config.voters + i));
    const confState = ConfState.create({ voters, learners });
    const empty = config.bootstrap === 'empty';
    const bootApp = empty ? new App(0, 0, 0, [], [], confState) : new App(1, 1, 0, [], [], confState);
    // The bootstrap snapshot is the first committed "entry": give it a chain value like any other.
    if (!empty) bootApp.chain = chainNext(0, entryHash(1, 0, encoder.encode('bootstrap')));
    const bootData = bootApp.snapshotData();
    this.ghost = new Ghost(bootApp.applied, bootApp.appliedTerm, bootApp.chain);
    const bootDisk = (): MemoryStorage => {
      if (!empty) return bootstrapDisk(voters, learners, bootData);
      const disk = new MemoryStorage();
      RaftNode.bootstrap(disk, voters, learners);
      return disk;
    };
    const total = config.voters + config.learners + config.spare;
    for (let id = 1; id <= total; id++) {
      const member = id <= config.voters + config.learners;
      const disk = member ? bootDisk() : new MemoryStorage();
      const app = member
        ? App.fromSnapshot(bootData, confState)
        : new App(0, 0, 0, [], [], ConfState.create());
      const view = member ? new LogView(bootApp.applied, bootApp.appliedTerm, bootApp.chain) : new LogView();
      const node = new SimNode(id, disk, app, view);
      this.nodes.set(id, node);
      if (member) node.boot(config);
    }
    this.observeAll();
  }

  node(id: number): SimNode | undefined {
    return this.nodes.get(id);
  }

  /** The running node that leads the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (!n.up || n.observed?.role !== 'leader') continue;
      if (best === undefined || n.observed.term > (best.observed?.term ?? 0)) best = n;
    }
    return best;
  }

  /** Runs one event and checks every property; throws SimViolation. */
  run(e: SimEvent, index: number): void {
    this.stats.events++;
    try {
      this.execute(e);
      this.observeAll();
    } catch (err) {
      this.trace?.(formatEvent(e));
      throw this.asViolation(err, index);
    }
    if (this.trace !== undefined) {
      // The event, and the cluster's state when it changed: "1:L2/c5 2:F2/c5 3:down".
      const state = this.summary();
      this.trace(state === this.lastSummary ? formatEvent(e) : `${formatEvent(e).padEnd(32)} ${state}`);
      this.lastSummary = state;
    }
  }

  private lastSummary = '';

  private summary(): string {
    const letter: Record<string, string> = {
      leader: 'L',
      follower: 'F',
      candidate: 'C',
      preCandidate: 'P',
      learner: 'l',
    };
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      if (!n.started) continue;
      if (!n.up) parts.push(`${n.id}:down`);
      else {
        const o = n.observed;
        parts.push(
          `${n.id}:${letter[o?.role ?? ''] ?? '?'}${o?.term ?? '?'}[i${n.memView.lastIndex},c${o?.commit ?? '?'}]${n.paused ? '(paused)' : ''}`,
        );
      }
    }
    return parts.join(' ');
  }

  private asViolation(err: unknown, index: number): SimViolation {
    if (err instanceof SimViolation) {
      if (err.eventIndex < 0) err.eventIndex = index;
      return err;
    }
    const what = err instanceof RaftInvariantError ? 'the core panicked' : 'an exception escaped';
    const v = new SimViolation(
      'core-error',
      `${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    v.eventIndex = index;
    return v;
  }

  private execute(e: SimEvent): void {
    switch (e.kind) {
      case 'tick':
        if (e.node === undefined) {
          this.time++;
          this.stats.ticks++;
          for (const n of this.nodes.values()) if (n.running) n.core.tick();
        } else {
          const n = this.nodes.get(e.node);
          if (n?.running) n.core.tick();
        }
        return;
      case 'ticks':
      case 'elapse':
        for (let i = 0; i < e.count; i++) {
          this.time++;
          this.stats.ticks++;
          for (const n of this.nodes.values()) if (n.running) n.core.tick();
          this.observeAll();
          if (e.kind === 'elapse') drain(this);
        }
        return;
      case 'stabilize':
        return drain(this);
      case 'round':
        return round(this);
      case 'status':
        return this.printStatus(e.nodes);
      case 'log':
        return this.printLog(e.node);
      case 'process':
        return this.process(e.node);
      case 'ready':
        return this.handOut(e.node);
      case 'persist':
        return this.persist(e.node);
      case 'apply':
        return this.apply(e.node);
      case 'deliver':
      case 'drop':
      case 'dup':
        return this.network_(e);
      case 'propose': {
        const n = this.nodes.get(e.node);
        if (!n?.running) return;
        this.propose(() => n.core.propose(encoder.encode(e.data)));
        return;
      }
      case 'campaign': {
        const n = this.nodes.get(e.node);
        if (n?.running) n.core.campaign();
        return;
      }
      case 'crash': {
        const n = this.nodes.get(e.node);
        if (!n?.up) return;
        n.crash();
        this.stats.crashes++;
        return;
      }
      case 'restart': {
        const n = this.nodes.get(e.node);
        if (n === undefined || n.up || !this.restartable(n)) return;
        n.boot(this.config);
        return;
      }
      case 'pause': {
        const n = this.nodes.get(e.node);
        if (n?.up) n.paused = true;
        return;
      }
      case 'resume': {
        const n = this.nodes.get(e.node);
        if (n?.up && n.paused) this.resume(n);
        return;
      }
      case 'partition':
        this.network.partition(e.groups);
        return;
      case 'cut':
        this.network.cut(e.from, e.to);
        return;
      case 'heal':
        this.network.heal();
        return;
      case 'conf':
        return this.proposeConf(e.node, e.ops, e.joint);
      case 'leave': {
        const n = this.nodes.get(e.node);
        if (!n?.running || n.app.confState.votersOutgoing.length === 0) return;
        this.propose(() => n.core.proposeConfChange(ConfChangeV2.create({ context: this.context('leave') })));
        return;
      }
      case 'transfer': {
        const n = this.nodes.get(e.node);
        if (n?.running) n.core.transferLeadership(BigInt(e.target));
        return;
      }
      case 'read': {
        const n = this.nodes.get(e.node);
        if (!n?.running) return;
        this.ghost.recordRead(e.ctx);
        n.core.readIndex(encoder.encode(e.ctx));
        return;
      }
      case 'compact':
        return this.compact(e.node, e.keep);
      case 'settle':
        return settle(this);
      case 'expect':
        return this.expect(e.node, e.field, e.value);
    }
  }

  /** A node may be restarted unless it applied its own removal (etcd refuses to start a removed member). */
  /** Makes a paused node run again (liveness heals every pause this way). */
  resumeNode(n: SimNode): void {
    if (n.up && n.paused) this.resume(n);
  }

  restartable(n: SimNode): boolean {
    return n.started && !this.ghost.removedSelf.has(n.id);
  }

  private context(tag: string): Uint8Array {
    this.proposals++;
    return encoder.encode(`${tag}${this.proposals}`);
  }

  private propose(f: () => void): void {
    try {
      f();
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.stats.proposalsDropped++;
      this.out?.lines.push(`error: ${err.message} (${err.reason})`);
    }
  }

  // ---- Ready cycle -------------------------------------------------------

  /**
   * `process N`: hands out a Ready unless some are outstanding, then writes
   * and applies every outstanding one, in order. Each step is observed on its
   * own, exactly as if written as separate events.
   */
  private process(id: number): void {
    const n = this.nodes.get(id);
    if (n === undefined) return;
    if (n.outstanding.length === 0) {
      this.handOut(id);
      this.observeAll();
    }
    while (n.running && n.outstanding.length > 0) {
      this.persist(id);
      this.observeAll();
      this.apply(id);
      if (n.outstanding.length > 0) this.observeAll();
    }
  }

  /**
   * `ready N`: the node hands out a Ready; nothing of it is durable yet. A
   * leader's messages leave now, as the server's RaftLoop sends them while the
   * write is under way: the write completes at `persist`, later, or never if
   * the node crashes first. Meanwhile the leader may hand out more Readies.
   */
  handOut(id: number): void {
    const n = this.nodes.get(id);
    if (!n?.running || !n.mayTakeReady || !n.core.hasReady()) return;
    const rd = n.core.ready();
    const st = n.core.status();
    const early = sendsBeforeWrite(rd, st.role, st, n.diskHard);
    n.outstanding.push({ rd, persisted: false, sent: early });
    this.checks.checkReady(n, rd);
    if (this.out !== undefined)
      for (const rs of rd.readStates)
        this.out.reads.push(`${n.id}: read ${decoder.decode(rs.requestCtx)} at ${rs.index}`);
    if (early) for (const m of rd.messages) this.send(n, m);
  }

  /** `persist N`: the oldest unwritten Ready's snapshot, entries and hard state are durable; then its messages leave, if they have not. */
  persist(id: number): void {
    const n = this.nodes.get(id);
    const out = n?.unpersisted;
    if (n === undefined || !n.running || out === undefined) return;
    const rd = out.rd;
    if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0) {
      const meta = rd.snapshot.metadata!;
      n.disk.applySnapshot(rd.snapshot);
      n.diskView.resetTo(meta.index, meta.term, App.snapshotChain(rd.snapshot.data).chain);
    }
    if (rd.entries.length > 0) {
      n.disk.append(rd.entries);
      n.diskView.append(rd.entries);
    }
    // As the server's RaftLoop: a hard state that only moves the commit index is
    // not written on its own (Raft learns the index again after a crash); it
    // goes down with the next write that must be synced.
    if (rd.hardState !== undefined && (rd.mustSync || rd.entries.length > 0 || rd.snapshot !== undefined)) {
      n.disk.setHardState(rd.hardState);
      n.diskHard = rd.hardState;
      this.ghost.recordPersistedHardState(n.id, rd.hardState.term, rd.hardState.vote, rd.hardState.commit);
    }
    out.persisted = true;
    if (out.sent) return;
    out.sent = true;
    for (const m of rd.messages) this.send(n, m);
  }

  private send(n: SimNode, m: Message): void {
    this.checks.checkSendable(n, m);
    const to = Number(m.to);
    // On the wire as bytes, as over NATS: nothing is shared between sender and receiver.
    const wire = Message.decode(Message.encode(m));
    if (m.type === MessageType.MsgSnap && n.appliedCursor >= n.app.applied) {
      // As etcd's server does (createMergedSnapshotMessage): the snapshot that
      // goes out is the application's state now, at its applied index and
      // configuration, not the older one in raft's storage. A member added
      // after that older snapshot would refuse it, not being in its ConfState.
      wire.snapshot = Snapshot.create({
        data: n.app.snapshotData(),
        metadata: SnapshotMetadata.create({
          index: n.app.applied,
          term: n.app.appliedTerm,
          confState: n.app.confState,
        }),
      });
    }
    const env: Envelope = {
      from: n.id,
      to,
      type: typeName(m.type),
      msg: wire,
      senderIncarnation: n.incarnation,
    };
    if (m.type === MessageType.MsgSnap) this.stats.snapshotsSent++;
    const lost = this.network.send(env);
    if (lost !== undefined) {
      this.stats.lost++;
      this.out?.lines.push(`${describeMessage(m)} (dropped)`);
      // etcd's transport tells raft when a peer cannot be reached or a snapshot failed to go out.
      n.core.reportUnreachable(m.to);
      if (m.type === MessageType.MsgSnap) n.core.reportSnapshot(m.to, 'failure');
    }
  }

  /** `apply N`: the application applies the oldest Ready's snapshot and committed entries (once it is written), then the node advances. */
  apply(id: number): void {
    const n = this.nodes.get(id);
    const out = n?.outstanding[0];
    if (n === undefined || !n.running || out === undefined || !out.persisted) return;
    const rd = out.rd;
    if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0) {
      const meta = rd.snapshot.metadata!;
      n.app.restore(rd.snapshot.data, meta.confState ?? ConfState.create());
      n.appliedCursor = meta.index;
      this.ghost.recordApplied(n.id, n.app.applied);
    }
    for (const e of rd.committedEntries) {
      const fresh = e.index > n.app.applied;
      if (fresh) {
        n.app.apply(e);
        if (n.app.chain !== this.ghost.committedChain(e.index))
          violation(
            'state-machine-safety',
            `node ${n.id} applied an entry at ${e.index} that differs from the committed one`,
          );
        this.ghost.recordApplied(n.id, n.app.applied);
      }
      if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2)
        this.applyConf(n, e);
      n.appliedCursor = e.index;
    }
    n.outstanding.shift();
    n.core.advance(rd);
  }

  private applyConf(n: SimNode, e: Entry): void {
    const cc = e.type === EntryType.EntryConfChange ? ConfChange.decode(e.data) : ConfChangeV2.decode(e.data);
    const before = n.app.confState;
    try {
      n.app.confState = n.core.applyConfChange(cc);
    } catch (err) {
      // The core refused a change it cannot apply; every member refuses it alike.
      if (!(err instanceof ConfChangeError)) throw err;
      return;
    }
    this.stats.confApplied++;
    for (const id of [
      ...before.voters,
      ...before.votersOutgoing,
      ...before.learners,
      ...before.learnersNext,
    ]) {
      if (!isMember(n.app.confState, id)) n.app.removed.add(Number(id));
    }
    if (isMember(before, n.bid) && !isMember(n.app.confState, n.bid)) this.ghost.removedSelf.add(n.id);
  }

  // ---- network -------------------------------------------------------------

  private network_(e: Extract<SimEvent, { kind: 'deliver' | 'drop' | 'dup' }>): void {
    const idx = this.network.find(e.from, e.to, e.type, e.nth);
    if (idx < 0) return;
    if (e.kind === 'dup') {
      const env = this.network.inFlight[idx] as Envelope;
      this.network.inFlight.push({ ...env, msg: Message.decode(Message.encode(env.msg)) });
      return;
    }
    // A stopped process reads nothing: the message waits on the wire.
    if (e.kind === 'deliver' && this.nodes.get(e.to)?.paused === true) return;
    const env = this.network.take(idx);
    if (e.kind === 'drop') this.lose(env);
    else this.deliver(env);
  }

  private lose(env: Envelope): void {
    this.stats.lost++;
    this.out?.lines.push(`${describeMessage(env.msg)} (dropped)`);
    this.reportSnapshot(env, 'failure');
  }

  deliver(env: Envelope): void {
    const target = this.nodes.get(env.to);
    // Refused: the receiver is down, the link is cut, or the sender was removed (etcd's ErrIDRemoved).
    if (
      target === undefined ||
      !target.up ||
      this.network.isCut(env.from, env.to) ||
      target.app.removed.has(env.from)
    ) {
      this.lose(env);
      return;
    }
    this.stats.delivered++;
    this.out?.lines.push(describeMessage(env.msg));
    try {
      target.core.step(env.msg);
    } catch (err) {
      // A response from a node the receiver no longer tracks is ignored, as etcd's node does.
      if (!(err instanceof StepPeerNotFoundError)) throw err;
    }
    this.reportSnapshot(env, 'finish');
  }

  /**
   * The sender's transport reports how a snapshot went. A paused sender hears
   * it when it resumes (the report is its own process's work; without it the
   * leader would wait in snapshot state for good). A crashed one never does.
   */
  private reportSnapshot(env: Envelope, status: 'finish' | 'failure'): void {
    if (env.msg.type !== MessageType.MsgSnap) return;
    const sender = this.nodes.get(env.from);
    if (sender === undefined || !sender.up || sender.incarnation !== env.senderIncarnation) return;
    if (sender.paused) sender.pendingSnapshotReports.push({ to: BigInt(env.to), status });
    else sender.core.reportSnapshot(BigInt(env.to), status);
  }

  private resume(n: SimNode): void {
    n.paused = false;
    const reports = n.pendingSnapshotReports.splice(0);
    for (const r of reports) n.core.reportSnapshot(r.to, r.status);
  }

  // ---- configuration and compaction -----------------------------------

  /**
   * Proposes a membership change after the checks etcd's server makes first
   * (ValidateConfigurationChange): IDs are never reused, the change must make
   * sense in the proposer's configuration, and a node being added is started.
   */
  private proposeConf(id: number, ops: ConfOp[], joint: 'none' | 'auto' | 'explicit'): void {
    const n = this.nodes.get(id);
    if (!n?.running) return;
    const cs = n.app.confState;
    const isJoint = cs.votersOutgoing.length > 0;
    if (isJoint || (joint === 'none' && ops.length !== 1)) return;
    const voters = new Set(cs.voters);
    const changes: ConfChangeSingle[] = [];
    for (const op of ops) {
      const target = this.nodes.get(op.id);
      const bid = BigInt(op.id);
      if (target === undefined || this.ghost.removedSelf.has(op.id) || n.app.removed.has(op.id)) return;
      switch (op.op) {
        case 'add':
          if (voters.has(bid) || cs.learners.includes(bid)) return;
          voters.add(bid);
          changes.push(ConfChangeSingle.create({ type: ConfChangeType.ConfChangeAddNode, nodeId: bid }));
          break;
        case 'promote':
          if (!cs.learners.includes(bid)) return;
          voters.add(bid);
          changes.push(ConfChangeSingle.create({ type: ConfChangeType.ConfChangeAddNode, nodeId: bid }));
          break;
        case 'learner':
          if (isMember(cs, bid)) return;
          changes.push(
            ConfChangeSingle.create({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: bid }),
          );
          break;
        case 'remove':
          if (!isMember(cs, bid)) return;
          voters.delete(bid);
          changes.push(ConfChangeSingle.create({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: bid }));
          break;
      }
    }
    if (voters.size === 0) return;
    for (const op of ops) {
      const target = this.nodes.get(op.id);
      if ((op.op === 'add' || op.op === 'learner') && target !== undefined && !target.started)
        target.boot(this.config);
    }
    const context = this.context('c');
    if (joint === 'none') {
      const c = changes[0] as ConfChangeSingle;
      this.propose(() =>
        n.core.proposeConfChange(ConfChange.create({ type: c.type, nodeId: c.nodeId, context })),
      );
    } else {
      const transition =
        joint === 'explicit'
          ? ConfChangeTransition.ConfChangeTransitionJointExplicit
          : ConfChangeTransition.ConfChangeTransitionJointImplicit;
      this.propose(() => n.core.proposeConfChange(ConfChangeV2.create({ transition, changes, context })));
    }
  }

  /** `compact N keep K`: snapshot the applied state, then drop the log up to K entries before it. */
  private compact(id: number, keep: number): void {
    const n = this.nodes.get(id);
    if (n === undefined || !n.up) return;
    // Only once the configuration is known at the applied index (not while re-applying after a restart).
    if (n.appliedCursor < n.app.applied) return;
    if (n.app.applied > (n.disk.snapshot().metadata?.index ?? 0)) {
      // As the server's snapshot does: the disk's commit index may lag (a newer one
      // alone is not written), and a snapshot must not pass it.
      if (n.diskHard.commit < n.app.applied) {
        n.diskHard = HardState.create({ ...n.diskHard, commit: n.app.applied });
        n.disk.setHardState(n.diskHard);
        this.ghost.recordPersistedHardState(n.id, n.diskHard.term, n.diskHard.vote, n.diskHard.commit);
      }
      n.disk.createSnapshot(n.app.applied, n.app.confState, n.app.snapshotData());
    }
    const upTo = n.app.applied - keep;
    if (upTo > n.disk.firstIndex() - 1) n.disk.compact(upTo);
  }

  // ---- observation after every event --------------------------------------

  observeAll(): void {
    for (const n of this.nodes.values()) if (n.up) this.checks.observe(n);
  }

  // ---- liveness ------------------------------------------------------------

  describe(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      if (!n.started) continue;
      if (!n.up) {
        parts.push(`${n.id}:down`);
        continue;
      }
      const st = n.core.status();
      parts.push(
        `${n.id}:${st.role}${n.paused ? '(paused)' : ''} t${st.term} lead ${st.lead} commit ${st.commit} last ${n.memView.lastIndex} applied ${n.app.applied}`,
      );
    }
    return parts.join('; ');
  }

  // ---- what scripts print and expect ----------------------------------------

  /** `status [ids]`: each node's role, term, vote, lead, commit, applied, and its last persisted entry. */
  private printStatus(ids: number[]): void {
    const nodes = ids.length > 0 ? ids.map((id) => this.nodes.get(id)) : [...this.nodes.values()];
    for (const n of nodes) {
      if (n === undefined || !n.started) continue;
      if (!n.up) {
        this.out?.lines.push(`${n.id}: down`);
        continue;
      }
      const st = n.core.status();
      const last = n.disk.lastIndex();
      this.out?.lines.push(
        `${n.id}: ${st.role} term=${st.term} vote=${st.vote} lead=${st.lead} commit=${st.commit} applied=${st.applied} last=${last}/${n.disk.term(last)}`,
      );
    }
  }

  /** `log N`: the persisted log as index/term. */
  private printLog(id: number): void {
    const n = this.nodes.get(id);
    if (n === undefined) return;
    const out: string[] = [];
    for (let i = n.disk.firstIndex(); i <= n.disk.lastIndex(); i++) out.push(`${i}/${n.disk.term(i)}`);
    this.out?.lines.push(out.join(' ') || '(empty)');
  }

  private expect(id: number, field: string, value: string): void {
    const n = this.nodes.get(id);
    let actual: string;
    if (n === undefined || !n.up) actual = 'down';
    else {
      const st = n.core.status();
      actual =
        field === 'role'
          ? st.role
          : field === 'term'
            ? String(st.term)
            : field === 'commit'
              ? String(st.commit)
              : field === 'lead'
                ? String(st.lead)
                : String(n.app.applied);
    }
    if (actual !== value) violation('expectation', `expected node ${id} ${field} ${value}, got ${actual}`);
  }
}
