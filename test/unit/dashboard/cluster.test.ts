import { describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../../src/api/dashboard/protocol.js';
import {
  MAX_TRANSITIONS,
  applyEvent,
  emptyCluster,
  orderedMembers,
  transitionText,
} from '../../../web/dashboard/cluster.js';
import { FAKE_MEMBERS, fakeSamples, fakeStatus, fakeTransition } from '../../helpers/dashboardScenario.js';

const [a, b, c] = FAKE_MEMBERS;
const members: ClusterEvent = {
  type: 'members',
  self: a.id,
  members: FAKE_MEMBERS.map((m) => ({
    id: m.id,
    name: m.name,
    peerUrls: [],
    clientUrls: [],
    isLearner: false,
  })),
};

describe('transitionText', () => {
  it('reads as the issue writes it, whatever the nesting of the states', () => {
    expect(transitionText(fakeTransition('follower', 'preCandidate', 'election timeout', 7, 0))).toBe(
      'follower → preCandidate on election timeout, term 7',
    );
    expect(transitionText(fakeTransition('candidate', 'leader', 'always', 8, 0))).toBe(
      'candidate → leader on always, term 8',
    );
  });
});

describe('applyEvent', () => {
  it('lists the membership, then fills each member from its feed', () => {
    const state = emptyCluster();
    expect(applyEvent(state, members)).toEqual([{ kind: 'members' }]);
    expect(state.self).toBe(a.id);
    expect(orderedMembers(state).map((m) => m.name)).toEqual(['infra1', 'infra2', 'infra3']);

    const hello: ClusterEvent = {
      type: 'member',
      id: b.id,
      event: {
        type: 'hello',
        status: fakeStatus(1, 'follower', 3, a.id),
        transitions: [
          fakeTransition('follower', 'preCandidate', 'election timeout', 2, 1),
          fakeTransition('preCandidate', 'follower', 'MsgApp', 3, 2),
        ],
        metrics: fakeSamples(3, 10_000, 0),
      },
    };
    expect(applyEvent(state, hello).map((ch) => ch.kind)).toEqual(['status', 'transitions', 'metrics']);
    const view = state.members.get(b.id)!;
    expect(view.status?.role).toBe('follower');
    // The feed sends oldest first; the page keeps newest first.
    expect(view.transitions.map((t) => t.at)).toEqual([2, 1]);
    expect(view.metrics).toHaveLength(3);

    applyEvent(state, {
      type: 'member',
      id: b.id,
      event: { type: 'status', status: fakeStatus(1, 'leader', 4, b.id) },
    });
    expect(state.members.get(b.id)?.status?.role).toBe('leader');
    applyEvent(state, {
      type: 'member',
      id: b.id,
      event: { type: 'transition', transition: fakeTransition('candidate', 'leader', 'always', 4, 3) },
    });
    expect(state.members.get(b.id)?.transitions[0]?.at).toBe(3);
  });

  it('keeps a bounded number of transitions, newest first', () => {
    const state = emptyCluster();
    applyEvent(state, members);
    for (let i = 0; i < MAX_TRANSITIONS + 5; i++) {
      applyEvent(state, {
        type: 'member',
        id: a.id,
        event: { type: 'transition', transition: fakeTransition('follower', 'preCandidate', 'tick', i, i) },
      });
    }
    const kept = state.members.get(a.id)!.transitions;
    expect(kept).toHaveLength(MAX_TRANSITIONS);
    expect(kept[0]?.at).toBe(MAX_TRANSITIONS + 4);
  });

  it('marks a member unreachable with its reason, and reachable again without one', () => {
    const state = emptyCluster();
    applyEvent(state, members);
    applyEvent(state, { type: 'reachability', id: c.id, reachable: false, reason: 'no news for 1.5 s' });
    expect(state.members.get(c.id)).toMatchObject({ reachable: false, reason: 'no news for 1.5 s' });
    applyEvent(state, { type: 'reachability', id: c.id, reachable: true });
    expect(state.members.get(c.id)).toMatchObject({ reachable: true, reason: undefined });
  });

  it('drops a removed member that never spoke, keeps one that did (marked not listed)', () => {
    const state = emptyCluster();
    applyEvent(state, members);
    applyEvent(state, {
      type: 'member',
      id: c.id,
      event: { type: 'status', status: fakeStatus(2, 'follower', 1, a.id) },
    });
    applyEvent(state, { ...members, members: members.type === 'members' ? members.members.slice(0, 1) : [] });
    expect(state.members.has(b.id)).toBe(false);
    expect(state.members.get(c.id)?.listed).toBe(false);
  });
});
