import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfChangeV2,
} from '../../../src/proto/raftpb.js';
import { ConfChanger, restoreConfState } from '../../../src/raft/confchange.js';
import { ConfChangeError, ProposalDroppedError } from '../../../src/raft/errors.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { ProgressTracker } from '../../../src/raft/progressTracker.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import { seededRandom } from '../../../src/raft/rng.js';
import { Cluster, enc } from './cluster.js';
import { checkScriptFile, keyArgs, type Directive } from './datadriven.js';
import { msg } from './single.js';

const { ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeAddLearnerNode } = ConfChangeType;
const cc = (type: ConfChangeType, nodeId: bigint): ConfChange => ({
  type,
  nodeId,
  context: new Uint8Array(0),
  id: 0,
});
const ccv2 = (transition: ConfChangeTransition, changes: Array<[ConfChangeType, bigint]>): ConfChangeV2 => ({
  transition,
  changes: changes.map(([type, nodeId]) => ({ type, nodeId })),
  context: new Uint8Array(0),
});

/** Ticks and delivers until pred holds (at most n rounds). */
function until(c: Cluster, pred: () => boolean, n = 100, ids = [...c.nodes.keys()]): void {
  for (let i = 0; i < n && !pred(); i++) {
    for (const id of ids) c.raft(id).tick();
    c.stabilize();
  }
  expect(pred()).toBe(true);
}

describe('F55 learner then promote', () => {
  it('a learner receives the log, never counts, never campaigns; promoted, it is a follower and counts', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.addNode(4n, [1n, 2n, 3n]);
    c.raft(1n).proposeConfChange(cc(ConfChangeAddLearnerNode, 4n));
    until(c, () => c.raft(4n).status().role === 'learner');
    expect(c.raft(1n).status().config).toMatchObject({ voters: [1n, 2n, 3n], learners: [4n] });
    expect(c.node(4n).storage.lastIndex()).toBe(c.node(1n).storage.lastIndex());

    // Learners never count towards commit.
    c.isolate(2n);
    c.isolate(3n);
    const before = c.raft(1n).status().commit;
    c.raft(1n).propose(enc('x'));
    c.stabilize();
    expect(c.raft(4n).status().term).toBe(1);
    expect(c.node(4n).storage.lastIndex()).toBe(before + 1);
    expect(c.raft(1n).status().commit).toBe(before);
    // ...and never campaign.
    for (let i = 0; i < 50; i++) c.raft(4n).tick();
    c.raft(4n).campaign();
    expect(c.raft(4n).status().role).toBe('learner');
    expect(c.takeMessages().filter((m) => m.from === 4n && m.type === MessageType.MsgVote)).toEqual([]);
    c.heal();
    until(c, () => c.raft(1n).status().commit === before + 1, 20, [1n]);

    c.raft(1n).proposeConfChange(cc(ConfChangeAddNode, 4n));
    until(c, () => c.raft(4n).status().role === 'follower', 20, [1n]);
    expect(c.raft(1n).status().config).toMatchObject({ voters: [1n, 2n, 3n, 4n], learners: [] });
    // Quorum is now 3 of 4: the leader and node 4 alone cannot commit.
    c.isolate(2n);
    c.isolate(3n);
    const at = c.raft(1n).status().commit;
    c.raft(1n).propose(enc('y'));
    c.stabilize();
    expect(c.raft(1n).status().commit).toBe(at);
    c.cut.delete('2->1');
    c.cut.delete('1->2');
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().commit).toBe(at + 1);
  });

  it('a learner asked for its vote by a candidate that counts it as a voter votes', () => {
    const s = new MemoryStorage();
    RaftNode.bootstrap(s, [1n, 2n, 3n], [4n]);
    const n = new RaftNode({
      id: 4n,
      storage: s,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(4),
    });
    expect(n.status().role).toBe('learner');
    n.step(msg({ type: MessageType.MsgVote, from: 2n, to: 4n, term: 1 }));
    expect(n.ready().messages).toMatchObject([{ type: MessageType.MsgVoteResp, reject: false }]);
  });
});

