// The Ready pipeline's ordering rules, driven by a scripted Raft core and a log store
// whose writes the test completes by hand (in call order, and failing every later write
// once one fails, as RaftLogStore does): per Ready persist → send → apply → advance,
// across Readies persists, applies and advances in order, and after a failed write
// nothing more is sent or advanced. A leader whose term is on disk sends as its write
// starts; a follower, a Ready that demotes the leader, and a leader whose term is not
// durable yet send only once the write is.
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftLoop, type ApplyTarget } from '../../../src/server/raftLoop.js';
import type { Transport } from '../../../src/transport/transport.js';
import { silentLogger } from '../../../src/logging.js';
import { Entry, EntryType, Message, MessageType } from '../../../src/proto/raftpb.js';
import type { RaftRole, Ready } from '../../../src/raft/ready.js';
import type { RaftNode } from '../../../src/raft/raftNode.js';
import type { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import type { RaftLogStore } from '../../../src/storage/raftlog/store.js';

interface Deferred {
  resolve(): void;
  reject(e: Error): void;
}

/** The node's role and durable term/vote when the loop starts (a leader of term 1 on disk, by default not). */
interface Start {
  role: RaftRole;
  term: number;
  vote: bigint;
}

function harness(readies: Ready[], start: Start = { role: 'follower', term: 1, vote: 1n }) {
  const events: string[] = [];
  const queue = [...readies];
  const ready$ = new Subject<void>();
  const nameOf = (rd: Ready) => `r${readies.indexOf(rd) + 1}`;
  const raft = {
    ready$,
    currentRole: start.role,
    tick: () => undefined,
    hasReady: () => queue.length > 0,
    ready: () => queue.shift()!,
    advance: (rd: Ready) => events.push(`advance ${nameOf(rd)}`),
  } as unknown as RaftNode;
  const memory = {
    initialState: () => ({ hardState: { term: start.term, vote: start.vote, commit: 0 } }),
    append: () => undefined,
    setHardState: () => undefined,
    applySnapshot: () => undefined,
  } as unknown as MemoryStorage;
  const writes: Deferred[] = [];
  let settled = 0;
  const log = {
    save: (rd: Ready) => {
      events.push(`save ${nameOf(rd)}`);
      const i = writes.length;
      return new Promise<void>((resolve, reject) =>
        writes.push({
          resolve: () => {
            settled++;
            events.push(`saved ${nameOf(rd)}`);
            resolve();
          },
          reject: (e) => {
            // The store refuses everything queued behind a failed write.
            for (const later of writes.slice(i + 1)) later.reject(e);
            reject(e);
          },
        }),
      );
    },
  } as unknown as RaftLogStore;
  const peers: Pick<Transport, 'send'> = {
    send: (messages) => events.push(`send ${messages.map((m) => m.index).join(',')}`),
  };
  const applies: Deferred[] = [];
  const applier: ApplyTarget = {
    applySnapshot: async () => undefined,
    applyEntries: (entries) => {
      events.push(`apply ${entries.map((e) => e.index).join(',')}`);
      return new Promise<void>((resolve, reject) =>
        applies.push({
          resolve: () => {
            events.push(`applied ${entries.map((e) => e.index).join(',')}`);
            resolve();
          },
          reject,
        }),
      );
    },
  };
  const loop = new RaftLoop(raft, memory, log, peers, applier, { tickMs: 60_000 }, silentLogger());
  // A test that failed half way leaves writes and applies open: finish them so that stop() returns.
  stops.push(async () => {
    for (let i = settled; i < writes.length; i++) writes[i]!.resolve();
    for (const a of applies) a.resolve();
    await loop.stop();
  });
  /** The core has one more Ready (taken on the loop's next turn). */
  const feed = (rd: Ready) => {
    readies.push(rd);
    queue.push(rd);
    ready$.next();
  };
  return { loop, events, writes, applies, ready$, feed };
}

const entry = (index: number) =>
  Entry.create({ index, term: 1, type: EntryType.EntryNormal, data: new Uint8Array(0) });
const msg = (index: number) => Message.create({ type: MessageType.MsgApp, to: 2n, from: 1n, index });
function ready(n: number, committed: number[], term = 1): Ready {
  return {
    readStates: [],
    entries: [entry(n)],
    committedEntries: committed.map(entry),
    messages: [msg(n)],
    hardState: { term, vote: 1n, commit: Math.max(0, ...committed) },
    mustSync: true,
  };
}
/** Lets the loop's scheduled take (setImmediate) and the promise chains behind it run. */
const flush = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

describe('RaftLoop pipeline', () => {
  it('persists, sends, applies and advances each Ready in order, and Readies in order', async () => {
    const h = harness([ready(1, []), ready(2, [1]), ready(3, [2])]);
    h.loop.start();
    await flush();
    // The first write is in flight; the later Readies are taken but wait behind it.
    // Every write is issued at once (the store groups them); nothing is sent before its write lands.
    expect(h.events).toEqual(['save r1', 'save r2', 'save r3', 'apply 1']);
    h.applies[0]!.resolve();
    await flush();
    expect(h.events).toContain('apply 2');
    expect(h.events).not.toContain('send 1');
    expect(h.events.some((e) => e.startsWith('advance'))).toBe(false);
    h.writes[0]!.resolve();
    await flush();
    h.writes[1]!.resolve();
    await flush();
    h.applies[1]!.resolve();
    await flush();
    h.writes[2]!.resolve();
    await flush();
    const at = (e: string) => {
      const i = h.events.indexOf(e);
      expect(i, `${e} in ${h.events.join(' | ')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    for (const r of [1, 2, 3]) {
      expect(at(`saved r${r}`)).toBeLessThan(at(`send ${r}`));
      expect(at(`send ${r}`)).toBeLessThan(at(`advance r${r}`));
    }
    expect(at('applied 1')).toBeLessThan(at('apply 2'));
    expect(at('applied 1')).toBeLessThan(at('advance r2'));
    expect(at('applied 2')).toBeLessThan(at('advance r3'));
    expect(at('advance r1')).toBeLessThan(at('advance r2'));
    expect(at('advance r2')).toBeLessThan(at('advance r3'));
  });

  it('after a failed write: fatal$ once, and nothing of that Ready or later is sent or advanced', async () => {
    const h = harness([ready(1, []), ready(2, []), ready(3, [])]);
    const fatals: Error[] = [];
    h.loop.fatal$.subscribe((e) => fatals.push(e));
    h.loop.start();
    await flush();
    h.writes[0]!.resolve();
    await flush();
    h.writes[1]!.reject(new Error('injected'));
    for (let i = 0; i < 5; i++) await flush();
    expect(fatals.map((e) => e.message)).toEqual(['injected']);
    expect(h.events).toContain('advance r1');
    expect(h.events).not.toContain('send 2');
    expect(h.events).not.toContain('advance r2');
    expect(h.events).not.toContain('send 3');
    // More work from Raft is not taken any more.
    h.ready$.next();
    await flush();
    expect(h.events.filter((e) => e.startsWith('advance'))).toEqual(['advance r1']);
  });
});

describe('RaftLoop: when a Ready’s messages leave', () => {
  const leaderOfTerm1: Start = { role: 'leader', term: 1, vote: 1n };
  const at = (events: string[], e: string) => {
    const i = events.indexOf(e);
    expect(i, `${e} in ${events.join(' | ')}`).toBeGreaterThanOrEqual(0);
    return i;
  };

  it('a leader whose term is on disk hands its messages to the transport before its write resolves, and advances only after', async () => {
    const h = harness([ready(1, []), ready(2, [])], leaderOfTerm1);
    h.loop.start();
    await flush();
    // Both writes issued, both Readies' messages out, nothing durable, nothing advanced.
    expect(h.events).toEqual(['save r1', 'save r2', 'send 1', 'send 2']);
    h.writes[0]!.resolve();
    await flush();
    expect(h.events.slice(4)).toEqual(['saved r1', 'advance r1']);
    h.writes[1]!.resolve();
    await flush();
    expect(h.events.slice(6)).toEqual(['saved r2', 'advance r2']);
  });

  it('a follower sends only once its write is durable', async () => {
    const h = harness([ready(1, [])]);
    h.loop.start();
    await flush();
    expect(h.events).toEqual(['save r1']);
    h.writes[0]!.resolve();
    await flush();
    expect(h.events).toEqual(['save r1', 'saved r1', 'send 1', 'advance r1']);
  });

  it('a Ready that demotes the leader waits for its write, as a follower’s, and so does every Ready behind it', async () => {
    // r2: the leader heard of term 2 and voted for node 3 (the vote must be on disk before it leaves).
    const demoted: Ready = {
      ...ready(2, [], 2),
      softState: { lead: 0n, role: 'follower' },
      hardState: { term: 2, vote: 3n, commit: 0 },
    };
    const h = harness([ready(1, []), demoted, ready(3, [], 2)], leaderOfTerm1);
    h.loop.start();
    await flush();
    expect(h.events).toEqual(['save r1', 'save r2', 'save r3', 'send 1']);
    h.writes[0]!.resolve();
    await flush();
    expect(h.events).not.toContain('send 2');
    h.writes[1]!.resolve();
    await flush();
    expect(at(h.events, 'saved r2')).toBeLessThan(at(h.events, 'send 2'));
    expect(h.events).not.toContain('send 3');
    h.writes[2]!.resolve();
    await flush();
    expect(at(h.events, 'saved r3')).toBeLessThan(at(h.events, 'send 3'));
  });

  it('a leader whose term is not on disk yet (a lone voter electing itself) waits, and so do later Readies of that term until it is', async () => {
    const elected: Ready = { ...ready(1, [], 2), softState: { lead: 1n, role: 'leader' } };
    const h = harness([elected, ready(2, [], 2)]);
    h.loop.start();
    await flush();
    expect(h.events).toEqual(['save r1', 'save r2']);
    h.writes[0]!.resolve();
    await flush();
    // r2 was taken while term 2 was not durable: it waits for its own write.
    expect(h.events.slice(2)).toEqual(['saved r1', 'send 1', 'advance r1']);
    h.writes[1]!.resolve();
    await flush();
    expect(h.events.slice(5)).toEqual(['saved r2', 'send 2', 'advance r2']);
    // Taken once term 2 is durable, the leader's next Ready goes out as its write starts.
    h.feed(ready(3, [], 2));
    await flush();
    expect(h.events.slice(8)).toEqual(['save r3', 'send 3']);
  });

  it('a leader’s messages never overtake those of an earlier Ready still waiting for its write', async () => {
    // r1 is a candidate's (term 1 and its own vote, not on disk yet); r2 is the leader it became.
    const won: Ready = { ...ready(2, []), softState: { lead: 1n, role: 'leader' } };
    const h = harness([ready(1, []), won], { role: 'candidate', term: 0, vote: 0n });
    h.loop.start();
    await flush();
    expect(h.events).toEqual(['save r1', 'save r2']);
    h.writes[0]!.resolve();
    await flush();
    h.writes[1]!.resolve();
    await flush();
    expect(at(h.events, 'send 1')).toBeLessThan(at(h.events, 'send 2'));
    expect(at(h.events, 'saved r2')).toBeLessThan(at(h.events, 'send 2'));
  });

  it('after a failed write, a leader sends nothing more and advances nothing', async () => {
    const h = harness([ready(1, [])], leaderOfTerm1);
    const fatals: Error[] = [];
    h.loop.fatal$.subscribe((e) => fatals.push(e));
    h.loop.start();
    await flush();
    expect(h.events).toEqual(['save r1', 'send 1']);
    h.writes[0]!.reject(new Error('disk gone'));
    await flush();
    expect(fatals.map((e) => e.message)).toEqual(['disk gone']);
    h.feed(ready(2, []));
    await flush();
    expect(h.events).toEqual(['save r1', 'send 1']);
  });
});
