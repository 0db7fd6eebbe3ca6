// The key space's changes on NATS subjects (--nats-watch-subjects), three
// members over a real nats-server: what a plain NATS subscriber sees, what the
// replay service says to bad questions, and watchOverNats through faults, each
// compared with a gRPC watch of the same range from the same revision.
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchOverNats } from '../../src/client/index.js';
import { decodeEventMessage, HEADER, type EventMessage } from '../../src/natswatch/eventMessages.js';
import { replaySubject } from '../../src/natswatch/subjects.js';
import { Event } from '../../src/proto/mvccpb.js';
import type { WatchResponse } from '../../src/proto/etcdserverpb.js';
import { WatchReplayEnd, WatchReplayRequest } from '../../src/proto/xetcdpb.js';
import type { TestCluster } from '../helpers/cluster.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { startTcpProxy } from '../helpers/tcpProxy.js';
import {
  AnyMember,
  expireLeasedKeys,
  groupByRevision,
  grpcHistory,
  startWatchedCluster,
  writeWorkload,
  type RevisionGroup,
} from './natsWatchWorkload.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One question to the replay service, raw: the events and the end message. */
async function askReplay(
  nc: NatsConnection,
  cid: bigint,
  body: Uint8Array,
): Promise<{ events: EventMessage[]; end: WatchReplayEnd }> {
  const inbox = createInbox();
  const events: EventMessage[] = [];
  const sub = nc.subscribe(inbox);
  nc.publish(replaySubject(cid), body, { reply: inbox });
  const timer = setTimeout(() => sub.unsubscribe(), 10_000);
  try {
    for await (const msg of sub) {
      if (msg.headers?.get(HEADER.replay) === 'end') return { events, end: WatchReplayEnd.decode(msg.data) };
      events.push(decodeEventMessage(msg));
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  throw new Error('the replay service did not answer');
}

describe('the key space on NATS subjects (three members, plain NATS)', () => {
  let cluster: TestCluster;
  let cid: bigint;
  let members: AnyMember;
  let nc: NatsConnection;

  beforeAll(async () => {
    ({ cluster, cid, members, nc } = await startWatchedCluster({ args: ['--nats-watch-subjects'] }));
  }, 60_000);
  afterAll(async () => {
    await nc?.close();
    members?.close();
    await cluster?.stop();
  });

  it('a plain NATS subscriber sees every change of a workload, in revision order, as a gRPC watch does', async () => {
    const received: EventMessage[] = [];
    const sub = nc.subscribe(`xetcd.${cid.toString(16)}.kv.>`, {
      callback: (_err, msg) => {
        const m = decodeEventMessage(msg);
        // The headers repeat the event's own facts.
        expect(msg.headers!.get(HEADER.modRevision)).toBe(String(m.event.kv!.modRevision));
        expect(msg.headers!.get(HEADER.event)).toBe(m.event.type === 1 ? 'DELETE' : 'PUT');
        received.push(m);
      },
    });
    await nc.flush();
    const from = (await members.call((c) => c.status())).header!.revision + 1;
    await writeWorkload(members, 'w/', { steps: 60, seed: 11 });
    await expireLeasedKeys(members, 'w/', 2);
    const end = (await members.call((c) => c.put({ key: enc('w/end'), value: enc('.') }))).header!.revision;
    await until('the last change on NATS', () => (received.at(-1)?.revision ?? 0) >= end);
    sub.unsubscribe();

    // Each revision's events arrive together, 1 of n to n of n, revisions ascending.
    for (let i = 1; i < received.length; i++) {
      const [a, b] = [received[i - 1]!, received[i]!];
      if (a.revision === b.revision) expect([b.index, b.count]).toEqual([a.index + 1, a.count]);
      else expect([b.revision > a.revision, a.index === a.count, b.index]).toEqual([true, true, 1]);
    }
    const got = groupByRevision(received.filter((m) => m.revision >= from).map((m) => m.event));
    const want = await grpcHistory(cluster.members[0]!, '', from, end);
    expect(got).toEqual(want);
    // The workload had what it should: txns of several keys, deletes by lease expiry.
    expect(want.some((g) => g.events.length > 2)).toBe(true);
    expect(want.some((g) => g.events.some((e) => e['type'] === 'DELETE' && String(e['kv']).length > 0))).toBe(
      true,
    );
    const expired = want.flatMap((g) => g.events).filter((e) => e['type'] === 'DELETE');
    expect(
      expired.some((e) => Buffer.from((e['kv'] as { key: string }).key, 'base64').toString() === 'w/leased0'),
    ).toBe(true);
  });

  it('goes on from the checkpoint after every member was killed: no revision missing, repeats only', async () => {
    const received: EventMessage[] = [];
    const sub = nc.subscribe(`xetcd.${cid.toString(16)}.kv.>`, {
      callback: (_err, msg) => void received.push(decodeEventMessage(msg)),
    });
    await nc.flush();
    const from = (await members.call((c) => c.status())).header!.revision + 1;
    // Every member killed at once while a writer is busy, then started again on its data.
    let stop = false;
    const writer = writeWorkload(members, 'r/', { steps: 100_000, seed: 5, stop: () => stop });
    await until('some writes on NATS', () => received.filter((m) => m.revision >= from).length >= 20);
    await Promise.all(cluster.members.map((m) => m.kill('SIGKILL')));
    await Promise.all(cluster.members.map((m) => m.start()));
    await cluster.waitForLeader();
    await until('writes after the restart', () => received.length >= 60);
    stop = true;
    await writer;
    const end = (await members.call((c) => c.put({ key: enc('r/end'), value: enc('.') }))).header!.revision;
    await until('the last change on NATS', () => (received.at(-1)?.revision ?? 0) >= end);
    sub.unsubscribe();

    // What a consumer keeps: each (revision, position) once, the first time.
    const seen = new Set<string>();
    const kept = received.filter((m) => {
      const id = `${m.revision}:${m.index}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    expect(groupByRevision(kept.filter((m) => m.revision >= from).map((m) => m.event))).toEqual(
      await grpcHistory(cluster.members[0]!, '', from, end),
    );
  }, 90_000);

  it('the replay service answers bad questions with clear errors, and goes on serving', async () => {
    const ask = (req: Partial<WatchReplayRequest>) =>
      askReplay(nc, cid, WatchReplayRequest.encode(WatchReplayRequest.create(req)));
    const current = (await members.call((c) => c.status())).header!.revision;

    const malformed = await askReplay(nc, cid, Uint8Array.of(0x0a, 0xff, 0xff, 0xff));
    expect(malformed.end.error).toMatch(/^xetcd: malformed replay request/);
    expect((await ask({ startRevision: 1 })).end.error).toBe('etcdserver: key is not provided');
    expect((await ask({ key: enc('a'), startRevision: 0 })).end.error).toMatch(
      /start_revision must be at least 1/,
    );
    expect((await ask({ key: enc('a'), startRevision: 1, limit: -1 })).end.error).toMatch(
      /limit must not be negative/,
    );
    expect((await ask({ key: enc('b'), rangeEnd: enc('a'), startRevision: 1 })).end.error).toMatch(
      /range is empty/,
    );
    const future = await ask({ key: enc('a'), startRevision: current + 10 });
    expect(future.end.error).toBe('mvcc: required revision is a future revision');

    const compactAt = current - 5;
    const compacted = await runEtcdctl(['compact', String(compactAt)], {
      endpoints: cluster.endpoints().join(','),
    });
    expect(compacted.code).toBe(0);
    const tooOld = await ask({ key: enc('w/'), rangeEnd: enc('w0'), startRevision: 2 });
    expect(tooOld.end.error).toBe('mvcc: required revision has been compacted');
    expect(tooOld.end.compactRevision).toBe(compactAt);

    // A range over everything with a huge limit: one bounded answer, and where to go on.
    const huge = await ask({
      key: Uint8Array.of(0),
      rangeEnd: Uint8Array.of(0),
      startRevision: compactAt,
      limit: 1e15,
    });
    expect(huge.end.error).toBe('');
    expect(huge.end.nextRevision).toBe(huge.end.revision + 1);
    expect(new Set(huge.events.map((e) => e.revision)).size).toBeLessThanOrEqual(10_000);
    // A key near the request limit, and a question nobody waits for.
    expect((await ask({ key: new Uint8Array(900_000).fill(0x61), startRevision: compactAt })).end.error).toBe(
      '',
    );
    nc.publish(replaySubject(cid), Uint8Array.of(1, 2, 3));

    // The members are unharmed: all running, writes go through, the service answers.
    expect(cluster.running()).toHaveLength(3);
    const put = await members.call((c) => c.put({ key: enc('w/after'), value: enc('ok') }));
    const good = await ask({ key: enc('w/after'), startRevision: put.header!.revision });
    expect(good.end.error).toBe('');
    expect(good.events.map((e) => Event.toJSON(e.event)['kv'])).toHaveLength(1);
  });

  it('watchOverNats without fromRevision starts with the changes after now', async () => {
    await members.call((c) => c.put({ key: enc('n/before'), value: enc('1') }));
    const seen: WatchResponse[] = [];
    const watch = watchOverNats({ servers: cluster.natsUrl, clusterId: cid, prefix: 'n/' }).subscribe((r) =>
      seen.push(r),
    );
    try {
      // A first progress response: the watch knows where "now" is.
      await until('a progress response', () => seen.length > 0);
      const put = await members.call((c) => c.put({ key: enc('n/after'), value: enc('2') }));
      await until('the put', () => seen.some((r) => r.events.length > 0));
      const withEvents = seen.filter((r) => r.events.length > 0);
      expect(
        withEvents.map((r) => [r.header!.revision, Buffer.from(r.events[0]!.kv!.key).toString()]),
      ).toEqual([[put.header!.revision, 'n/after']]);
    } finally {
      watch.unsubscribe();
    }
  });

  it('watchOverNats delivers every revision once, in order, whole, through a leader SIGKILL, a NATS restart and a cut link', async () => {
    const link = await startTcpProxy({ target: { port: cluster.natsPort } });
    const from = (await members.call((c) => c.status())).header!.revision + 1;
    const seen: WatchResponse[] = [];
    let watch: Subscription | undefined;
    let stop = false;
    try {
      watch = watchOverNats({
        servers: link.url,
        clusterId: cid.toString(16),
        prefix: 'f/',
        fromRevision: from,
      }).subscribe((r) => seen.push(r));
      // Three writers at once, so faults land between the events of busy revisions.
      const writers = [0, 1, 2].map(() => new AnyMember(cluster));
      const writer = Promise.all(
        writers.map((w, i) => writeWorkload(w, 'f/', { steps: 100_000, seed: 7 + i, stop: () => stop })),
      ).finally(() => writers.forEach((w) => w.close()));
      await sleep(1_500);

      const leader = await cluster.waitForLeader();
      await leader.kill('SIGKILL');
      await cluster.waitForLeader();
      await sleep(1_000);
      await leader.start();

      await cluster.stopNats();
      await sleep(1_500);
      await cluster.startNats();
      await cluster.waitForLeader();
      await sleep(1_000);

      link.blackhole();
      await sleep(2_000);
      link.reset();
      await sleep(1_000);
      link.heal();
      await sleep(1_000);

      stop = true;
      await writer;
      await expireLeasedKeys(members, 'f/', 2);
      const end = (await members.call((c) => c.put({ key: enc('f/end'), value: enc('.') }))).header!.revision;
      const lastRevision = (): number =>
        seen.filter((r) => r.events.length > 0).at(-1)?.header?.revision ?? 0;
      await until('watchOverNats to reach the last write', () => lastRevision() >= end).catch(
        (err: unknown) => {
          const logs = cluster.members.flatMap((m) =>
            m
              .output()
              .split('\n')
              .filter((l) => /nats.watch|leader changed/.test(l)),
          );
          throw new Error(
            `${(err as Error).message}: wanted ${end}, reached ${lastRevision()}\n${logs.join('\n')}`,
          );
        },
      );
      const got: RevisionGroup[] = seen
        .filter((r) => r.events.length > 0)
        .map((r) => {
          // One response per revision: a txn's events never split.
          expect(new Set(r.events.map((e) => e.kv!.modRevision))).toEqual(new Set([r.header!.revision]));
          return { revision: r.header!.revision, events: r.events.map((e) => Event.toJSON(e)) };
        });
      const want = await grpcHistory(cluster.members[0]!, 'f/', from, end);
      expect(got.map((g) => g.revision)).toEqual(want.map((g) => g.revision));
      expect(got).toEqual(want);
      expect(want.length).toBeGreaterThan(50);
    } finally {
      stop = true;
      watch?.unsubscribe();
      await link.close();
    }
  }, 120_000);
});