describe('F56 remove a follower; quorum shrinks', () => {
  it('once the removal is applied, the leader alone commits what was pending', () => {
    const c = new Cluster([1n, 2n], { maxSizePerMsg: 1 });
    c.elect(1n);
    c.raft(1n).proposeConfChange(cc(ConfChangeRemoveNode, 2n));
    c.raft(1n).propose(enc('hello'));
    // Node 2 acknowledges the removal (index 2) but never "hello" (index 3).
    c.stabilize((m) => !(m.type === MessageType.MsgAppResp && m.from === 2n && m.index >= 3));
    expect(c.raft(1n).status().config.voters).toEqual([1n]);
    expect(c.raft(1n).status().commit).toBe(3);
    expect(c.node(1n).applied.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  it('the removed node neither campaigns nor counts', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).proposeConfChange(cc(ConfChangeRemoveNode, 3n));
    c.stabilize();
    c.raft(1n).tick();
    c.stabilize();
    expect(c.node(3n).confState.voters).toEqual([1n, 2n]);
    for (let i = 0; i < 50; i++) c.raft(3n).tick();
    c.raft(3n).campaign();
    expect(c.raft(3n).status()).toMatchObject({ role: 'follower', term: 1 });
    expect(c.takeMessages().filter((m) => m.from === 3n)).toEqual([]);
    expect(() =>
      c.raft(1n).step(msg({ type: MessageType.MsgAppResp, from: 3n, to: 1n, term: 1, index: 99 })),
    ).toThrow('raft: cannot step as peer not found');
  });
});

describe('F57 remove the leader', () => {
  it('without step-down: the removed leader no longer counts itself; "bar" needs both n2 and n3', () => {
    const c = new Cluster([1n, 2n, 3n], { maxSizePerMsg: 1, stepDownOnRemoval: false });
    c.elect(1n);
    c.raft(1n).proposeConfChange(cc(ConfChangeRemoveNode, 1n));
    c.raft(1n).propose(enc('bar'));
    // Under the old configuration n1 and n2 could commit "bar": hold every ack of it until the removal is applied.
    c.stabilize((m) => !(m.type === MessageType.MsgAppResp && m.index >= 3));
    expect(c.raft(1n).status()).toMatchObject({ role: 'leader', commit: 2, config: { voters: [2n, 3n] } });
    // n1's own copy no longer counts: n2's ack alone is not a quorum of {2, 3}.
    for (let i = 0; i < 3; i++) {
      c.raft(1n).tick();
      c.stabilize((m) => !(m.type === MessageType.MsgAppResp && m.from === 3n && m.index >= 3));
    }
    expect(c.raft(1n).status().progress!.get(2n)!.match).toBe(3);
    expect(c.raft(1n).status().commit).toBe(2);
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().commit).toBe(3);
    expect(() => c.raft(1n).propose(enc('more'))).toThrow(ProposalDroppedError);
  });

  it('with step-down: the removed leader becomes a follower that can neither propose nor campaign; n2 or n3 takes over', () => {
    const c = new Cluster([1n, 2n, 3n], { stepDownOnRemoval: true });
    c.elect(1n);
    c.raft(1n).proposeConfChange(cc(ConfChangeRemoveNode, 1n));
    c.stabilize();
    expect(c.raft(1n).status().role).toBe('follower');
    expect(() => c.raft(1n).propose(enc('x'))).toThrow(ProposalDroppedError);
    c.raft(1n).campaign();
    expect(c.raft(1n).status().role).toBe('follower');
    c.isolate(1n);
    let ticks = 0;
    while (c.leader() === undefined && ticks < 40) {
      for (const id of [2n, 3n]) c.raft(id).tick();
      c.stabilize();
      ticks++;
    }
    expect([2n, 3n]).toContain(c.leader());
    expect(ticks).toBeLessThanOrEqual(20);
  });
});

