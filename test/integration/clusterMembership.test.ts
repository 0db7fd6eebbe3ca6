// Membership at run time on a real cluster over NATS, driven by etcdctl as an
// operator would: add a member and start it with --initial-cluster-state
// existing, add a learner and promote it, remove members (a running one stops
// itself; one that was down is told when it comes back), and etcd's refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';
import { runEtcdctl } from '../helpers/etcdctl.js';

interface MemberJson {
  ID: number | string;
  name: string;
  peerURLs: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

describe('membership changes on a running cluster', () => {
  let cluster: TestCluster;
  const ctl = (args: string[], on: readonly ClusterMember[] = cluster.running()) =>
    runEtcdctl(args, { endpoints: cluster.endpoints(on), timeoutMs: 20_000 });
  const members = async (): Promise<MemberJson[]> => {
    const r = await ctl(['member', 'list', '-w', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { members: MemberJson[] }).members;
  };
  /** etcdctl prints IDs in JSON as decimal numbers that lose precision: find members by peer URL. */
  const hexIdOf = async (m: ClusterMember): Promise<string> => {
    const r = await ctl(['member', 'list']);
    const line = r.stdout.split('\n').find((l) => l.includes(m.peerUrl));
    if (line === undefined) throw new Error(`${m.name} is not in the member list:\n${r.stdout}`);
    return line.split(',')[0]!.trim();
  };

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it('a member added with etcdctl joins with --initial-cluster-state existing and has the data', async () => {
    expect((await ctl(['put', 'before-join', 'v'])).code).toBe(0);
    const m4 = await cluster.addMember('m4');
    const add = await ctl(['member', 'add', 'm4', `--peer-urls=${m4.peerUrl}`]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/Member\s+[0-9a-f]+ added to cluster\s+[0-9a-f]+/);
    await m4.start({ state: 'existing' });
    await cluster.waitForLeader();
    const get = await runEtcdctl(['get', 'before-join', '--print-value-only'], { endpoints: m4.endpoint });
    expect(get.stdout.trim()).toBe('v');
    const listed = await members();
    expect(listed.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3', 'm4']);
  }, 60_000);

  it("etcd's refusals: a peer URL already taken, a promotion of a voter, an unknown member", async () => {
    const taken = await ctl(['member', 'add', 'again', `--peer-urls=${cluster.members[0]!.peerUrl}`]);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/Peer URLs already exists/);
    const voter = await hexIdOf(cluster.members[1]!);
    const promote = await ctl(['member', 'promote', voter]);
    expect(promote.code).not.toBe(0);
    expect(promote.stderr).toMatch(/can only promote a learner member/);
    const unknown = await ctl(['member', 'remove', 'abcdef0123456789']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/member not found/);
  });

  it('a learner joins, catches up, and is promoted to a voter', async () => {
    const m5 = await cluster.addMember('m5');
    const add = await ctl(['member', 'add', 'm5', `--peer-urls=${m5.peerUrl}`, '--learner']);
    expect(add.code, add.stderr).toBe(0);
    await m5.start({ state: 'existing' });
    const id = await hexIdOf(m5);
    // Asked of a follower, which forwards it: only the leader knows whether the learner caught up.
    const leader = await cluster.waitForLeader();
    const follower = cluster.running().find((m) => m !== leader && m !== m5)!;
    let promoted = '';
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const r = await ctl(['member', 'promote', id], [follower]);
      if (r.code === 0) {
        promoted = r.stdout;
        break;
      }
      // Until it has caught up, etcd's answer is the learner-not-ready error.
      expect(r.stderr).toMatch(/can only promote a learner member which is in sync with leader/);
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(promoted).toMatch(/promoted in cluster/);
    const listed = await members();
    expect(listed.find((m) => m.name === 'm5')?.isLearner ?? false).toBe(false);
  }, 60_000);

  it('a removed member stops itself, exit 0, and the rest go on', async () => {
    const leader = await cluster.waitForLeader();
    const victim = cluster.members.find((m) => m !== leader && m.running)!;
    const id = await hexIdOf(victim);
    const r = await ctl(
      ['member', 'remove', id],
      cluster.running().filter((m) => m !== victim),
    );
    expect(r.code, r.stderr).toBe(0);
    const exit = await Promise.race([
      victim.process!.exited,
      new Promise<'still running'>((res) => setTimeout(() => res('still running'), 15_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(victim.output()).toMatch(/permanently removed from the cluster/);
    expect((await ctl(['put', 'after-remove', 'v'], cluster.running())).code).toBe(0);
    expect((await members()).some((m) => m.name === victim.name)).toBe(false);
  }, 60_000);

  it('a member removed while it was down is told so when it comes back, and stops', async () => {
    const leader = await cluster.waitForLeader();
    const victim = cluster.running().find((m) => m !== leader)!;
    const id = await hexIdOf(victim);
    await victim.kill('SIGKILL');
    const r = await ctl(['member', 'remove', id]);
    expect(r.code, r.stderr).toBe(0);
    await victim.start({ waitReady: false });
    const exit = await Promise.race([
      victim.process!.exited,
      new Promise<'still running'>((res) => setTimeout(() => res('still running'), 20_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(victim.output()).toMatch(/says this member was removed from the cluster/);
  }, 60_000);
});
