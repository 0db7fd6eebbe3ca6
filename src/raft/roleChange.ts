// A change of role told the way an operator reads it: "follower → preCandidate
// on election timeout, term 7". The chart's own events are terse (TICK, STEP,
// MsgVoteResp); this names what they meant for the role.
import type { RaftRoleEvent } from '../../machines/raftRole.js';
import { MessageType } from '../proto/raftpb.js';
import { hex } from './ids.js';
import type { RaftRole } from './ready.js';

export interface RoleChange {
  readonly from: RaftRole;
  readonly to: RaftRole;
  /** What caused it, in words. */
  readonly cause: string;
  /** The term right after the change. */
  readonly term: number;
}

const campaigning = (role: RaftRole): boolean => role === 'preCandidate' || role === 'candidate';

/** Words for the input that moved the role from `from` to `to`. */
export function causeOf(event: RaftRoleEvent, { from, to }: { from: RaftRole; to: RaftRole }): string {
  switch (event.type) {
    case 'TICK':
      if (from === 'leader') return 'check quorum: no quorum active';
      return campaigning(to) ? 'election timeout' : 'tick';
    case 'CAMPAIGN':
      return event.transfer ? 'leadership transfer' : 'campaign';
    case 'CONFIG_CHANGED':
      return 'configuration change';
    default:
      if ('m' in event) {
        const what = MessageType[event.m.type];
        // A message of a higher term than ours is the commonest cause of
        // stepping down: say so, since the message type alone hides it.
        const higher = event.type === 'STEP' && !campaigning(to) ? ' of a higher term' : '';
        return event.m.from === 0n ? what : `${what}${higher} from ${hex(event.m.from)}`;
      }
      return event.type;
  }
}
