// The NATS peer transport against a real nats-server on loopback: batches,
// fragments above max_payload, snapshot transfers, frames it must refuse, and
// the road going away and coming back.
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { filter, firstValueFrom } from 'rxjs';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Message, MessageType } from '../../../src/proto/raftpb.js';
import { PeerEnvelope, PeerFrame, PeerRequest } from '../../../src/proto/xetcdpb.js';
import { fetchClusterFromPeers } from '../../../src/transport/discovery.js';
import { createTransportMetrics, type TransportMetrics } from '../../../src/transport/metrics.js';
import { NatsTransport } from '../../../src/transport/natsTransport.js';
import { snapshotStatePath } from '../../../src/transport/snapshotReceiver.js';
import { raftSubject } from '../../../src/transport/subjects.js';
import type { RaftReceiver } from '../../../src/transport/transport.js';
import { startNats, type NatsInstance } from '../../helpers/nats.js';
import { ResourceScope } from '../../helpers/scope.js';
import { makeTempDir } from '../../helpers/tempdir.js';

const CLUSTER = 0xc105n;
const A = 0xan;
const B = 0xbn;

/** A receiver that records what reaches Raft. */
class Recorder implements RaftReceiver {
  readonly messages: Message[] = [];
  readonly unreachable: bigint[] = [];
  readonly snapshots: { id: bigint; status: 'finish' | 'failure' }[] = [];
  readonly removed = new Set<bigint>();
  process(m: Message): void {
    this.messages.push(m);
  }
  isIdRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }
  reportUnreachable(id: bigint): void {
    this.unreachable.push(id);
  }
  reportSnapshot(id: bigint, status: 'finish' | 'failure'): void {
    this.snapshots.push({ id, status });
  }
  readonly removedBy: bigint[] = [];
  removedFromCluster(by: bigint): void {
    this.removedBy.push(by);
  }
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function heartbeat(from: bigint, to: bigint, commit: number): Message {
  return Message.create({ type: MessageType.MsgHeartbeat, from, to, term: 1, commit });
}

