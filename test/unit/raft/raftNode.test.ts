import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/proto/raftpb.js';
import { RaftConfigError, RaftInvariantError, StepLocalMsgError } from '../../../src/raft/errors.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import { seededRandom } from '../../../src/raft/rng.js';
import { Cluster, enc } from './cluster.js';
import { msg, singleNode } from './single.js';

describe('RaftNode', () => {
  it('refuses local message types from peers', () => {
    const n = singleNode(1n, [1n, 2n]);
    for (const type of [
      MessageType.MsgHup,
      MessageType.MsgBeat,
      MessageType.MsgUnreachable,
      MessageType.MsgSnapStatus,
      MessageType.MsgCheckQuorum,
    ]) {
      expect(() => n.raft.step(msg({ type, from: 2n, to: 1n }))).toThrow(StepLocalMsgError);
    }
  });

  it('validates its configuration', () => {
    const storage = new MemoryStorage();
    const base = { storage, random: seededRandom(1), electionTick: 10, heartbeatTick: 1 };
    expect(() => new RaftNode({ ...base, id: 0n })).toThrow(RaftConfigError);
    expect(() => new RaftNode({ ...base, id: 1n, electionTick: 1 })).toThrow(
      'election tick must be greater than heartbeat tick',
    );
    expect(() => new RaftNode({ ...base, id: 1n, readOnlyOption: 'leaseBased' })).toThrow(
      'CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased',
    );
  });

  it('bootstrap only writes into empty storage', () => {
    const s = new MemoryStorage();
    RaftNode.bootstrap(s, [1n, 2n, 3n]);
    expect(s.initialState().confState.voters).toEqual([1n, 2n, 3n]);
    s.append([{ index: 1, term: 1, type: 0, data: new Uint8Array() }]);
    expect(() => RaftNode.bootstrap(s, [1n])).toThrow(RaftInvariantError);
    expect(() => RaftNode.bootstrap(new MemoryStorage(), [])).toThrow(RaftInvariantError);
  });

  it('emits leader changes, ready signals and read states as observables', () => {
    const c = new Cluster([1n, 2n, 3n]);
    const leads: Array<{ lead: bigint; term: number }> = [];
    let readies = 0;
    c.raft(2n).leaderChanged$.subscribe((l) => leads.push(l));
    c.raft(1n).ready$.subscribe(() => readies++);
    c.elect(1n);
    expect(leads).toEqual([{ lead: 1n, term: 1 }]);
    expect(readies).toBeGreaterThan(0);
    c.elect(2n);
    expect(leads.at(-1)).toEqual({ lead: 2n, term: 2 });
  });

  it('ready/advance: soft state on role changes, hard state on term/vote/commit changes, mustSync only when durable state changed', () => {
    const n = singleNode(1n, [1n]);
    expect(n.raft.hasReady()).toBe(false);
    n.raft.campaign();
    const rd = n.raft.ready();
    expect(rd.softState).toEqual({ lead: 1n, role: 'leader' });
    expect(rd.hardState).toEqual({ term: 1, vote: 1n, commit: 0 });
    expect(rd.mustSync).toBe(true);
    n.storage.append(rd.entries);
    n.storage.setHardState(rd.hardState!);
    n.raft.advance(rd);
    const rd2 = n.raft.ready();
    expect(rd2.softState).toBeUndefined();
    expect(rd2.hardState).toEqual({ term: 1, vote: 1n, commit: 1 });
    expect(rd2.mustSync).toBe(false);
    n.raft.advance(rd2);
    expect(n.raft.hasReady()).toBe(false);
  });

  it('a second ready() before advance() hands out only what is new', () => {
    const n = singleNode(1n, [1n]);
    n.raft.campaign();
    n.drain();
    n.drain();
    n.raft.propose(enc('a'));
    const rd1 = n.raft.ready();
    n.raft.propose(enc('b'));
    const rd2 = n.raft.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([2]);
    expect(rd2.entries.map((e) => e.index)).toEqual([3]);
    n.storage.append(rd1.entries);
    n.raft.advance(rd1);
    n.storage.append(rd2.entries);
    n.raft.advance(rd2);
    expect(n.drain().committedEntries.map((e) => e.index)).toEqual([2, 3]);
  });

  it('restarts from storage with the applied index, not re-handing applied entries', () => {
    const n = singleNode(1n, [1n]);
    n.raft.campaign();
    n.drain();
    n.raft.propose(enc('x'));
    n.drain();
    n.drain();
    expect(n.raft.status()).toMatchObject({ commit: 2, applied: 2 });
    const again = new RaftNode({
      id: 1n,
      storage: n.storage,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(2),
      applied: 1,
    });
    expect(again.status()).toMatchObject({ role: 'follower', term: 1, commit: 2, applied: 1 });
    expect(again.ready().committedEntries.map((e) => e.index)).toEqual([2]);
  });

  it('status shows progress only on the leader, and the role the chart is in', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    expect(c.raft(1n).status().progress?.size).toBe(3);
    expect(c.raft(2n).status().progress).toBeUndefined();
    for (const id of [1n, 2n, 3n]) expect(c.raft(id).status().role).toBe(id === 1n ? 'leader' : 'follower');
  });

  it('exposes the role machine to an inspector', () => {
    const seen: string[] = [];
    const storage = new MemoryStorage();
    RaftNode.bootstrap(storage, [1n]);
    const n = new RaftNode({
      id: 1n,
      storage,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(3),
      inspect: (ev) => {
        if (ev.type === '@xstate.event') seen.push((ev as { event: { type: string } }).event.type);
      },
    });
    n.campaign();
    expect(seen).toContain('CAMPAIGN');
    expect(n.status().role).toBe('leader');
  });

  it('the machine context serializes to a small summary (term, vote, lead, counters), IDs as hex', () => {
    const storage = new MemoryStorage();
    RaftNode.bootstrap(storage, [0xabcn]);
    let snapshotJson = '';
    const n = new RaftNode({
      id: 0xabcn,
      storage,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(3),
      inspect: (ev) => {
        if (ev.type === '@xstate.snapshot') snapshotJson = JSON.stringify(ev.snapshot);
      },
    });
    n.campaign();
    const snapshot = JSON.parse(snapshotJson);
    expect(snapshot.context.raft).toMatchObject({ id: 'abc', term: 1, vote: 'abc', lead: 'abc' });
    // The role is the chart's state, beside the context.
    expect(snapshot.value).toBe('leader');
  });
});
