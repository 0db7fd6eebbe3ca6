import { MessageType, type Message } from '../../src/proto/raftpb.js';
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
    default:
      throw new RangeError(`unknown injected bug "${bug}"`);
  }
}