describe('F58 one change at a time; legal change shapes', () => {
  it('a second change proposed while one is pending becomes an empty entry', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).proposeConfChange(cc(ConfChangeAddLearnerNode, 4n));
    c.raft(1n).proposeConfChange(cc(ConfChangeAddLearnerNode, 5n));
    c.stabilize();
    const ents = c.node(1n).storage.entries(2, 4, Infinity);
    expect(ents.map((e) => e.type)).toEqual([EntryType.EntryConfChange, EntryType.EntryNormal]);
    expect(c.raft(1n).status().config.learners).toEqual([4n]);
    // Once applied, the next change is accepted.
    c.raft(1n).proposeConfChange(cc(ConfChangeAddLearnerNode, 5n));
    c.stabilize();
    expect(c.raft(1n).status().config.learners).toEqual([4n, 5n]);
  });

  it('a malformed conf change proposal becomes an empty entry instead of failing the leader', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).step(
      msg({
        type: MessageType.MsgProp,
        from: 2n,
        to: 1n,
        entries: [
          { term: 0, index: 0, type: EntryType.EntryConfChange, data: new Uint8Array([0xff, 0xff, 0xff]) },
        ],
      }),
    );
    c.stabilize();
    expect(c.node(1n).storage.entries(2, 3, Infinity)[0]!.type).toBe(EntryType.EntryNormal);
    expect(c.raft(1n).status().role).toBe('leader');
  });

  it('a node started without a configuration refuses to build one from conf changes (it needs a snapshot)', () => {
    const n = new RaftNode({
      id: 4n,
      storage: new MemoryStorage(),
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(4),
    });
    expect(() => n.applyConfChange(cc(ConfChangeAddNode, 4n))).toThrow(
      'cannot change an empty configuration',
    );
    for (let i = 0; i < 50; i++) n.tick();
    expect(n.status().role).toBe('follower');
  });

  function changer(voters: bigint[], outgoing: bigint[] = []): ConfChanger {
    const t = new ProgressTracker(10, Infinity);
    const r = restoreConfState(
      t,
      { voters, learners: [], votersOutgoing: outgoing, learnersNext: [], autoLeave: false },
      5,
    );
    t.switchTo(r.config, r.progress);
    return new ConfChanger(t, 5);
  }

  it('a simple change of more than one voter is refused', () => {
    expect(() =>
      changer([1n, 2n, 3n]).simple([
        { type: ConfChangeAddNode, nodeId: 4n },
        { type: ConfChangeAddNode, nodeId: 5n },
      ]),
    ).toThrow('more than one voter changed without entering joint config');
  });

  it('removing all voters is refused, and the node keeps its configuration', () => {
    const s = new MemoryStorage();
    RaftNode.bootstrap(s, [1n]);
    const n = new RaftNode({
      id: 1n,
      storage: s,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(1),
    });
    expect(() => n.applyConfChange(cc(ConfChangeRemoveNode, 1n))).toThrow(ConfChangeError);
    expect(() => n.applyConfChange(cc(ConfChangeRemoveNode, 1n))).toThrow('removed all voters');
    expect(n.status().config.voters).toEqual([1n]);
  });

  it('entering a joint config twice, or leaving one that is not joint, is refused', () => {
    expect(() =>
      changer([1n, 2n], [1n]).enterJoint(false, [{ type: ConfChangeAddNode, nodeId: 3n }]),
    ).toThrow('config is already joint');
    expect(() => changer([1n, 2n]).leaveJoint()).toThrow("can't leave a non-joint config");
    expect(() => changer([1n, 2n], [1n]).simple([{ type: ConfChangeAddNode, nodeId: 3n }])).toThrow(
      "can't apply simple config change in joint config",
    );
  });
});

describe('F59 a new leader must commit in its own term before reconfiguring', () => {
  it('a conf change proposed before the new leader committed in its term becomes an empty entry', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.dropTypes.add(MessageType.MsgApp);
    c.elect(2n);
    expect(c.raft(2n).status()).toMatchObject({ role: 'leader', term: 2, commit: 1 });
    c.raft(2n).proposeConfChange(cc(ConfChangeAddLearnerNode, 4n));
    c.heal();
    c.raft(2n).tick();
    c.stabilize();
    const last = c.node(2n).storage.entries(3, 4, Infinity)[0]!;
    expect(last.type).toBe(EntryType.EntryNormal);
    expect(c.raft(2n).status().config.learners).toEqual([]);
    c.raft(2n).proposeConfChange(cc(ConfChangeAddLearnerNode, 4n));
    c.stabilize();
    expect(c.raft(2n).status().config.learners).toEqual([4n]);
  });
});

