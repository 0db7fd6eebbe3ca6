/**
 * etcd's answer to clients that need a leader (clientv3's WithRequireLeader
 * sends gRPC metadata hasleader=true, as etcdctl's watch does): while the
 * member has no leader such requests are refused with "etcdserver: no
 * leader", and such streams are cancelled once the member has been without a
 * leader for three election timeouts (etcd's monitorLeader), so a client
 * watching a partitioned member moves to another.
 */
import type { Metadata } from '@grpc/grpc-js';
import { EMPTY, defer, map, merge, switchMap, throwError, timer, type Observable } from 'rxjs';
import { ErrNoLeader } from '../server/errors.js';

export interface LeaderGate {
  hasLeader(): boolean;
  /** Emits each time the member has gone long enough without a leader. */
  readonly lost$: Observable<void>;
}

/** etcd's maxNoLeaderCnt: election timeouts without a leader before streams are cancelled. */
const NO_LEADER_TIMEOUTS = 3;

export function leaderGate(
  member: { readonly leader: bigint; readonly leaderChanged$: Observable<bigint> },
  electionMs: number,
): LeaderGate {
  return {
    hasLeader: () => member.leader !== 0n,
    lost$: member.leaderChanged$.pipe(
      switchMap((lead) => (lead === 0n ? timer(NO_LEADER_TIMEOUTS * electionMs) : EMPTY)),
      map(() => undefined),
    ),
  };
}

/** The request carries hasleader=true. */
export function requiresLeader(metadata: Metadata | undefined): boolean {
  return metadata?.get('hasleader')[0] === 'true';
}

/**
 * A stream's responses, for a client that needs a leader: refused at once
 * without one, and cancelled with "etcdserver: no leader" when the leader is
 * gone for good. Without a gate, the responses as they are.
 */
export function needingLeader<T>(responses$: Observable<T>, gate: LeaderGate | undefined): Observable<T> {
  if (gate === undefined) return responses$;
  return defer(() =>
    gate.hasLeader()
      ? merge(responses$, gate.lost$.pipe(switchMap(() => throwError(() => ErrNoLeader))))
      : throwError(() => ErrNoLeader),
  );
}
