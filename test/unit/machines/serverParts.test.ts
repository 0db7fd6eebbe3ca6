import { describe, expect, it } from 'vitest';
import { createActor, fromCallback } from 'xstate';
import { serverPartsMachine, type ServerPartsEvent } from '../../../machines/serverParts.js';

/** Provides every part with a callback actor that records when it runs. */
function withParts() {
  const running = new Set<string>();
  const part = (name: string) =>
    fromCallback<ServerPartsEvent>(() => {
      running.add(name);
      return () => running.delete(name);
    });
  const machine = serverPartsMachine.provide({
    actors: {
      raftLoop: part('raftLoop'),
      readLoop: part('readLoop'),
      leaseExpiry: part('leaseExpiry'),
      autoCompactor: part('autoCompactor'),
      quotaGuard: part('quotaGuard'),
      corruptionCheck: part('corruptionCheck'),
    },
  });
  return { machine, running };
}

describe('etcd server parts chart', () => {
  it('runs leader-only parts exactly while this member leads', () => {
    const { machine, running } = withParts();
    const actor = createActor(machine).start();
    expect([...running].sort()).toEqual(['raftLoop', 'readLoop']);
    actor.send({ type: 'LEADER_ELECTED' });
    expect([...running].sort()).toEqual([
      'autoCompactor',
      'corruptionCheck',
      'leaseExpiry',
      'quotaGuard',
      'raftLoop',
      'readLoop',
    ]);
    actor.send({ type: 'LEADERSHIP_LOST' });
    // Losing leadership stops lease expiry at once: an old leader never revokes leases.
    expect([...running].sort()).toEqual(['raftLoop', 'readLoop']);
    actor.send({ type: 'STOP' });
    expect(running.size).toBe(0);
    expect(actor.getSnapshot().value).toBe('stopped');
  });

  it('fails with the reason a part reports, stopping every part', () => {
    const { machine, running } = withParts();
    const actor = createActor(machine).start();
    actor.send({ type: 'LEADER_ELECTED' });
    actor.send({ type: 'FATAL', reason: 'raft log write failed: disk full' });
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.failure).toBe('raft log write failed: disk full');
    expect(running.size).toBe(0);
  });

  it('fails at once when a part was not provided', () => {
    const actor = createActor(serverPartsMachine).start();
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.failure).toContain("server part 'raftLoop' has no implementation");
  });
});