describe('joint consensus (ConfChangeV2)', () => {
  it('auto-leave: two voters added at once; the leader leaves the joint state by itself', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.addNode(4n, [1n, 2n, 3n]);
    c.addNode(5n, [1n, 2n, 3n]);
    c.raft(1n).proposeConfChange(
      ccv2(ConfChangeTransition.ConfChangeTransitionAuto, [
        [ConfChangeAddNode, 4n],
        [ConfChangeAddNode, 5n],
      ]),
    );
    until(
      c,
      () =>
        c.raft(1n).status().config.votersOutgoing.length === 0 &&
        c.raft(1n).status().config.voters.length === 5,
      30,
      [1n],
    );
    until(
      c,
      () =>
        c.raft(5n).status().config.voters.length === 5 &&
        c.raft(5n).status().config.votersOutgoing.length === 0,
      30,
      [1n],
    );
    expect(c.raft(5n).status().role).toBe('follower');
  });

  it('explicit: stays joint, needs both majorities, and leaves on an empty ConfChangeV2', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.addNode(4n, [1n, 2n, 3n]);
    c.addNode(5n, [1n, 2n, 3n]);
    c.raft(1n).proposeConfChange(
      ccv2(ConfChangeTransition.ConfChangeTransitionJointExplicit, [
        [ConfChangeAddNode, 4n],
        [ConfChangeAddNode, 5n],
      ]),
    );
    until(c, () => c.raft(1n).status().config.votersOutgoing.length === 3, 30, [1n]);
    for (let i = 0; i < 5; i++) {
      c.raft(1n).tick();
      c.stabilize();
    }
    expect(c.raft(1n).status().config).toMatchObject({
      voters: [1n, 2n, 3n, 4n, 5n],
      votersOutgoing: [1n, 2n, 3n],
    });
    // The incoming majority (1, 4, 5) without the outgoing one (1 of 1,2,3) cannot commit.
    c.isolate(2n);
    c.isolate(3n);
    const at = c.raft(1n).status().commit;
    c.raft(1n).propose(enc('joint'));
    c.stabilize();
    expect(c.raft(1n).status().commit).toBe(at);
    c.heal();
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().commit).toBe(at + 1);
    c.raft(1n).proposeConfChange(ccv2(ConfChangeTransition.ConfChangeTransitionAuto, []));
    until(c, () => c.raft(1n).status().config.votersOutgoing.length === 0, 30, [1n]);
  });

  it('demoting a voter to learner through a joint state (learnersNext)', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).proposeConfChange(
      ccv2(ConfChangeTransition.ConfChangeTransitionJointImplicit, [[ConfChangeAddLearnerNode, 3n]]),
    );
    until(c, () => c.raft(3n).status().role === 'learner', 30, [1n]);
    expect(c.raft(1n).status().config).toMatchObject({
      voters: [1n, 2n],
      learners: [3n],
      learnersNext: [],
      votersOutgoing: [],
    });
  });

  it('a conf change is refused while joint unless it leaves', () => {
    const c = new Cluster([1n, 2n, 3n]);
    c.elect(1n);
    c.raft(1n).proposeConfChange(
      ccv2(ConfChangeTransition.ConfChangeTransitionJointExplicit, [[ConfChangeAddLearnerNode, 4n]]),
    );
    c.stabilize();
    c.raft(1n).tick();
    c.stabilize();
    expect(c.raft(1n).status().config.votersOutgoing).toEqual([1n, 2n, 3n]);
    const last = c.node(1n).storage.lastIndex();
    c.raft(1n).proposeConfChange(cc(ConfChangeAddLearnerNode, 5n));
    c.stabilize();
    expect(c.node(1n).storage.entries(last + 1, last + 2, Infinity)[0]!.type).toBe(EntryType.EntryNormal);
  });
});

/**
 * The configuration changer as transcripts (transcripts/confchange/*.txt, the
 * format of datadriven.ts), after etcd's confchange/testdata:
 *
 *   config voters=(1 2 3) [outgoing=(...)] [learners=(...)] [next=(...)] [autoleave] [last=N]
 *       start from this ConfState (last: the leader's last index, where new members are probed from)
 *   simple add 4 learner 5 remove 2 update 3     one step of at most one voter (Raft §4.1)
 *   enter-joint [autoleave] add 4 remove 1        enter a joint configuration (Raft §6)
 *   leave-joint
 *   apply [auto|implicit|explicit] add 4 ...      a ConfChangeV2 with that transition, as a node applies it
 *
 * Each prints the configuration and every member's progress, or the error
 * that refused the change (the configuration is then left as it was).
 */
