// The Ready pipeline's ordering rules, driven by a scripted Raft core and a log store
// whose writes the test completes by hand (in call order, and failing every later write
// once one fails, as RaftLogStore does): per Ready persist → send → apply → advance,
// across Readies persists, applies and advances in order, and after a failed write
// nothing more is sent or advanced.
import { Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftLoop, type ApplyTarget } from '../../../src/server/raftLoop.js';
import type { Transport } from '../../../src/transport/transport.js';
import { silentLogger } from '../../../src/logging.js';
import { Entry, EntryType, Message, MessageType } from '../../../src/proto/raftpb.js';
import type { Ready } from '../../../src/raft/ready.js';
import type { RaftNode } from '../../../src/raft/raftNode.js';
import type { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import type { RaftLogStore } from '../../../src/storage/raftlog/store.js';

interface Deferred {
  resolve(): void;
  reject(e: Error): void;
}

function harness(readies: Ready[]) {
  const events: string[] = [];
  const queue = [...readies];
  const ready$ = new Subject<void>();
  const nameOf = (rd: Ready) => `r${readies.indexOf(rd) + 1}`;
  const raft = {
    ready$,
    tick: () => undefined,
    hasReady: () => queue.length > 0,
    ready: () => queue.shift()!,
    advance: (rd: Ready) => events.push(`advance ${nameOf(rd)}`),
  } as unknown as RaftNode;
  const memory = {
    append: () => undefined,
    setHardState: () => undefined,
    applySnapshot: () => undefined,
  } as unknown as MemoryStorage;
  const writes: Deferred[] = [];
  const log = {
    save: (rd: Ready) => {
      events.push(`save ${nameOf(rd)}`);
      const i = writes.length;
      return new Promise<void>((resolve, reject) =>
        writes.push({
          resolve: () => {
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
  return { loop, events, writes, applies, ready$ };
}

const entry = (index: number) =>
  Entry.create({ index, term: 1, type: EntryType.EntryNormal, data: new Uint8Array(0) });
const msg = (index: number) => Message.create({ type: MessageType.MsgApp, to: 2n, from: 1n, index });
function ready(n: number, committed: number[]): Ready {
  return {
    readStates: [],
    entries: [entry(n)],
    committedEntries: committed.map(entry),
    messages: [msg(n)],
    hardState: { term: 1, vote: 1n, commit: Math.max(0, ...committed) },
    mustSync: true,
  };
}
/** Lets the loop's scheduled take (setImmediate) and the promise chains behind it run. */
const flush = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

let stopLoop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stopLoop?.();
  stopLoop = undefined;
});

describe('RaftLoop pipeline', () => {
  it('persists, sends, applies and advances each Ready in order, and Readies in order', async () => {
    const h = harness([ready(1, []), ready(2, [1]), ready(3, [2])]);
    stopLoop = () => h.loop.stop();
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
    stopLoop = () => h.loop.stop();
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
