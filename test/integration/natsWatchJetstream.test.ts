// --nats-watch-jetstream: the changes go into a JetStream stream (nats-server
// -js, store in a temp dir), each event with Nats-Msg-Id cluster:revision:index,
// the checkpoint moved per acknowledged whole revision. A leader killed
// mid-stream is followed by one that resumes from the stream's last message:
// the stream then holds every change once, in order, as a gRPC watch has them.
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEventMessage, type EventMessage } from '../../src/natswatch/eventMessages.js';
import type { TestCluster } from '../helpers/cluster.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import {
  AnyMember,
  expireLeasedKeys,
  groupByRevision,
  grpcHistory,
  startWatchedCluster,
  writeWorkload,
} from './natsWatchWorkload.js';

const STREAM = 'XETCD_KV';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the key space into a JetStream stream (three members, nats-server -js)', () => {
  let store: TempDir;
  let cluster: TestCluster;
  let cid: bigint;
  let members: AnyMember;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    store = await makeTempDir('xetcd-jetstream-');
    ({ cluster, cid, members, nc } = await startWatchedCluster({
      natsArgs: ['-js', '-sd', store.path],
      args: ['--nats-watch-jetstream', STREAM],
    }));
    jsm = await jetstreamManager(nc);
  }, 60_000);
  afterAll(async () => {
    await nc?.close();
    members?.close();
    await cluster?.stop();
    await store?.remove();
  });

  it('holds every change once, in revision order, across a leader SIGKILL mid-stream', async () => {
    let stop = false;
    const writer = writeWorkload(members, 'j/', { steps: 100_000, seed: 3, stop: () => stop, pauseMs: 5 });
    await sleep(1_500);
    const leader = await cluster.waitForLeader();
    await leader.kill('SIGKILL');
    await cluster.waitForLeader();
    await sleep(1_000);
    stop = true;
    await writer;
    await leader.start();
    await expireLeasedKeys(members, 'j/', 2);
    const end = (await members.call((c) => c.put({ key: enc('j/end'), value: enc('.') }))).header!.revision;

    let stored: EventMessage[] = [];
    let ids: string[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await jsm.streams.info(STREAM);
      stored = [];
      ids = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(STREAM, { seq });
        if (m === null) continue;
        stored.push(decodeEventMessage({ headers: m.header, data: m.data }));
        ids.push(m.header.get('Nats-Msg-Id'));
      }
      if ((stored.at(-1)?.revision ?? 0) >= end || Date.now() > deadline) break;
      await sleep(250);
    }

    // Each stored event is named cluster:revision:index, once.
    expect(ids).toEqual(stored.map((m) => `${cid.toString(16)}:${m.revision}:${m.index}`));
    expect(new Set(ids).size).toBe(ids.length);
    // In order, every revision whole.
    for (let i = 1; i < stored.length; i++) {
      const [a, b] = [stored[i - 1]!, stored[i]!];
      if (a.revision === b.revision) expect(b.index).toBe(a.index + 1);
      else expect([b.revision > a.revision, a.index === a.count, b.index]).toEqual([true, true, 1]);
    }
    // From the cluster's first change on, what a gRPC watch of every key gives.
    const first = stored[0]!.revision;
    expect(first).toBe(2);
    expect(groupByRevision(stored.map((m) => m.event))).toEqual(
      await grpcHistory(cluster.members[0]!, '', first, end),
    );
  }, 90_000);
});