describe('confchange transcripts', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'transcripts', 'confchange');
  const OPS: Record<string, ConfChangeType> = {
    add: ConfChangeAddNode,
    learner: ConfChangeAddLearnerNode,
    remove: ConfChangeRemoveNode,
    update: ConfChangeType.ConfChangeUpdateNode,
  };
  const TRANSITIONS: Record<string, ConfChangeTransition> = {
    auto: ConfChangeTransition.ConfChangeTransitionAuto,
    implicit: ConfChangeTransition.ConfChangeTransitionJointImplicit,
    explicit: ConfChangeTransition.ConfChangeTransitionJointExplicit,
  };
  const list = (ids: Iterable<bigint>): string => `(${[...ids].sort((a, b) => (a < b ? -1 : 1)).join(' ')})`;

  function changes(words: string[]): Array<{ type: ConfChangeType; nodeId: bigint }> {
    const out: Array<{ type: ConfChangeType; nodeId: bigint }> = [];
    for (let i = 0; i < words.length; i += 2) {
      const type = OPS[words[i]!];
      if (type === undefined) throw new Error(`unknown change ${words[i]}`);
      out.push({ type, nodeId: BigInt(words[i + 1]!) });
    }
    return out;
  }

  function describeTracker(t: ProgressTracker): string[] {
    const c = t.config;
    let head = `voters=${list(c.voters.incoming)}`;
    if (c.voters.outgoing.size > 0) head += `&&${list(c.voters.outgoing)}`;
    if (c.learners.size > 0) head += ` learners=${list(c.learners)}`;
    if (c.learnersNext.size > 0) head += ` next=${list(c.learnersNext)}`;
    if (c.autoLeave) head += ' autoleave';
    const lines = [head];
    for (const [id, pr] of t.progress)
      lines.push(`${id}: ${pr.state} match=${pr.match} next=${pr.next}${pr.isLearner ? ' learner' : ''}`);
    return lines;
  }

  function script(): (d: Directive) => string[] {
    let tracker = new ProgressTracker(10, Infinity);
    let last = 0;
    return (d) => {
      const [name, ...words] = d.command.split(/\s+/);
      const attempt = (f: (ch: ConfChanger) => ReturnType<ConfChanger['apply']>): string[] => {
        try {
          const r = f(new ConfChanger(tracker, last));
          tracker.switchTo(r.config, r.progress);
          return describeTracker(tracker);
        } catch (err) {
          if (!(err instanceof ConfChangeError)) throw err;
          return [`error: ${err.message}`];
        }
      };
      switch (name) {
        case 'config': {
          const a = keyArgs(d.command);
          const ids = (k: string): bigint[] => (a.get(k) ?? []).map(BigInt);
          last = Number(a.get('last')?.[0] ?? 0);
          tracker = new ProgressTracker(10, Infinity);
          const r = restoreConfState(
            tracker,
            {
              voters: ids('voters'),
              votersOutgoing: ids('outgoing'),
              learners: ids('learners'),
              learnersNext: ids('next'),
              autoLeave: words.includes('autoleave'),
            },
            last,
          );
          tracker.switchTo(r.config, r.progress);
          return describeTracker(tracker);
        }
        case 'simple':
          return attempt((ch) => ch.simple(changes(words)));
        case 'enter-joint': {
          const auto = words[0] === 'autoleave';
          return attempt((ch) => ch.enterJoint(auto, changes(auto ? words.slice(1) : words)));
        }
        case 'leave-joint':
          return attempt((ch) => ch.leaveJoint());
        case 'apply': {
          const transition = TRANSITIONS[words[0]!];
          const rest = transition === undefined ? words : words.slice(1);
          return attempt((ch) =>
            ch.apply({
              transition: transition ?? ConfChangeTransition.ConfChangeTransitionAuto,
              changes: changes(rest),
              context: new Uint8Array(0),
            }),
          );
        }
        default:
          throw new Error(`line ${d.line}: unknown command ${name}`);
      }
    };
  }

  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')))
    it(file.replace(/\.txt$/, ''), () => checkScriptFile(join(dir, file), script()));
});
