// Three xetcd processes over a real nats-server form one cluster: one leader,
// writes through any member, linearizable reads on every member, the member
// list and status as etcdctl shows them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import { runEtcdctl } from '../helpers/etcdctl.js';

describe('a three-member cluster over NATS', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it('elects one leader that every member names', async () => {
    const leader = await cluster.waitForLeader();
    const statuses = await Promise.all(cluster.members.map((m) => m.status()));
    expect(new Set(statuses.map((s) => s!.leader))).toEqual(new Set([statuses[0]!.leader]));
    expect(statuses.map((s) => s!.header!.memberId)).toContain(statuses[0]!.leader);
    expect(leader.running).toBe(true);
  });

  it('a write through a follower is read linearizably on every member', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const client = follower.client();
    try {
      const put = await client.put({ key: Buffer.from('greeting'), value: Buffer.from('hello') });
      for (const m of cluster.members) {
        const c = m.client();
        try {
          const r = await c.range({ key: Buffer.from('greeting') });
          expect(Buffer.from(r.kvs[0]!.value).toString()).toBe('hello');
          expect(r.header!.revision).toBeGreaterThanOrEqual(put.header!.revision);
        } finally {
          c.close();
        }
      }
    } finally {
      client.close();
    }
  });

  it('etcdctl lists the members with their names and client URLs, and each endpoint reports status', async () => {
    const endpoints = cluster.endpoints().join(',');
    const list = await runEtcdctl(['member', 'list', '-w', 'json'], { endpoints });
    expect(list.code).toBe(0);
    const members = (JSON.parse(list.stdout) as { members: { name: string; clientURLs: string[] }[] })
      .members;
    expect(members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    for (const m of members) expect(m.clientURLs).toHaveLength(1);
    const status = await runEtcdctl(['endpoint', 'status', '--cluster', '-w', 'json'], {
      endpoints: cluster.members[0]!.endpoint,
    });
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout) as { Status: { leader: number; raft_index: number } }[];
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r.Status.leader)).size).toBe(1);
  });
});
