// --peer-key-file on a three-member cluster over a real nats-server: a rogue NATS client
// that publishes well-formed Raft traffic on the cluster's subjects (votes with huge
// terms, appends with entries, a forced election, a snapshot, replayed messages, messages
// sealed with another key, sent long ago, or claiming another sender) changes nothing: no
// term bump, no entry, no leader change; each is counted by reason. A member given another
// key never joins, and the logs say why; given the right key again it catches up.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InternalRaftRequest, PutRequest } from '../../src/proto/etcdserverpb.js';
import { EntryType, Message, MessageType } from '../../src/proto/raftpb.js';
import { PeerEnvelope, PeerFrame, PeerRequest } from '../../src/proto/xetcdpb.js';
import { PeerSeals, peerKeyFrom, type PeerKey } from '../../src/transport/peerSeal.js';
import { raftSubject, rpcSubject } from '../../src/transport/subjects.js';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';
import { httpGet } from '../helpers/probes.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';

const HUGE_TERM = 1_000_000_000;

async function until(cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** xetcd_peer_rejected_messages_total by reason, as a member's /metrics shows it. */
async function rejected(m: ClusterMember): Promise<Record<string, number>> {
  const text = (await httpGet(`${m.endpoint}/metrics`, 2_000)).body;
  const out: Record<string, number> = {};
  for (const [, reason, n] of text.matchAll(
    /^xetcd_peer_rejected_messages_total\{reason="([^"]+)"\} (\d+)/gm,
  ))
    out[reason!] = Number(n);
  return out;
}

