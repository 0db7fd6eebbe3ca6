import { MessageType, type Entry, type Message } from '../../src/proto/raftpb.js';
import { Election } from '../../src/raft/election.js';
import { NONE } from '../../src/raft/ids.js';
import { Replication } from '../../src/raft/replication.js';

/**
 * Known-bad changes to the core, to show that the simulation catches them.
 * Each is installed for the duration of one run by swapping one method of
 * the core's parts (the code behind the role chart's actions and guards), and
 * removed afterwards; src/ carries no test-only switch for it.
 */
export const BUGS: Readonly<Record<string, string>> = {
  'commit-previous-term':
    'the leader commits an entry of an earlier term by counting its replicas (Raft paper §5.4.2, Figure 8: a committed entry can then be overwritten)',
  'vote-ignores-log':
    "a voter grants its vote without checking that the candidate's log is at least as up to date as its own (§5.4.1)",
  'leader-counts-unpersisted':
    'the leader counts its own copy of an entry towards commit when it appends it, not once it is persisted (as if it acknowledged itself at append time): with its messages sent before its write, an entry can commit on a minority of disks',
};

/** Installs the named bug; returns the function that removes it. */
export function injectBug(bug: string | undefined): () => void {
  switch (bug) {
    case undefined:
      return () => {};
    case 'commit-previous-term': {
      const proto = Replication.prototype;
      const correct = proto.maybeCommit;
      proto.maybeCommit = function (this: Replication): boolean {
        // The broken rule: whatever a quorum holds is committed, whatever its term.
        const r = this.r;
        const index = r.prs.committed();
        return r.log.maybeCommit(index, r.log.termOrZero(index));
      };
      return () => {
        proto.maybeCommit = correct;
      };
    }
    case 'vote-ignores-log': {
      const proto = Election.prototype;
      const correct = proto.canGrantVote;
      proto.canGrantVote = function (this: Election, m: Message): boolean {
        const r = this.r;
        return r.vote === m.from || r.vote === NONE || (m.type === MessageType.MsgPreVote && m.term > r.term);
      };
      return () => {
        proto.canGrantVote = correct;
      };
    }
    case 'leader-counts-unpersisted': {
      const proto = Replication.prototype;
      const correct = proto.appendEntries;
      proto.appendEntries = function (this: Replication, src: readonly Entry[]): void {
        correct.call(this, src);
        this.r.prs.progress.get(this.r.id)?.maybeUpdate(this.r.log.lastIndex());
      };
      return () => {
        proto.appendEntries = correct;
      };
    }
    default:
      throw new RangeError(`unknown injected bug "${bug}"`);
  }
}
