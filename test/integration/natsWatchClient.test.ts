// watchOverNats against a real nats-server and a scripted publisher and replay
// service (no members): what it does with the messages of a leader change (a
// revision cut short, then published again with what came before it), a txn
// whose last event is outside the prefix, a compacted start and a refusal.
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchOverNats } from '../../src/client/index.js';
import { encodeEventMessage, HEADER } from '../../src/natswatch/eventMessages.js';
import { kvSubject, progressSubject, replaySubject } from '../../src/natswatch/subjects.js';
import { Event, Event_EventType, KeyValue } from '../../src/proto/mvccpb.js';
import type { WatchResponse } from '../../src/proto/etcdserverpb.js';
import { WatchProgress, WatchReplayEnd, WatchReplayRequest } from '../../src/proto/xetcdpb.js';
import { startNats, type NatsInstance } from '../helpers/nats.js';

const CID = 0xabcn;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const put = (key: string, rev: number): Event =>
  Event.create({
    type: Event_EventType.PUT,
    kv: KeyValue.create({
      key: enc(key),
      value: enc(`v${rev}`),
      modRevision: rev,
      createRevision: rev,
      version: 1,
    }),
  });

/** The history the scripted cluster has: revision → its events. */
const history = new Map<number, Event[]>([
  [2, [put('p/a', 2)]],
  [3, [put('p/b', 3), put('p/c', 3), put('q/x', 3)]],
  [4, [put('q/y', 4)]],
  [5, [put('p/d', 5)]],
  [6, [put('p/e', 6), put('p/f', 6)]],
]);
const current = 6;
const compactRevision = 2;

async function until(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('watchOverNats against a scripted publisher', () => {
  let nats: NatsInstance;
  let nc: NatsConnection;
  /** Revisions the replay service will not tell about (a member behind). */
  let replayUpTo = current;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    nc.subscribe(replaySubject(CID), {
      callback: (_err, msg) => {
        const req = WatchReplayRequest.decode(msg.data);
        const end = (e: Partial<WatchReplayEnd>): void => {
          const h = headers();
          h.set(HEADER.replay, 'end');
          msg.respond(WatchReplayEnd.encode(WatchReplayEnd.create({ revision: replayUpTo, ...e })), {
            headers: h,
          });
        };
        if (req.startRevision < compactRevision)
          return end({ error: 'mvcc: required revision has been compacted', compactRevision });
        if (req.startRevision > replayUpTo + 1)
          return end({ error: 'mvcc: required revision is a future revision' });
        for (let rev = req.startRevision; rev <= replayUpTo; rev++) {
          const events = history.get(rev) ?? [];
          events.forEach((e, i) => {
            if (Buffer.compare(Buffer.from(e.kv!.key), Buffer.from(req.key)) < 0) return;
            if (Buffer.compare(Buffer.from(e.kv!.key), Buffer.from(req.rangeEnd)) >= 0) return;
            const m = encodeEventMessage(rev, i + 1, events.length, e, 1 << 20);
            nc.publish(msg.reply!, m.body, { headers: m.headers });
          });
        }
        end({ nextRevision: replayUpTo + 1 });
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  const publish = (rev: number, indices?: number[]): void => {
    const events = history.get(rev)!;
    events.forEach((e, i) => {
      if (indices !== undefined && !indices.includes(i + 1)) return;
      const m = encodeEventMessage(rev, i + 1, events.length, e, 1 << 20);
      nc.publish(kvSubject(CID, e.kv!.key), m.body, { headers: m.headers });
    });
  };
  const bookmark = (rev: number): void =>
    nc.publish(progressSubject(CID), WatchProgress.encode({ revision: rev, publisher: 1n }));
  const revisions = (seen: WatchResponse[]): [number, string[]][] =>
    seen
      .filter((r) => r.events.length > 0)
      .map((r) => [r.header!.revision, r.events.map((e) => Buffer.from(e.kv!.key).toString())]);

  it('replays from fromRevision, then takes each live revision once and whole, across a publisher cut short', async () => {
    replayUpTo = 3;
    const seen: WatchResponse[] = [];
    const sub: Subscription = watchOverNats({
      servers: nats.url,
      clusterId: 'abc',
      prefix: 'p/',
      fromRevision: 2,
    }).subscribe((r) => seen.push(r));
    try {
      await until(() => revisions(seen).length === 2);
      // Revision 3's last event (q/x) is outside the prefix: replayed revisions are whole anyway.
      expect(revisions(seen)).toEqual([
        [2, ['p/a']],
        [3, ['p/b', 'p/c']],
      ]);
      // The old leader: 4 (nothing under p/), 5, then 6 cut after its first event.
      publish(4);
      publish(5);
      publish(6, [1]);
      await until(() => revisions(seen).length === 3);
      // The new leader starts a little behind: 3, 4, 5 again, then 6 whole.
      publish(3);
      publish(4);
      publish(5);
      publish(6);
      await until(() => revisions(seen).length === 4);
      bookmark(6);
      await until(() => seen.some((r) => r.events.length === 0 && r.header!.revision === 6));
      expect(revisions(seen)).toEqual([
        [2, ['p/a']],
        [3, ['p/b', 'p/c']],
        [5, ['p/d']],
        [6, ['p/e', 'p/f']],
      ]);
    } finally {
      sub.unsubscribe();
    }
  });

  it('completes a live txn whose last event is outside the prefix at the bookmark', async () => {
    replayUpTo = 2;
    const seen: WatchResponse[] = [];
    const sub = watchOverNats({ servers: nats.url, clusterId: CID, prefix: 'p/', fromRevision: 3 }).subscribe(
      (r) => seen.push(r),
    );
    try {
      // Ready once it has answered a bookmark (sent until it has: it connects on its own time).
      await until(() => {
        bookmark(2);
        return seen.some((r) => r.header!.revision === 2);
      });
      publish(3);
      // (A pause can only let a wrong early delivery through unseen, never fail a right one.)
      await new Promise((r) => setTimeout(r, 300));
      expect(revisions(seen)).toEqual([]);
      bookmark(3);
      await until(() => revisions(seen).length === 1);
      expect(revisions(seen)).toEqual([[3, ['p/b', 'p/c']]]);
    } finally {
      sub.unsubscribe();
    }
  });

  it('ends with etcd’s compacted response for a compacted start, and refuses a start below 1', async () => {
    replayUpTo = current;
    const compacted: WatchResponse[] = [];
    await new Promise<void>((resolve, reject) =>
      watchOverNats({ servers: nats.url, clusterId: CID, prefix: 'p/', fromRevision: 1 }).subscribe({
        next: (r) => compacted.push(r),
        complete: resolve,
        error: reject,
      }),
    );
    expect(compacted).toHaveLength(1);
    expect(compacted[0]).toMatchObject({
      canceled: true,
      compactRevision,
      cancelReason: 'mvcc: required revision has been compacted',
    });
    expect(() => watchOverNats({ servers: nats.url, clusterId: CID, fromRevision: 0 })).toThrow(
      /fromRevision must be a whole number from 1/,
    );
  });
});