describe('peer security: --peer-key-file against a rogue NATS client', () => {
  let dir: TempDir;
  let cluster: TestCluster;
  let rogue: NatsConnection;
  let keyFile: string;
  let key: PeerKey;

  beforeAll(async () => {
    dir = await makeTempDir('xetcd-peer-key-');
    keyFile = join(dir.path, 'peer.key');
    await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`);
    const parsed = peerKeyFrom(Buffer.from((await import('node:fs')).readFileSync(keyFile)));
    if (typeof parsed === 'string') throw new Error(parsed);
    key = parsed;
    cluster = await TestCluster.start({ size: 3, args: ['--peer-key-file', keyFile] });
    rogue = await connect({ servers: cluster.natsUrl });
  }, 60_000);

  afterAll(async () => {
    await rogue?.close();
    await cluster?.stop();
    await dir?.remove();
  });

  it('well-formed Raft traffic without the key (or replayed, stale, forged) changes nothing', async () => {
    const leader = await cluster.waitForLeader();
    const client = leader.client();
    await client.put({ key: Buffer.from('before'), value: Buffer.from('1') });
    client.close();
    const statuses = await Promise.all(cluster.members.map((m) => m.status()));
    const clusterId = statuses[0]!.header!.clusterId;
    const ids = statuses.map((s) => s!.header!.memberId);
    const term = statuses[0]!.raftTerm;
    const revision = Math.max(...statuses.map((s) => s!.header!.revision));

    // Legitimate traffic, captured to be replayed.
    const captured: Array<{ subject: string; data: Uint8Array }> = [];
    const tap = rogue.subscribe(`xetcd.${clusterId.toString(16)}.raft.*`, {
      callback: (_err, msg) => {
        captured.push({ subject: msg.subject, data: Uint8Array.from(msg.data) });
      },
    });
    await until(async () => captured.length >= 30, 10_000);
    tap.unsubscribe();

    const put = InternalRaftRequest.encode(
      InternalRaftRequest.create({
        id: 1n,
        put: PutRequest.create({ key: Buffer.from('rogue'), value: Buffer.from('x') }),
      }),
    );
    const attacks = (from: bigint, to: bigint): Message[] => [
      Message.create({
        type: MessageType.MsgVote,
        from,
        to,
        term: HUGE_TERM,
        logTerm: HUGE_TERM,
        index: HUGE_TERM,
      }),
      Message.create({
        type: MessageType.MsgPreVote,
        from,
        to,
        term: HUGE_TERM,
        logTerm: HUGE_TERM,
        index: HUGE_TERM,
      }),
      Message.create({
        type: MessageType.MsgApp,
        from,
        to,
        term: HUGE_TERM,
        index: 1_000,
        logTerm: 1,
        commit: 1_001,
        entries: [{ term: HUGE_TERM, index: 1_001, type: EntryType.EntryNormal, data: put }],
      }),
      Message.create({ type: MessageType.MsgHeartbeat, from, to, term: HUGE_TERM, commit: 1_000_000 }),
      Message.create({ type: MessageType.MsgTimeoutNow, from, to, term }),
    ];
    const frame = (from: bigint, to: bigint, messages = attacks(from, to)): Uint8Array =>
      PeerFrame.encode(PeerFrame.create({ clusterId, from, to, batch: { messages } }));
    const snapshot = (from: bigint, to: bigint): Uint8Array =>
      PeerFrame.encode(
        PeerFrame.create({
          clusterId,
          from,
          to,
          snapshotChunk: {
            transferId: 1,
            seq: 0,
            message: Message.create({
              type: MessageType.MsgSnap,
              from,
              to,
              term: HUGE_TERM,
              snapshot: { data: new Uint8Array(0), metadata: { index: 1_000_000, term: HUGE_TERM } },
            }),
            data: randomBytes(64),
            last: true,
            totalBytes: 64,
            crc32: 0,
          },
        }),
      );
    const wrongKey = peerKeyFrom(randomBytes(32)) as PeerKey;
    for (const [i, to] of ids.entries()) {
      const from = ids[(i + 1) % ids.length]!;
      const subject = raftSubject(clusterId, to);
      const asFrom = (k: PeerKey | undefined, now?: () => number): PeerSeals =>
        new PeerSeals({ ...(k ? { key: k } : {}), clusterId, self: from, ...(now ? { now } : {}) });
      for (const body of [frame(from, to), snapshot(from, to)]) {
        rogue.publish(subject, PeerEnvelope.encode({ payload: body }));
        rogue.publish(subject, body);
        rogue.publish(subject, asFrom(wrongKey).seal('frame', to, body));
        rogue.publish(subject, asFrom(key, () => Date.now() - 600_000).seal('frame', to, body));
        // The right key, but the frame says it comes from another member than the seal.
        const other = ids.find((id) => id !== from && id !== to)!;
        rogue.publish(subject, asFrom(key).seal('frame', to, frame(other, to)));
      }
      rogue.publish(
        rpcSubject(clusterId, to),
        PeerEnvelope.encode({
          payload: PeerRequest.encode({ clusterId, from, memberPromote: { id: from } }),
        }),
      );
    }
    for (const { subject, data } of captured) rogue.publish(subject, data);
    await rogue.flush();
    await new Promise((r) => setTimeout(r, 3_000));

    const after = await Promise.all(cluster.members.map((m) => m.status()));
    for (const s of after) {
      expect(s!.raftTerm).toBe(term);
      expect(s!.leader).toBe(statuses[0]!.leader);
      expect(s!.header!.revision).toBe(revision);
    }
    const seen: Record<string, number> = {};
    for (const m of cluster.members)
      for (const [reason, n] of Object.entries(await rejected(m))) seen[reason] = (seen[reason] ?? 0) + n;
    for (const reason of ['missing-mac', 'bad-mac', 'stale', 'sender-mismatch', 'replay'])
      expect(seen[reason], `${reason} in ${JSON.stringify(seen)}`).toBeGreaterThan(0);

    // And the cluster goes on as before.
    const c = leader.client();
    await c.put({ key: Buffer.from('after'), value: Buffer.from('2') });
    expect((await c.range({ key: Buffer.from('rogue') })).kvs).toHaveLength(0);
    c.close();
  }, 60_000);

  it('a member with another key never joins, and the logs say why; with the right key it catches up', async () => {
    const leader = await cluster.waitForLeader();
    const stray = cluster.members.find((m) => m !== leader)!;
    const otherKey = join(dir.path, 'other.key');
    await writeFile(otherKey, randomBytes(32).toString('hex'));
    await stray.kill('SIGTERM');
    // It never hears a leader, so it never publishes itself and never serves clients.
    await stray.start({ args: ['--peer-key-file', otherKey], waitReady: false });
    const c = leader.client();
    await c.put({ key: Buffer.from('while-apart'), value: Buffer.from('3') });
    await until(async () => /failed its MAC: its sender has another --peer-key-file/.test(stray.output()));
    expect(stray.output()).toMatch(/publishing member attributes failed/);
    expect(await stray.status()).toBeUndefined();
    expect(leader.output()).toMatch(/failed its MAC: its sender has another --peer-key-file/);

    await stray.kill('SIGTERM');
    await stray.start();
    await cluster.waitForLeader();
    const s = stray.client();
    await until(
      async () => (await s.range({ key: Buffer.from('while-apart'), serializable: true })).kvs.length === 1,
    );
    s.close();
    c.close();
  }, 60_000);
});
