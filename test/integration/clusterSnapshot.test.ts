// A member that was down while the leader compacted its log past it catches
// up by snapshot, then by log: the leader's state travels over NATS (larger
// than NATS's max_payload, so in chunks) and replaces the follower's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';

const KEYS = 400;

describe('catching up by snapshot over NATS', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({
      size: 3,
      args: ['--snapshot-count', '100', '--experimental-snapshot-catchup-entries', '20'],
    });
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it('a follower down past a compaction gets the leader state whole, then the writes after it', async () => {
    const leader = await cluster.waitForLeader();
    const behind = cluster.members.find((m) => m !== leader)!;
    const client = leader.client();
    try {
      await client.put({ key: Buffer.from('before'), value: Buffer.from('1') });
      await behind.kill('SIGKILL');
      // Big values: the state is several MiB, more than one NATS message can hold.
      const value = Buffer.alloc(20_000, 'v');
      for (let i = 0; i < KEYS; i++) await client.put({ key: Buffer.from(`k${i}`), value });
      await client.deleteRange({ key: Buffer.from('before') });
      const lastPut = await client.put({ key: Buffer.from('last'), value: Buffer.from('x') });

      await behind.start();
      const c = behind.client();
      try {
        await until(async () => {
          const r = await c.range({ key: Buffer.from('last'), serializable: true });
          return r.kvs.length === 1;
        });
        expect(behind.output()).toMatch(/installed a snapshot from the leader/);
        const all = await c.range({
          key: Buffer.from('k'),
          rangeEnd: Buffer.from('l'),
          serializable: true,
          countOnly: true,
        });
        expect(all.count).toBe(KEYS);
        const gone = await c.range({ key: Buffer.from('before'), serializable: true });
        expect(gone.kvs).toHaveLength(0);
        const last = await c.range({ key: Buffer.from('last'), serializable: true });
        expect(last.kvs[0]!.modRevision).toBe(lastPut.header!.revision);
        // And it goes on replicating: a write after the install arrives by log.
        const after = await client.put({ key: Buffer.from('after'), value: Buffer.from('y') });
        await until(
          async () => (await c.range({ key: Buffer.from('after'), serializable: true })).kvs.length === 1,
        );
        const statuses = await Promise.all(cluster.members.map((m) => m.status()));
        expect(new Set(statuses.map((s) => s!.header!.revision)).size).toBeLessThanOrEqual(2);
        expect(after.header!.revision).toBeGreaterThan(lastPut.header!.revision);
      } finally {
        c.close();
      }
    } finally {
      client.close();
    }
  }, 120_000);
});

async function until(cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
