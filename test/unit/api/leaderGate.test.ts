// Requests that carry hasleader=true (clientv3's WithRequireLeader): refused
// without a leader, and their streams cancelled once the member has been
// without one for three election timeouts.
import { Metadata } from '@grpc/grpc-js';
import { BehaviorSubject, NEVER, Subject, firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { leaderGate, needingLeader, requiresLeader } from '../../../src/api/leaderGate.js';
import { ErrNoLeader } from '../../../src/server/errors.js';

function member(lead: bigint) {
  const changes = new BehaviorSubject(lead);
  return {
    get leader() {
      return changes.value;
    },
    leaderChanged$: changes.asObservable(),
    set: (l: bigint) => changes.next(l),
  };
}

describe('leader gate', () => {
  it('reads hasleader=true from the metadata, and nothing else', () => {
    const md = new Metadata();
    expect(requiresLeader(md)).toBe(false);
    md.set('hasleader', 'true');
    expect(requiresLeader(md)).toBe(true);
    expect(requiresLeader(undefined)).toBe(false);
  });

  it('refuses a stream at once when the member has no leader', async () => {
    const gate = leaderGate(member(0n), 50);
    await expect(firstValueFrom(needingLeader(NEVER, gate))).rejects.toBe(ErrNoLeader);
  });

  it('cancels a stream after three election timeouts without a leader, not after a short loss', async () => {
    const m = member(7n);
    const gate = leaderGate(m, 40);
    const responses = new Subject<number>();
    const seen: number[] = [];
    const done = firstValueFrom(needingLeader(responses, gate).pipe(toArray())).catch((err: unknown) => {
      seen.push(-1);
      return err;
    });
    responses.next(1);
    m.set(0n);
    await new Promise((r) => setTimeout(r, 60));
    m.set(8n);
    responses.next(2);
    await new Promise((r) => setTimeout(r, 150));
    expect(seen).toEqual([]);
    m.set(0n);
    expect(await done).toBe(ErrNoLeader);
  });

  it('passes the responses through untouched without a gate', async () => {
    const responses = new Subject<number>();
    const all = firstValueFrom(needingLeader(responses, undefined).pipe(toArray()));
    responses.next(1);
    responses.complete();
    expect(await all).toEqual([1]);
  });
});