describe('NatsTransport over a real nats-server', () => {
  const scope = new ResourceScope();
  let nats: NatsInstance;
  let dir: string;
  const running: NatsTransport[] = [];

  beforeAll(async () => {
    const tmp = scope.add(await makeTempDir('xetcd-transport-'), 'temp dir', (d) => d.remove());
    dir = tmp.path;
    // A small max_payload makes fragments and chunking cheap to reach.
    const conf = join(dir, 'nats.conf');
    await writeFile(conf, 'max_payload: 65536\n');
    nats = scope.add(await startNats(['-c', conf]), 'nats-server', (n) => n.stop());
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((t) => t.stop()));
  });
  afterAll(() => scope.close());

  let metricsOfLast: TransportMetrics;
  async function member(
    id: bigint,
    peers: bigint[],
    servers = [nats.url],
  ): Promise<[NatsTransport, Recorder]> {
    const metrics = createTransportMetrics(new Registry());
    metricsOfLast = metrics;
    const t = new NatsTransport({
      clusterId: CLUSTER,
      memberId: id,
      peerUrls: [`http://127.0.0.1:${2380 + Number(id)}`],
      snapshotDir: join(dir, `snap-${id.toString(16)}-${running.length}`),
      link: { servers, name: `m${id}`, pingIntervalMs: 500, reconnectWaitMs: 100, awayLogEveryMs: 1_000 },
      logger: pino({ level: 'silent' }),
      metrics,
      peerInactiveMs: 2_000,
      snapshotIdleTimeoutMs: 2_000,
    });
    for (const p of peers) t.addPeer({ id: p, peerUrls: [] });
    const r = new Recorder();
    await t.start(r);
    running.push(t);
    await firstValueFrom(t.connected$.pipe(filter(Boolean)));
    return [t, r];
  }

  it('delivers a Ready batch in order, and refuses messages for peers it does not know', async () => {
    const [a] = await member(A, [B]);
    const [, rb] = await member(B, [A]);
    a.send([heartbeat(A, B, 1), heartbeat(A, B, 2), heartbeat(A, 0x99n, 3), heartbeat(A, B, 3)]);
    await until(() => rb.messages.length === 3);
    expect(rb.messages.map((m) => m.commit)).toEqual([1, 2, 3]);
    expect(a.isActive(B)).toBe(false);
  });

  it('a batch larger than max_payload arrives whole through fragments', async () => {
    const [a] = await member(A, [B]);
    const [, rb] = await member(B, [A]);
    const entries = Array.from({ length: 40 }, (_, i) => ({
      term: 1,
      index: i + 1,
      type: 0,
      data: new Uint8Array(10_000).fill(i),
    }));
    const app = Message.create({ type: MessageType.MsgApp, from: A, to: B, term: 1, entries });
    a.send([app]);
    await until(() => rb.messages.length === 1);
    expect(rb.messages[0]!.entries).toHaveLength(40);
    expect(rb.messages[0]!.entries[39]!.data[9_999]).toBe(39);
  });

  it('a snapshot transfer writes the verified state before Raft sees the message', async () => {
    const [a, ra] = await member(A, [B]);
    const [, rb] = await member(B, [A]);
    const state = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < state.length; i++) state[i] = (i * 7) & 0xff;
    const message = Message.create({
      type: MessageType.MsgSnap,
      from: A,
      to: B,
      term: 2,
      snapshot: { data: new Uint8Array(0), metadata: { index: 42, term: 2, confState: undefined } },
    });
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < state.length; at += 100_000) yield state.subarray(at, at + 100_000);
    }
    let closed = false;
    a.sendSnapshot({ message, body: body(), close: async () => void (closed = true) });
    await until(() => ra.snapshots.length === 1, 20_000);
    expect(ra.snapshots[0]).toEqual({ id: B, status: 'finish' });
    expect(closed).toBe(true);
    expect(rb.messages.map((m) => m.type)).toEqual([MessageType.MsgSnap]);
    const kept = await readFile(snapshotStatePath(join(dir, `snap-b-1`), 42));
    expect(Buffer.compare(kept, state)).toBe(0);
  });

  it('drops frames of another cluster, undecodable bytes, forged senders and removed members, counting each', async () => {
    const [, rb] = await member(B, [A]);
    const metrics = metricsOfLast;
    rb.removed.add(0x7n);
    const rogue = await connect({ servers: nats.url });
    try {
      const subject = raftSubject(CLUSTER, B);
      const batch = (from: bigint, clusterId = CLUSTER, m = heartbeat(from, B, 9)) =>
        PeerEnvelope.encode({
          payload: PeerFrame.encode(PeerFrame.create({ clusterId, from, to: B, batch: { messages: [m] } })),
        });
      rogue.publish(subject, batch(A, 0xdeadn));
      rogue.publish(subject, new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02]));
      rogue.publish(subject, batch(A, CLUSTER, heartbeat(0x5n, B, 9)));
      rogue.publish(subject, batch(0x7n));
      rogue.publish(
        subject,
        batch(A, CLUSTER, Message.create({ type: MessageType.MsgSnap, from: A, to: B })),
      );
      rogue.publish(subject, batch(A));
      await rogue.flush();
      await until(() => rb.messages.length === 1);
      const dropped = await metrics.droppedMessages.get();
      const byReason = Object.fromEntries(dropped.values.map((v) => [v.labels['reason'], v.value]));
      expect(byReason).toEqual({
        'other-cluster': 1,
        undecodable: 1,
        malformed: 2,
        'removed-member': 1,
      });
      expect(rb.messages[0]!.from).toBe(A);
    } finally {
      await rogue.close();
    }
  });

  it('a snapshot whose receiver is gone fails and is reported to Raft as a failure', async () => {
    const [a, ra] = await member(A, [B]);
    const message = Message.create({
      type: MessageType.MsgSnap,
      from: A,
      to: B,
      snapshot: { data: new Uint8Array(0), metadata: { index: 5, term: 1, confState: undefined } },
    });
    async function* body(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
    }
    a.sendSnapshot({ message, body: body(), close: async () => undefined });
    await until(() => ra.snapshots.length === 1, 10_000);
    expect(ra.snapshots[0]).toEqual({ id: B, status: 'failure' });
  });

  it('reports peers unreachable while NATS is away and recovers by itself when it returns', async () => {
    const restartable = await startNats();
    try {
      const [a, ra] = await member(A, [B], [restartable.url]);
      const [, rb] = await member(B, [A], [restartable.url]);
      a.send([heartbeat(A, B, 1)]);
      await until(() => rb.messages.length === 1);
      const port = restartable.port;
      await restartable.stop();
      await until(() => {
        a.send([heartbeat(A, B, 2)]);
        return ra.unreachable.length > 0;
      });
      const again = await startNats(['-p', String(port)]);
      try {
        await until(() => {
          a.send([heartbeat(A, B, 3)]);
          return rb.messages.some((m) => m.commit === 3);
        }, 15_000);
      } finally {
        await Promise.all(running.splice(0).map((t) => t.stop()));
        await again.stop();
      }
    } finally {
      await restartable.stop().catch(() => undefined);
    }
  });

  it('answers peer requests through the handler; errors and silence come back as such', async () => {
    const [a] = await member(A, [B]);
    const [b] = await member(B, [A]);
    const noHandler = await a.request(B, PeerRequest.create({ hashKv: { revision: 0 } }), 2_000);
    expect(noHandler.error).toBe('etcdserver: not capable');
    b.serve({
      handle: async (req) => {
        if (req.hashKv) return { hashKv: { hash: 77, compactRevision: Number(req.from), header: undefined } };
        throw new Error('etcdserver: requested lease not found');
      },
    });
    const answered = await a.request(B, PeerRequest.create({ hashKv: { revision: 0 } }), 2_000);
    expect(answered.hashKv).toMatchObject({ hash: 77, compactRevision: Number(A) });
    const failed = await a.request(B, PeerRequest.create({ leaseRenew: { id: 1n } }), 2_000);
    expect(failed.error).toBe('etcdserver: requested lease not found');
    await expect(a.request(0x42n, PeerRequest.create({ hashKv: { revision: 0 } }), 500)).rejects.toThrow();
  });

  it('a joining member learns the cluster from a member it names by peer URL', async () => {
    await member(A, [B]);
    const [b] = await member(B, [A]);
    b.serve({
      handle: async (req) => {
        if (!req.memberList) throw new Error('unexpected');
        return {
          memberList: {
            memberList: {
              header: { clusterId: CLUSTER, memberId: B, revision: 0, raftTerm: 0 },
              members: [],
            },
          },
        };
      },
    });
    const link = {
      servers: [nats.url],
      name: 'joiner',
      pingIntervalMs: 500,
      reconnectWaitMs: 100,
      awayLogEveryMs: 1_000,
    };
    const found = await fetchClusterFromPeers(
      link,
      ['http://127.0.0.1:9', `http://127.0.0.1:${2380 + Number(B)}`],
      2_000,
      pino({ level: 'silent' }),
    );
    expect(found.memberList?.header?.clusterId).toBe(CLUSTER);
    await expect(
      fetchClusterFromPeers(link, ['http://127.0.0.1:9'], 500, pino({ level: 'silent' })),
    ).rejects.toThrow(/could not retrieve the cluster's members from any peer \(http:\/\/127.0.0.1:9: /);
  });

  it('leaves no temporary snapshot files behind after a stop', async () => {
    const names = await readdir(dir);
    for (const name of names.filter((n) => n.startsWith('snap-'))) {
      const files = await readdir(join(dir, name));
      expect(files.filter((f) => f.startsWith('.incoming-'))).toEqual([]);
    }
  });
});
