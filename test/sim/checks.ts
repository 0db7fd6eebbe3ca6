import { type ConfState, type Entry, EntryType, type Message, MessageType } from '../../src/proto/raftpb.js';
import type { Ready } from '../../src/raft/ready.js';
import { App } from './app.js';
import { hasQuorum, isVoter } from './ghost.js';
import { typeName } from './network.js';
import type { SimNode } from './node.js';
import type { Simulator } from './simulator.js';
import { violation } from './violation.js';

const decoder = new TextDecoder();

/** Message types a node may send before persisting anything (they promise nothing durable). */
const UNPERSISTED_TERM_OK = new Set<MessageType>([MessageType.MsgPreVote, MessageType.MsgPreVoteResp]);

/**
 * The per-event checks of testing-scenarios.md §5 that look at one node: what
 * it hands out in a Ready, what it sends, and how its role, term and commit
 * move. Whole-run memory lives in the Ghost; this compares a node against it.
 */
export class Checks {
  private readonly sim: Simulator;

  constructor(sim: Simulator) {
    this.sim = sim;
  }

  checkReady(n: SimNode, rd: Ready): void {
    const st = n.core.status();
    const wasLeader = n.observed?.role === 'leader' && n.observed.term === st.term;
    if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0) {
      const meta = rd.snapshot.metadata!;
      const body = App.snapshotChain(rd.snapshot.data);
      if (body.applied !== meta.index)
        violation(
          'snapshot-safety',
          `node ${n.id} got a snapshot at ${meta.index} holding state applied to ${body.applied}`,
        );
      const committed = this.sim.ghost.committedChain(meta.index);
      if (committed === undefined || committed !== body.chain)
        violation(
          'snapshot-safety',
          `node ${n.id} got a snapshot at ${meta.index} that is not the committed state there`,
        );
      if (meta.index < n.knownCommit)
        violation(
          'snapshot-safety',
          `node ${n.id} got a snapshot at ${meta.index} below its commit ${n.knownCommit}`,
        );
      n.memView.resetTo(meta.index, meta.term, body.chain);
      n.handedCursor = meta.index;
    }
    if (rd.entries.length > 0) {
      let removedFrom: number | undefined;
      try {
        removedFrom = n.memView.append(rd.entries);
      } catch (err) {
        violation(
          'log-matching',
          `node ${n.id} handed out entries that do not fit its log: ${(err as Error).message}`,
        );
      }
      if (removedFrom !== undefined) {
        this.sim.stats.truncations++;
        if (removedFrom <= n.knownCommit)
          violation(
            'state-machine-safety',
            `node ${n.id} overwrote committed entry ${removedFrom} (commit ${n.knownCommit})`,
          );
        if (wasLeader)
          violation(
            'leader-append-only',
            `leader ${n.id} of term ${st.term} rewrote its log from index ${removedFrom}`,
          );
      }
      this.sim.ghost.recordEntries(n.id, n.memView, (rd.entries[0] as Entry).index);
    }
    if (rd.hardState !== undefined) {
      const hs = rd.hardState;
      if (hs.commit < n.knownCommit)
        violation('monotonic-commit', `node ${n.id} handed out commit ${hs.commit} after ${n.knownCommit}`);
      this.sim.ghost.observeCommit(n.id, n.memView, hs.commit, hs.term);
      n.knownCommit = hs.commit;
      if (hs.commit > this.sim.stats.maxCommit) this.sim.stats.maxCommit = hs.commit;
    }
    let next = n.handedCursor + 1;
    for (const e of rd.committedEntries) {
      if (e.index !== next)
        violation(
          'state-machine-safety',
          `node ${n.id} handed out committed entry ${e.index}, expected ${next}`,
        );
      if (e.index > n.knownCommit)
        violation(
          'state-machine-safety',
          `node ${n.id} handed out entry ${e.index} to apply beyond its commit ${n.knownCommit}`,
        );
      if (n.memView.chain(e.index) !== this.sim.ghost.committedChain(e.index))
        violation(
          'state-machine-safety',
          `node ${n.id} would apply an entry at ${e.index} that differs from the committed one`,
        );
      next++;
    }
    n.handedCursor = next - 1;
    if (st.role === 'leader') {
      this.sim.ghost.checkLeaderCompleteness(n.id, st.term, n.memView, n.observed?.leaderFloor ?? 0);
      this.checkConfEntries(n, rd.entries, st.term);
    }
    for (const rs of rd.readStates) {
      this.sim.stats.readsReleased++;
      const ctx = decoder.decode(rs.requestCtx);
      if (this.sim.config.unchecked !== 'read-freshness') this.sim.ghost.checkReadState(n.id, ctx, rs.index);
      // A lone voter answers at once, as etcd's does: nobody else can have committed anything.
      const alone = st.config.voters.length === 1 && st.config.votersOutgoing.length === 0;
      if (wasLeader && !alone && n.memView.term(st.commit) !== st.term)
        violation(
          'read-index-safety',
          `leader ${n.id} released a read before committing an entry of its term ${st.term}`,
        );
    }
  }

  /**
   * One configuration change pending at a time, and a new leader proposes
   * none before everything from earlier terms in its log is applied (etcd's
   * pendingConfIndex, set to the last index when a leader takes over).
   */
  private checkConfEntries(n: SimNode, entries: readonly Entry[], term: number): void {
    for (const e of entries) {
      if (e.term !== term || (e.type !== EntryType.EntryConfChange && e.type !== EntryType.EntryConfChangeV2))
        continue;
      for (let i = e.index - 1; i > n.appliedCursor; i--) {
        const t = n.memView.type(i);
        if (t === EntryType.EntryConfChange || t === EntryType.EntryConfChangeV2)
          violation(
            'config-one-pending',
            `leader ${n.id} appended a configuration change at ${e.index} while the one at ${i} is not applied`,
          );
        if ((n.memView.term(i) as number) < term)
          violation(
            'config-new-leader',
            `leader ${n.id} of term ${term} appended a configuration change at ${e.index} before applying entry ${i} of an earlier term`,
          );
      }
    }
  }

  /** Nothing a message promises may be missing from the sender's disk. */
  checkSendable(n: SimNode, m: Message): void {
    const what = `node ${n.id} sent ${typeName(m.type)} (term ${m.term})`;
    if (!UNPERSISTED_TERM_OK.has(m.type) && m.term > n.diskHard.term)
      violation(
        'persist-before-send',
        `${what} before persisting term ${m.term} (disk has ${n.diskHard.term})`,
      );
    if (m.type === MessageType.MsgVoteResp && !m.reject) {
      // The grant must be durable, or made moot by a later term on disk (the node can no longer vote in m.term).
      if (n.diskHard.term < m.term || (n.diskHard.term === m.term && n.diskHard.vote !== m.to))
        violation(
          'persist-before-send',
          `${what} granting a vote to ${m.to} not on disk (disk: term ${n.diskHard.term}, vote ${n.diskHard.vote})`,
        );
      this.sim.ghost.recordVote(n.id, m.term, m.to);
    }
    if (m.type === MessageType.MsgAppResp && !m.reject && m.index > n.diskView.snapIndex) {
      // An ack in term t says "my disk holds the log of t's leader up to index": so the entry there
      // must be on disk, and cannot come from a later term than t.
      const t = n.diskView.term(m.index);
      if (t === undefined)
        violation(
          'persist-before-send',
          `${what} acknowledging index ${m.index} beyond its persisted log ${n.diskView.lastIndex}`,
        );
      if (t > m.term)
        violation(
          'persist-before-send',
          `${what} acknowledging index ${m.index}, but its disk holds an entry of term ${t} there`,
        );
    }
  }

  observe(n: SimNode): void {
    const st = n.core.status();
    const prev = n.observed;
    if (prev === undefined) {
      const pt = this.sim.ghost.persistedTerm.get(n.id) ?? 0;
      if (st.term < pt)
        violation(
          'monotonic-term',
          `node ${n.id} restarted at term ${st.term}, below its persisted term ${pt}`,
        );
    } else {
      if (st.term < prev.term)
        violation('monotonic-term', `node ${n.id} went from term ${prev.term} back to ${st.term}`);
      if (st.commit < prev.commit)
        violation('monotonic-commit', `node ${n.id} went from commit ${prev.commit} back to ${st.commit}`);
      if (st.term === prev.term && prev.vote !== 0n && st.vote !== prev.vote)
        violation(
          'vote-durability',
          `node ${n.id} changed its vote in term ${st.term} from ${prev.vote} to ${st.vote}`,
        );
    }
    if (st.role === 'leader') {
      // Leadership counts once it can be seen outside the node: its term is on disk.
      if (n.diskHard.term === st.term && this.sim.ghost.recordLeader(n.id, st.term))
        this.onNewLeader(n, st.term, st.config);
      if (
        this.sim.config.unchecked !== 'commit-rule' &&
        prev !== undefined &&
        prev.role === 'leader' &&
        prev.term === st.term &&
        st.commit > prev.commit
      )
        this.checkCommitRule(n, st.term, st.commit, st.config);
    }
    const stillLeader = prev !== undefined && prev.role === 'leader' && prev.term === st.term;
    const leaderFloor =
      st.role !== 'leader' ? 0 : stillLeader ? prev.leaderFloor : this.sim.ghost.commitFloorBelow(st.term);
    n.observed = { term: st.term, commit: st.commit, role: st.role, vote: st.vote, leaderFloor };
  }

  /** The configuration checked against is the core's own (it may run ahead of the application's after a snapshot). */
  private onNewLeader(n: SimNode, term: number, cs: ConfState): void {
    this.sim.stats.leaderTerms++;
    if (this.sim.ghost.removedSelf.has(n.id) || !isVoter(cs, n.bid))
      violation(
        'removed-never-leads',
        `node ${n.id} became leader of term ${term} but is not a voter in its configuration`,
      );
    const votes = this.sim.ghost.votesFor(term, n.bid);
    votes.add(n.bid);
    if (!hasQuorum(cs, (id) => votes.has(id)))
      violation(
        'vote-quorum',
        `node ${n.id} leads term ${term} with votes from ${[...votes].join(',')} only, no quorum of its configuration`,
      );
  }

  /**
   * The commit rule: a leader moves its commit to c only for an entry of its
   * own term that a quorum of its configuration holds on disk (its own disk
   * included, so an entry it has not persisted cannot count for it).
   */
  private checkCommitRule(n: SimNode, term: number, c: number, cs: ConfState): void {
    const t = n.memView.term(c);
    if (t !== term)
      violation(
        'commit-rule',
        `leader ${n.id} of term ${term} advanced its commit to ${c}, an entry of term ${t ?? 'unknown'} (not its own)`,
      );
    const chain = n.memView.chain(c);
    const holds = (id: bigint): boolean => {
      const peer = this.sim.nodes.get(Number(id));
      if (peer === undefined) return false;
      if (peer.diskView.snapIndex >= c) return true;
      return peer.diskView.chain(c) === chain;
    };
    if (!hasQuorum(cs, holds))
      violation(
        'commit-rule',
        `leader ${n.id} of term ${term} committed ${c} without a quorum holding it on disk`,
      );
  }
}
