// The transport seam from the server's side: three EtcdServers in one process,
// each with its own data dir, reaching each other only through their
// LoopbackTransports on one hub.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/logging.js';
import { createMetrics } from '../../../src/embed/metrics.js';
import { Message, MessageType } from '../../../src/proto/raftpb.js';
import { PutRequest, RangeRequest } from '../../../src/proto/etcdserverpb.js';
import { EtcdServer } from '../../../src/server/etcdServer.js';
import { LoopbackHub, LoopbackTransport } from '../../../src/transport/loopback.js';
import type { PeerAddress } from '../../../src/transport/transport.js';
import { fixtureConfig, text, utf8 } from './serverFixture.js';

/** A loopback transport that remembers who the server told it to reach. */
class RecordingTransport extends LoopbackTransport {
  readonly told = new Set<bigint>();

  override addPeer(peer: PeerAddress): void {
    super.addPeer(peer);
    this.told.add(peer.id);
  }

  override removePeer(id: bigint): void {
    super.removePeer(id);
    this.told.delete(id);
  }
}

let servers: EtcdServer[] = [];
let transports: RecordingTransport[] = [];
let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const d of dirs) await rm(d, { recursive: true, force: true, maxRetries: 3 });
  servers = [];
  transports = [];
  dirs = [];
});

/** Three members of one cluster on one hub; only what they send each other connects them. */
async function cluster(): Promise<EtcdServer[]> {
  const hub = new LoopbackHub();
  for (let i = 0; i < 3; i++) dirs.push(await mkdtemp(join(tmpdir(), `xetcd-loopback-${i}-`)));
  const configs = dirs.map((dir, i) => {
    // Elections slower than the fixture's: on a loaded machine a 100 ms timeout elects again and again.
    const c = fixtureConfig(dir, 3, { heartbeatMs: 20, electionMs: 400 });
    const me = c.initialMembers[i]!;
    return { ...c, name: me.name, memberId: me.id, seed: i + 1 };
  });
  transports = configs.map((config) => new RecordingTransport(config.memberId, hub));
  servers = await Promise.all(
    configs.map((config, i) =>
      EtcdServer.open(config, {
        logger: silentLogger(),
        metrics: createMetrics(undefined, { processMetrics: false }),
        transport: transports[i]!,
      }),
    ),
  );
  await Promise.all(servers.map((s) => s.start()));
  return servers;
}

async function until(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`not reached in time: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const valueOn = async (s: EtcdServer, key: string): Promise<string | undefined> => {
  const kv = (await s.range(RangeRequest.create({ key: utf8(key), serializable: true }))).kvs[0];
  return kv && text(kv.value);
};

describe('three EtcdServers over a loopback hub', () => {
  it('elect one leader that all agree on, and replicate a write made on any member to every member', async () => {
    const members = await cluster();
    await until('one leader known to all', () => {
      const lead = members[0]!.leader;
      return lead !== 0n && members.every((s) => s.leader === lead);
    });
    const leader = members.find((s) => s.isLeader())!;
    const follower = members.find((s) => !s.isLeader())!;
    expect(members.filter((s) => s.isLeader())).toHaveLength(1);

    const onLeader = await leader.put(PutRequest.create({ key: utf8('a'), value: utf8('1') }));
    // A follower's proposal is forwarded to the leader and answered once the follower applied it.
    const onFollower = await follower.put(PutRequest.create({ key: utf8('b'), value: utf8('2') }));
    expect(onFollower.header!.revision).toBe(onLeader.header!.revision + 1);

    for (const s of members) {
      await until(`both writes applied on ${s.config.name}`, () => s.kv.currentRevision >= 3);
      expect(await valueOn(s, 'a')).toBe('1');
      expect(await valueOn(s, 'b')).toBe('2');
    }
    // A linearizable read on a follower goes through the leader's ReadIndex.
    const read = await follower.range(RangeRequest.create({ key: utf8('a') }));
    expect(text(read.kvs[0]?.value)).toBe('1');
  }, 30_000);

  it('drops what a peer may not send (a local message type, a response from a non-member) and goes on', async () => {
    const members = await cluster();
    await until('a leader', () => members.some((s) => s.isLeader()));
    const leader = members.find((s) => s.isLeader())!;
    const fatal: Error[] = [];
    leader.fatal$.subscribe((err) => fatal.push(err));
    leader.process(Message.create({ type: MessageType.MsgHup, from: 2n, to: leader.memberId }));
    leader.process(
      Message.create({
        type: MessageType.MsgAppResp,
        from: 0xdeadn,
        to: leader.memberId,
        term: leader.raftTerm,
      }),
    );
    const resp = await leader.put(PutRequest.create({ key: utf8('k'), value: utf8('v') }));
    expect(resp.header!.revision).toBe(2);
    expect(fatal).toEqual([]);
  }, 30_000);

  it('tells the transport of every member at start, and of a removal once it is applied', async () => {
    const members = await cluster();
    const ids = members.map((s) => s.memberId);
    for (const t of transports) expect([...t.told].sort()).toEqual([...ids].sort());
    await until('a leader', () => members.some((s) => s.isLeader()));
    const leader = members.find((s) => s.isLeader())!;
    const removed = members.find((s) => !s.isLeader())!;
    await leader.memberRemove(removed.memberId);
    const survivors = members.filter((s) => s !== removed);
    for (const s of survivors) {
      await until(`${s.config.name} applied the removal`, () => s.isIdRemoved(removed.memberId));
      expect(transports[members.indexOf(s)]!.told.has(removed.memberId)).toBe(false);
    }
    // The two left are a quorum of two.
    await leader.put(PutRequest.create({ key: utf8('after'), value: utf8('1') }));
    for (const s of survivors) await until(`${s.config.name} has the write`, () => s.kv.currentRevision >= 2);
  }, 30_000);
});
