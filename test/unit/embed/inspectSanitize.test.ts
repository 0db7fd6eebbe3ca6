// What reaches an inspector is small facts: a Raft node's context is its summary, a
// message its header, and anything big or circular a line saying what it was.
import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  messageFacts,
  sanitizeContext,
  sanitizeEvent,
  sanitizeInspectionEvent,
  sanitizeSnapshot,
  smallFacts,
} from '../../../src/embed/inspectSanitize.js';
import { ConfState, EntryType, MessageType, Snapshot, type Entry } from '../../../src/proto/raftpb.js';
import { Cluster } from '../raft/cluster.js';
import { msg, singleNode } from '../raft/single.js';

const entries = (n: number, from = 1, term = 1): Entry[] =>
  Array.from({ length: n }, (_, i) => ({
    term,
    index: from + i,
    type: EntryType.EntryNormal,
    data: new Uint8Array(1024).fill(7),
  }));

class Store {
  readonly rows = new Map([[1, 'a']]);
}

/** Every JSON array in `json` named `entries`: there must be none. */
const entriesArrays = (json: string): string[] => json.match(/"entries":\[/g) ?? [];

describe('smallFacts', () => {
  it('keeps scalars; bigints as hex IDs; cuts long strings', () => {
    expect(smallFacts(7)).toBe(7);
    expect(smallFacts(true)).toBe(true);
    expect(smallFacts(null)).toBeNull();
    expect(smallFacts(0xabcn)).toBe('abc');
    expect(smallFacts(Number.NaN)).toBe('NaN');
    expect(smallFacts(undefined)).toBeUndefined();
    expect(smallFacts(() => 1)).toBeUndefined();
    const cut = smallFacts('x'.repeat(5000)) as string;
    expect(cut).toHaveLength(200);
    expect(cut.endsWith('…')).toBe(true);
  });

  it('says what bytes, long lists, maps and class instances were, without copying them', () => {
    expect(smallFacts(new Uint8Array(4096))).toBe('[4096 bytes]');
    expect(smallFacts(entries(1000))).toBe('[1000 items]');
    expect(smallFacts(['1', '2', 3])).toEqual(['1', '2', 3]);
    expect(smallFacts([{ a: 1 }])).toBe('[1 items]');
    expect(smallFacts(new Map([[1, 2]]))).toBe('[Map of 1]');
    expect(smallFacts(new Set([1, 2, 3]))).toBe('[Set of 3]');
    expect(smallFacts(new Store())).toBe('[Store]');
    expect(smallFacts(new Error('disk full'))).toBe('disk full');
  });

  it('asks toJSON, follows plain objects to a fixed depth and stops at cycles', () => {
    expect(smallFacts({ toJSON: () => ({ term: 3, log: entries(10) }) })).toEqual({
      term: 3,
      log: '[10 items]',
    });
    expect(smallFacts({ a: { b: { c: { d: 1, e: 2 } } } })).toEqual({ a: { b: { c: '{2 keys}' } } });
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    expect(JSON.stringify(smallFacts(loop)).length).toBeLessThan(200);
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    const facts = smallFacts(wide) as Record<string, unknown>;
    expect(Object.keys(facts)).toHaveLength(25);
    expect(facts['…']).toBe('76 more keys');
  });

  it('gives the same facts when cut down again', () => {
    const value = {
      id: 0xdn,
      big: entries(50),
      nested: { deeper: { deepest: { bottom: { x: 1 } } }, map: new Map() },
      text: 'y'.repeat(1000),
      list: [1, 2, 3],
    };
    const once = smallFacts(value);
    expect(smallFacts(once)).toEqual(once);
  });
});

describe('sanitizeEvent', () => {
  it('reduces a Raft message to its header: no entries, no snapshot data', () => {
    const app = msg({
      type: MessageType.MsgApp,
      from: 1n,
      to: 0x2an,
      term: 4,
      logTerm: 3,
      index: 9,
      commit: 8,
      entries: entries(500, 10, 4),
    });
    const event = sanitizeEvent({ type: 'STEP', m: app });
    expect(event).toEqual({
      type: 'STEP',
      m: {
        type: 'MsgApp',
        from: '1',
        to: '2a',
        term: 4,
        index: 9,
        logTerm: 3,
        commit: 8,
        entryCount: 500,
      },
    });
    expect(JSON.stringify(event).length).toBeLessThan(300);
    expect(sanitizeEvent(event)).toEqual(event);

    const snap = msg({
      type: MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 5,
      reject: false,
      snapshot: Snapshot.create({
        data: new Uint8Array(1 << 20),
        metadata: { index: 77, term: 5, confState: ConfState.create({ voters: [1n, 2n] }) },
      }),
    });
    expect(messageFacts(snap)).toMatchObject({ type: 'MsgSnap', snapshotIndex: 77, entryCount: 0 });
    const rejected = msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 5, reject: true });
    expect(messageFacts(rejected)).toMatchObject({ type: 'MsgAppResp', reject: true });
  });

  it('keeps the type and small facts of any other event', () => {
    expect(sanitizeEvent({ type: 'STOP', reason: 'SIGTERM' })).toEqual({ type: 'STOP', reason: 'SIGTERM' });
    expect(
      sanitizeEvent({ type: 'xstate.done.actor.x', output: { data: new Uint8Array(10), n: 1 } }),
    ).toEqual({ type: 'xstate.done.actor.x', output: { data: '[10 bytes]', n: 1 } });
  });
});

