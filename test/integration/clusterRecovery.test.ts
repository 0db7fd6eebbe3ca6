// Recovery as etcd offers it, on real processes over NATS: --force-new-cluster
// brings back a cluster that lost its quorum for good from one survivor's data,
// and the corruption checks find a member whose key space went wrong on disk
// (the initial check refuses to serve; the leader's periodic check raises CORRUPT).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyValue } from '../../src/proto/mvccpb.js';
import { Backend } from '../../src/storage/backend/backend.js';
import { describeBackendKey, isRevisionKey } from '../../src/storage/backend/layout.js';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';
import { runEtcdctl } from '../helpers/etcdctl.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function until(cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Changes the stored value of `key` in a stopped member's key space, checksum and all: a silent disk fault. */
async function tamper(member: ClusterMember, key: string): Promise<void> {
  const backend = await Backend.open(join(member.dataDir, 'member', 'kv'), describeBackendKey);
  try {
    for await (const page of backend.records()) {
      for (const [dbKey] of page) {
        if (!isRevisionKey(dbKey)) continue;
        const payload = await backend.get(dbKey);
        const kv = KeyValue.decode(payload!);
        if (Buffer.from(kv.key).toString() !== key) continue;
        await backend.write(
          [{ type: 'put', key: dbKey, value: KeyValue.encode({ ...kv, value: Buffer.from('rotten') }) }],
          true,
        );
        return;
      }
    }
    throw new Error(`${key} not found in ${member.name}'s key space`);
  } finally {
    await backend.close();
  }
}

describe('--force-new-cluster', () => {
  it('a survivor of a lost quorum restarts as a cluster of one with its data, and stays one', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const [survivor, ...lost] = cluster.members;
    const ep = { endpoints: survivor!.endpoint };
    expect((await runEtcdctl(['put', 'kept', 'yes'], ep)).code).toBe(0);
    for (const m of lost) await m.kill('SIGKILL');
    // Without a quorum nothing is acknowledged.
    const refused = await runEtcdctl(['put', 'lost', 'no', '--command-timeout=2s'], ep);
    expect(refused.code).not.toBe(0);
    await survivor!.kill('SIGTERM');

    await survivor!.start({ args: ['--force-new-cluster'] });
    await until(async () => (await runEtcdctl(['put', 'after', 'yes'], ep)).code === 0);
    expect(survivor!.output()).toMatch(/forcing a new one-member cluster/);
    const list = await runEtcdctl(['member', 'list'], ep);
    expect(list.stdout.trim().split('\n')).toHaveLength(1);
    expect((await runEtcdctl(['get', 'kept', '--print-value-only'], ep)).stdout.trim()).toBe('yes');
    expect((await runEtcdctl(['get', 'lost'], ep)).stdout.trim()).toBe('');

    // Restarted without the flag it is still the one-member cluster it became.
    await survivor!.kill('SIGTERM');
    await survivor!.start();
    await until(async () => (await runEtcdctl(['put', 'again', 'yes'], ep)).code === 0);
    expect((await runEtcdctl(['member', 'list'], ep)).stdout.trim().split('\n')).toHaveLength(1);
  }, 90_000);
});

describe('corruption checks', () => {
  it('a member whose key space differs refuses to serve with --experimental-initial-corrupt-check', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const ep = { endpoints: leader.endpoint };
    expect((await runEtcdctl(['put', 'victim', 'good'], ep)).code).toBe(0);
    const bad = cluster.members.find((m) => m !== leader)!;
    await until(
      async () =>
        (
          await runEtcdctl(['get', 'victim', '--consistency=s', '--print-value-only'], {
            endpoints: bad.endpoint,
          })
        ).stdout.trim() === 'good',
    );
    await bad.kill('SIGTERM');
    await tamper(bad, 'victim');
    await bad.start({ args: ['--experimental-initial-corrupt-check'], waitReady: false });
    const exit = await bad.process!.exited;
    expect(exit.code).toBe(1);
    expect(bad.output()).toMatch(/found data inconsistency with peers/);
  }, 90_000);

  it("the leader's periodic check raises the CORRUPT alarm for a member that differs", async () => {
    cluster = await TestCluster.start({ size: 3, args: ['--experimental-corrupt-check-time', '1s'] });
    const leader = await cluster.waitForLeader();
    const ep = { endpoints: leader.endpoint };
    expect((await runEtcdctl(['put', 'victim', 'good'], ep)).code).toBe(0);
    const bad = cluster.members.find((m) => m !== leader)!;
    await until(
      async () =>
        (
          await runEtcdctl(['get', 'victim', '--consistency=s', '--print-value-only'], {
            endpoints: bad.endpoint,
          })
        ).stdout.trim() === 'good',
    );
    await bad.kill('SIGTERM');
    await tamper(bad, 'victim');
    await bad.start();
    await until(async () => (await runEtcdctl(['alarm', 'list'], ep)).stdout.includes('alarm:CORRUPT'));
    // Writes stop cluster-wide while CORRUPT is raised (etcd's corrupt applier).
    const put = await runEtcdctl(['put', 'x', 'y'], ep);
    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(/corrupt cluster/);
  }, 90_000);
});
