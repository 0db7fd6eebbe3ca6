import { describe, expect, it } from 'vitest';
import { MessageType, type Message } from '../../../src/proto/raftpb.js';
import { Cluster, enc } from './cluster.js';
import { msg, singleNode } from './single.js';

const { MsgApp, MsgAppResp, MsgSnap } = MessageType;

/** The leader snapshots its application at `index` and compacts its log up to it. */
function compactLeader(c: Cluster, id: bigint, index: number): void {
  const n = c.node(id);
  n.storage.createSnapshot(index, n.confState.voters.length ? n.confState : undefined, enc(`app@${index}`));
  n.storage.compact(index);
}

describe('A17 snapshot catch-up after log compaction', () => {
  for (const where of ['before the last index', 'at the last index'] as const) {
    it(`node 3 rejects the probe, installs a snapshot taken ${where}, and returns to replicate`, () => {
      const c = new Cluster([1n, 2n, 3n], { maxInflightMsgs: 2 });
      c.elect(1n);
      c.cut.add('1->3');
      for (let i = 0; i < 10; i++) {
        c.raft(1n).propose(enc(`e${i}`));
        c.stabilize();
      }
      const last = c.node(1n).storage.lastIndex();
      expect(c.raft(1n).status().commit).toBe(last);
      compactLeader(c, 1n, where === 'at the last index' ? last : last - 3);
      c.heal();
      const seen: Message[] = [];
      for (let i = 0; i < 5; i++) {
        c.raft(1n).tick();
        c.stabilize((m) => {
          seen.push(m);
          return true;
        });
      }
      expect(seen.filter((m) => m.type === MsgSnap && m.to === 3n).length).toBe(1);
      expect(c.raft(1n).status().progress!.get(3n)).toMatchObject({ state: 'replicate', match: last });
      expect(c.node(3n).storage.snapshot().metadata!.index).toBe(
        where === 'at the last index' ? last : last - 3,
      );
      for (const id of [2n, 3n]) {
        expect(c.raft(id).status().applied).toBe(last);
        expect(c.node(id).storage.lastIndex()).toBe(last);
        expect(c.node(id).storage.term(last)).toBe(c.node(1n).storage.term(last));
      }
      // Replication continues normally afterwards.
      c.raft(1n).propose(enc('after'));
      c.stabilize();
      expect(c.raft(3n).status().commit).toBe(last + 1);
    });
  }

  it('the lagging follower first rejects a probe for a gap, then gets the snapshot', () => {
    const c = new Cluster([1n, 2n, 3n], { maxInflightMsgs: 2, maxSizePerMsg: 1 });
    c.elect(1n);
    c.cut.add('1->3');
    for (let i = 0; i < 6; i++) {
      c.raft(1n).propose(enc(`e${i}`));
      c.stabilize();
    }
    // Node 3 holds only index 1; the leader's window to it starts at 2 and 3 (both lost).
    compactLeader(c, 1n, 2);
    c.heal();
    const seen: Message[] = [];
    for (let i = 0; i < 5; i++) {
      c.raft(1n).tick();
      c.stabilize((m) => {
        seen.push(m);
        return true;
      });
    }
    const firstReject = seen.findIndex((m) => m.type === MsgAppResp && m.from === 3n && m.reject);
    const snap = seen.findIndex((m) => m.type === MsgSnap && m.to === 3n);
    expect(firstReject).toBeGreaterThanOrEqual(0);
    expect(snap).toBeGreaterThan(firstReject);
    expect(c.raft(3n).status().commit).toBe(c.raft(1n).status().commit);
  });

  it('a failed snapshot (reportSnapshot failure) is sent again after the follower answers', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.cut.add('1->3');
    for (let i = 0; i < 5; i++) c.raft(1n).propose(enc(`e${i}`));
    c.stabilize();
    compactLeader(c, 1n, c.raft(1n).status().commit);
    c.heal();
    c.dropTypes.add(MsgSnap);
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().progress!.get(3n)!.state).toBe('snapshot');
    c.raft(1n).reportSnapshot(3n, 'failure');
    expect(c.raft(1n).status().progress!.get(3n)).toMatchObject({ state: 'probe', pendingSnapshot: 0 });
    c.heal();
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().progress!.get(3n)!.state).toBe('replicate');
    expect(c.raft(3n).status().commit).toBe(c.raft(1n).status().commit);
  });

  it('reportSnapshot finish moves the follower to probe from the snapshot index', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.cut.add('1->3');
    for (let i = 0; i < 5; i++) c.raft(1n).propose(enc(`e${i}`));
    c.stabilize();
    const at = c.raft(1n).status().commit;
    compactLeader(c, 1n, at);
    c.heal();
    c.dropTypes.add(MsgSnap);
    c.raft(1n).tick();
    c.stabilize();
    c.raft(1n).reportSnapshot(3n, 'finish');
    expect(c.raft(1n).status().progress!.get(3n)).toMatchObject({ state: 'probe', next: at + 1 });
  });

  it('reportUnreachable moves a replicating follower to probe', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).propose(enc('x'));
    c.stabilize();
    expect(c.raft(1n).status().progress!.get(2n)!.state).toBe('replicate');
    c.raft(1n).reportUnreachable(2n);
    expect(c.raft(1n).status().progress!.get(2n)!.state).toBe('probe');
  });

  it.each([
    ['still holds that entry', 3, 0, 2],
    ['compacted its log past it', 10, 8, 5],
  ])(
    'a follower ignores a snapshot older than its commit index when it %s, and answers with its commit',
    (_, commit, compactAt, snapIndex) => {
      const n = singleNode(2n, [1n, 2n, 3n], {
        terms: Array<number>(commit).fill(1),
        hardState: { term: 1, commit },
      });
      if (compactAt > 0) n.storage.compact(compactAt);
      n.raft.step(
        msg({
          type: MsgSnap,
          from: 1n,
          to: 2n,
          term: 1,
          snapshot: {
            data: enc('old'),
            metadata: {
              index: snapIndex,
              term: 1,
              confState: {
                voters: [1n, 2n, 3n],
                learners: [],
                votersOutgoing: [],
                learnersNext: [],
                autoLeave: false,
              },
            },
          },
        }),
      );
      const rd = n.drain();
      expect(rd.snapshot).toBeUndefined();
      expect(rd.messages).toMatchObject([{ type: MsgAppResp, index: commit }]);
      expect(n.raft.status().commit).toBe(commit);
      expect(n.storage.lastIndex()).toBe(commit);
    },
  );

  it('a snapshot whose entry the follower already has only fast-forwards its commit', () => {
    const n = singleNode(2n, [1n, 2n, 3n], { terms: [1, 1, 1, 1], hardState: { term: 1, commit: 1 } });
    n.raft.step(
      msg({
        type: MsgSnap,
        from: 1n,
        to: 2n,
        term: 1,
        snapshot: {
          data: enc('s'),
          metadata: {
            index: 3,
            term: 1,
            confState: {
              voters: [1n, 2n, 3n],
              learners: [],
              votersOutgoing: [],
              learnersNext: [],
              autoLeave: false,
            },
          },
        },
      }),
    );
    const rd = n.drain();
    expect(rd.snapshot).toBeUndefined();
    expect(n.raft.status().commit).toBe(3);
    expect(n.storage.lastIndex()).toBe(4);
    // The answer vouches for the snapshot's index only: entry 4 may not be the leader's.
    expect(rd.messages).toMatchObject([{ type: MsgAppResp, index: 3 }]);
  });

  it('a snapshot that replaces entries not yet persisted takes their queued acks with them', () => {
    const n = singleNode(2n, [1n, 2n, 3n], { terms: [1, 1], hardState: { term: 2, commit: 1 } });
    // An append from the leader of term 2 (entries of term 1 and 2) queues its ack of index 4...
    n.raft.step(
      msg({
        type: MsgApp,
        from: 1n,
        to: 2n,
        term: 2,
        index: 2,
        logTerm: 1,
        entries: [
          { index: 3, term: 1, type: 0, data: new Uint8Array(0) },
          { index: 4, term: 2, type: 0, data: new Uint8Array(0) },
        ],
        commit: 1,
      }),
    );
    // ...and a snapshot at 6 (whose index 4 may differ: the log is replaced) arrives before the next Ready.
    n.raft.step(
      msg({
        type: MsgSnap,
        from: 1n,
        to: 2n,
        term: 2,
        snapshot: {
          data: enc('s'),
          metadata: {
            index: 6,
            term: 2,
            confState: {
              voters: [1n, 2n, 3n],
              learners: [],
              votersOutgoing: [],
              learnersNext: [],
              autoLeave: false,
            },
          },
        },
      }),
    );
    const rd = n.drain();
    expect(rd.snapshot?.metadata?.index).toBe(6);
    expect(rd.messages).toMatchObject([{ type: MsgAppResp, index: 6, reject: false }]);
    expect(rd.messages).toHaveLength(1);
  });

  it('a snapshot that does not list the node is ignored; the answer vouches for its commit only', () => {
    const n = singleNode(2n, [1n, 2n, 3n], { terms: [1, 1], hardState: { term: 1, commit: 1 } });
    n.raft.step(
      msg({
        type: MsgSnap,
        from: 1n,
        to: 2n,
        term: 1,
        snapshot: {
          data: enc('s'),
          metadata: {
            index: 5,
            term: 1,
            confState: {
              voters: [1n, 3n, 4n],
              learners: [],
              votersOutgoing: [],
              learnersNext: [],
              autoLeave: false,
            },
          },
        },
      }),
    );
    const rd = n.drain();
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messages).toMatchObject([{ type: MsgAppResp, index: 1 }]);
    expect(n.storage.lastIndex()).toBe(2);
  });

  it('a candidate receiving a snapshot of its term follows the sender and installs it; the config comes from the snapshot', () => {
    const n = singleNode(2n, [1n, 2n, 3n], { hardState: { term: 1 } });
    n.raft.campaign();
    n.drain();
    expect(n.raft.status()).toMatchObject({ role: 'candidate', term: 2 });
    n.raft.step(
      msg({
        type: MsgSnap,
        from: 1n,
        to: 2n,
        term: 2,
        snapshot: {
          data: enc('s'),
          metadata: {
            index: 7,
            term: 2,
            confState: {
              voters: [1n, 3n],
              learners: [2n],
              votersOutgoing: [],
              learnersNext: [],
              autoLeave: false,
            },
          },
        },
      }),
    );
    const rd = n.drain();
    expect(rd.snapshot?.metadata?.index).toBe(7);
    expect(rd.messages).toMatchObject([{ type: MsgAppResp, index: 7 }]);
    expect(n.raft.status()).toMatchObject({
      role: 'learner',
      lead: 1n,
      commit: 7,
      applied: 7,
      config: { learners: [2n] },
    });
    expect(n.raft.status().role).toBe('learner');
    // Entries after the snapshot follow.
    n.raft.step(
      msg({
        type: MsgApp,
        from: 1n,
        to: 2n,
        term: 2,
        index: 7,
        logTerm: 2,
        entries: [{ index: 8, term: 2, type: 0, data: enc('8') }],
        commit: 8,
      }),
    );
    n.drain();
    expect(n.drain().committedEntries.map((e) => e.index)).toEqual([8]);
  });
});