describe('sanitizeSnapshot and sanitizeContext', () => {
  it("keeps a snapshot's status, whole state value, context facts, output and error", () => {
    const value = { running: { leadership: 'leader', a: { b: { c: { d: 'deep' } } } } };
    expect(
      sanitizeSnapshot({
        status: 'error',
        value,
        context: { store: new Store() },
        output: entries(3),
        error: new Error('boom'),
        machine: { huge: true },
        historyValue: { x: [{ id: 'x' }] },
      }),
    ).toEqual({
      status: 'error',
      value,
      context: { store: '[Store]' },
      output: '[3 items]',
      error: 'boom',
    });
    expect(sanitizeSnapshot(undefined)).toEqual({ status: 'active' });
  });

  it('a context is always an object', () => {
    expect(sanitizeContext(undefined)).toEqual({});
    expect(sanitizeContext(3)).toEqual({ value: 3 });
    expect(sanitizeContext({ a: 1 })).toEqual({ a: 1 });
  });
});

describe('a Raft node seen through the sanitizer', () => {
  it('shows its summary at each step and never its log or a message body', () => {
    const seen: InspectionEvent[] = [];
    // Three nodes: the leader's proposals go out as MsgApp with entries, every context holds a growing log.
    const c = new Cluster([1n, 2n, 3n], {
      preVote: true,
      inspect: (ev) => {
        const clean = sanitizeInspectionEvent(ev);
        if (clean !== undefined) seen.push(clean);
      },
    });
    c.elect(1n);
    for (let i = 0; i < 20; i++) {
      c.raft(1n).proposeMany(Array.from({ length: 50 }, () => new Uint8Array(2048)));
      c.stabilize();
    }
    const leader = c.raft(1n).status();

    /** The snapshots of the node that became leader, as the sanitizer shaped them. */
    type Shown = { value: unknown; context: { raft: { commit: number } } };
    const shown = seen.flatMap((e) =>
      e.type === '@xstate.snapshot'
        ? [{ session: e.actorRef.sessionId, s: e.snapshot as unknown as Shown }]
        : [],
    );
    const leaderSession = shown.find(({ s }) => s.value === 'leader')?.session;
    const led = shown.filter(({ session }) => session === leaderSession).map(({ s }) => s);
    const values = led.map((s) => JSON.stringify(s.value));
    const changes = values.filter((v, i) => v !== values[i - 1]);
    expect(changes).toEqual([
      '{"following":"follower"}',
      '{"campaigning":"preCandidate"}',
      '{"campaigning":"candidate"}',
      '"leader"',
    ]);
    // Taken when it happened: the commit index each snapshot shows only grows, up to the last.
    const commits = led.map((s) => s.context.raft.commit);
    expect(commits).toEqual([...commits].sort((a, b) => a - b));
    expect(commits.at(-1)).toBe(leader.commit);
    expect(new Set(commits).size).toBeGreaterThan(10);

    const json = seen.map((e) => JSON.stringify({ ...e, actorRef: undefined, sourceRef: undefined }));
    expect(json.some((j) => j.includes('"type":"MsgApp"') && j.includes('"entryCount":50'))).toBe(true);
    for (const j of json) {
      expect(entriesArrays(j)).toEqual([]);
      expect(j.length).toBeLessThan(1500);
    }
  });

  it('leaves out transitions, microsteps and actions', () => {
    const kinds: string[] = [];
    const n = singleNode(1n, [1n], {
      inspect: (ev) => {
        if (sanitizeInspectionEvent(ev) === undefined) kinds.push(ev.type);
      },
    });
    n.raft.campaign();
    expect(kinds).toContain('@xstate.microstep');
    for (const kind of kinds)
      expect(['@xstate.microstep', '@xstate.action', '@xstate.transition']).toContain(kind);
  });
});
