// etcdctl 3.4 maintenance and cluster commands against one member: endpoint health/status/
// hashkv, member list, snapshot save (+ offline snapshot status), defrag, alarm list/disarm
// under a small backend quota, and check perf.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { describeTargets } from './targets.js';
import { etcdctl, type JsonHeader } from './etcdctlSession.js';

interface JsonStatus {
  Endpoint: string;
  Status: {
    header: JsonHeader;
    version: string;
    dbSize: number;
    leader: string | number;
    raftIndex: number;
    raftTerm: number;
    raftAppliedIndex?: number;
    dbSizeInUse?: number;
    errors?: string[];
  };
}

interface JsonHashKv {
  Endpoint: string;
  HashKV: { header: JsonHeader; hash: number; compact_revision?: number };
}

interface JsonMemberList {
  header: JsonHeader;
  members: {
    ID: string | number;
    name: string;
    peerURLs: string[];
    clientURLs: string[];
    isLearner?: boolean;
  }[];
}

describeTargets('etcdctl maintenance', (ctx) => {
  const ctl = etcdctl(ctx);

  it('endpoint health: healthy, in simple and json output', async () => {
    const r = await ctl.run(['endpoint', 'health']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`^${ctx.endpoint()} is healthy: successfully committed proposal: took = \\S+\\n$`, 'm'),
    );
    const j = await ctl.json<{ endpoint: string; health: boolean; took: string }[]>(['endpoint', 'health']);
    expect(j).toEqual([{ endpoint: ctx.endpoint(), health: true, took: expect.any(String) }]);
  });

  it('endpoint status: this member is the leader, a 3.4 version, indexes that move with writes', async () => {
    const [before] = await ctl.json<JsonStatus[]>(['endpoint', 'status']);
    expect(before!.Endpoint).toBe(ctx.endpoint());
    const s = before!.Status;
    expect(s.version).toMatch(/^3\.4\.\d+$/);
    expect(String(s.leader)).toBe(String(s.header.member_id));
    expect(s.dbSize).toBeGreaterThan(0);
    // A fresh one-member cluster: etcd bootstraps at term 1 and its first election makes term 2.
    expect(s.raftTerm).toBe(2);
    expect(s.raftIndex).toBeGreaterThan(0);
    expect(s.raftAppliedIndex).toBe(s.raftIndex);
    expect(s.errors).toBeUndefined();

    await ctl.ok(['put', '/status/k', 'v']);
    const [after] = await ctl.json<JsonStatus[]>(['endpoint', 'status']);
    expect(after!.Status.raftIndex).toBe(s.raftIndex + 1);
    expect(after!.Status.header.revision).toBe((s.header.revision ?? 0) + 1);

    const simple = await ctl.ok(['endpoint', 'status']);
    const memberHex = BigInt(String(s.header.member_id)).toString(16);
    expect(simple).toMatch(
      new RegExp(
        `^${ctx.endpoint()}, ${memberHex}, 3\\.4\\.\\d+, [\\d.]+ [kMG]?B, true, false, \\d+, \\d+, \\d+, \\n$`,
      ),
    );
  });

  it('endpoint hashkv: stable for a revision, unchanged by later writes, changed by new data', async () => {
    await ctl.ok(['put', '/hash/a', '1']);
    const rev = await ctl.revision();
    const [h1] = await ctl.json<JsonHashKv[]>(['endpoint', 'hashkv']);
    const [h2] = await ctl.json<JsonHashKv[]>(['endpoint', 'hashkv', `--rev=${rev}`]);
    expect(h1!.HashKV.hash).toBe(h2!.HashKV.hash);
    expect(h1!.HashKV.header.revision).toBe(rev);

    await ctl.ok(['put', '/hash/b', '2']);
    const [h3] = await ctl.json<JsonHashKv[]>(['endpoint', 'hashkv', `--rev=${rev}`]);
    expect(h3!.HashKV.hash).toBe(h1!.HashKV.hash);
    // Like every response header, HashKV's carries the current revision, not the one hashed.
    expect(h3!.HashKV.header.revision).toBe(rev + 1);
    const [h4] = await ctl.json<JsonHashKv[]>(['endpoint', 'hashkv']);
    expect(h4!.HashKV.hash).not.toBe(h1!.HashKV.hash);
    expect(await ctl.ok(['endpoint', 'hashkv'])).toBe(`${ctx.endpoint()}, ${h4!.HashKV.hash}\n`);
  });

  it('member list: one started member with its name, peer and client URLs', async () => {
    const server = ctx.server();
    const j = await ctl.json<JsonMemberList>(['member', 'list']);
    expect(j.members).toHaveLength(1);
    const m = j.members[0]!;
    expect(m).toMatchObject({ name: server.name, peerURLs: [server.peerUrl], clientURLs: [server.endpoint] });
    expect(String(m.ID)).toBe(String(j.header.member_id));
    const hex = BigInt(String(m.ID)).toString(16);
    expect(await ctl.ok(['member', 'list'])).toBe(
      `${hex}, started, ${server.name}, ${server.peerUrl}, ${server.endpoint}, false\n`,
    );
  });

  it('endpoint health/status --cluster reach the member through the client URLs member list gives', async () => {
    const h = await ctl.run(['endpoint', 'health', '--cluster']);
    expect(h.code, h.stderr).toBe(0);
    expect(h.stderr).toContain(`${ctx.endpoint()} is healthy: successfully committed proposal`);
    const [st] = await ctl.json<JsonStatus[]>(['endpoint', 'status', '--cluster']);
    expect(st!.Endpoint).toBe(ctx.endpoint());
  });

  it('snapshot save writes a file that etcdctl snapshot status reads (revision, keys)', async () => {
    await ctl.ok(['put', '/snap/k', 'v']);
    const rev = await ctl.revision();
    const file = join(await ctx.tempDir(), 'snap.db');
    const out = await ctl.ok(['snapshot', 'save', file]);
    expect(out).toBe(`Snapshot saved at ${file}\n`);
    expect(existsSync(file)).toBe(true);
    expect(existsSync(`${file}.part`)).toBe(false);
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(0);

    const status = await runEtcdctl(['snapshot', 'status', file, '-w', 'json'], {
      endpoints: ctx.endpoint(),
    });
    expect(status.code, status.stderr).toBe(0);
    const j = JSON.parse(status.stdout) as {
      hash: number;
      revision: number;
      totalKey: number;
      totalSize: number;
    };
    expect(j.revision).toBe(rev);
    expect(j.totalKey).toBeGreaterThan(0);
    // The saved file is the database plus a SHA-256 trailer the server appends.
    expect(j.totalSize).toBeGreaterThan(0);
    expect(j.totalSize).toBeLessThanOrEqual(size - 32);
  });

  it('defrag finishes and the data is intact', async () => {
    await ctl.ok(['put', '/defrag/k', 'still here']);
    expect(await ctl.ok(['defrag'])).toBe(`Finished defragmenting etcd member[${ctx.endpoint()}]\n`);
    expect(await ctl.ok(['get', '/defrag/k', '--print-value-only'])).toBe('still here\n');
  });

  it('alarm list is empty and alarm disarm is a no-op on a healthy member', async () => {
    expect(await ctl.ok(['alarm', 'list'])).toBe('');
    expect(await ctl.ok(['alarm', 'disarm'])).toBe('');
  });

  it('check perf --load=s runs for its minute and prints its summary', { timeout: 150_000 }, async () => {
    const r = await ctl.run(['check', 'perf', '--load=s'], undefined, 140_000);
    expect(r.timedOut).toBe(false);
    // The verdict depends on the machine; the summary lines must all be there. They follow
    // the progress bar's last carriage return on the same line, so they are not anchored.
    const out = r.stdout;
    // etcdctl words a failed check differently, e.g. "Slowest request took too long: 0.53s".
    expect(out).toMatch(/PASS: Throughput is \d+ writes\/s|FAIL: Throughput too low: \d+ writes\/s/);
    expect(out).toMatch(/PASS: Slowest request took [\d.]+s|Slowest request took too long: [\d.]+s/);
    expect(out).toMatch(/PASS: Stddev is [\d.]+s|Stddev too high: [\d.]+s/);
    expect(out).toMatch(/^(PASS|FAIL)$/m);
    expect(out).not.toMatch(/error/i);
    if (r.code !== 0) expect(out + r.stderr).toMatch(/FAIL/);
    // It cleans up its prefix afterwards.
    expect(await ctl.ok(['get', '/etcdctl-check-perf/', '--prefix', '--keys-only', '--limit=1'])).toBe('');
  });
});

// A member with a tiny backend quota: filling it raises NOSPACE; writes fail with etcd's error
// until space is freed and the alarm disarmed.
describeTargets(
  'etcdctl alarm (NOSPACE)',
  (ctx) => {
    const ctl = etcdctl(ctx);

    it('fills the quota, lists the NOSPACE alarm, refuses writes, recovers after compact+defrag+disarm', async () => {
      const value = 'x'.repeat(100_000);
      let failure = '';
      for (let i = 0; i < 200 && failure === ''; i++) {
        const r = await ctl.run(['put', `/quota/${i}`], value);
        if (r.code !== 0) failure = r.stderr;
      }
      expect(failure).toContain('Error: etcdserver: mvcc: database space exceeded');

      const alarms = await ctl.ok(['alarm', 'list']);
      const memberId = BigInt(
        String((await ctl.json<{ header: JsonHeader }>(['get', 'x'])).header.member_id),
      ).toString();
      expect(alarms).toBe(`memberID:${memberId} alarm:NOSPACE \n`);

      // While the alarm is active, small writes fail too; reads and deletes still work.
      await ctl.fails(['put', '/quota/small', 'v'], 'etcdserver: mvcc: database space exceeded', {
        code: 'ResourceExhausted',
      });
      expect(await ctl.ok(['get', '/quota/0', '--keys-only'])).toBe('/quota/0\n\n');
      expect(Number((await ctl.ok(['del', '/quota/', '--prefix'])).trim())).toBeGreaterThan(0);

      const rev = await ctl.revision();
      await ctl.ok(['compaction', '--physical', String(rev)]);
      await ctl.ok(['defrag']);
      expect(await ctl.ok(['alarm', 'disarm'])).toBe(`memberID:${memberId} alarm:NOSPACE \n`);
      expect(await ctl.ok(['alarm', 'list'])).toBe('');
      expect(await ctl.ok(['put', '/quota/after', 'ok'])).toBe('OK\n');
    });
  },
  { serverArgs: { etcd: ['--quota-backend-bytes=1048576'], xetcd: ['--quota-backend-bytes=1048576'] } },
);

// Membership changes a one-member cluster can answer: the member's own update, a learner that
// never starts (it does not count towards quorum, so the member keeps serving), and the errors.
describeTargets('etcdctl member add/update/promote/remove, move-leader', (ctx) => {
  const ctl = etcdctl(ctx);
  const hex = (id: string | number): string => BigInt(String(id)).toString(16);

  it('answers as etcd for one member and an unstarted learner', async () => {
    const server = ctx.server();
    const list = await ctl.json<JsonMemberList>(['member', 'list']);
    const self = hex(list.members[0]!.ID);
    const cluster = hex(list.header.cluster_id!);

    await ctl.fails(['member', 'promote', self], 'etcdserver: can only promote a learner member', {
      code: 'FailedPrecondition',
    });
    await ctl.fails(['member', 'remove', '1234'], 'etcdserver: member not found', { code: 'NotFound' });
    expect(await ctl.ok(['member', 'update', self, `--peer-urls=${server.peerUrl}`])).toBe(
      `Member ${self.padStart(16)} updated in cluster ${cluster.padStart(16)}\n`,
    );

    const added = await ctl.ok(['member', 'add', 'learner1', '--peer-urls=http://127.0.0.1:1', '--learner']);
    const m = /^Member ([0-9a-f ]{16}) added to cluster ([0-9a-f ]{16})\n\n/.exec(added);
    expect(m, added).not.toBeNull();
    const learner = m![1]!.trim();
    expect(m![2]!.trim()).toBe(cluster);
    const env = Object.fromEntries([...added.matchAll(/^(ETCD_\w+)="(.*)"$/gm)].map((x) => [x[1], x[2]]));
    expect(env['ETCD_NAME']).toBe('learner1');
    expect(env['ETCD_INITIAL_CLUSTER']?.split(',').sort()).toEqual(
      [`${server.name}=${server.peerUrl}`, 'learner1=http://127.0.0.1:1'].sort(),
    );
    expect(env['ETCD_INITIAL_ADVERTISE_PEER_URLS']).toBe('http://127.0.0.1:1');
    expect(env['ETCD_INITIAL_CLUSTER_STATE']).toBe('existing');

    const withLearner = (await ctl.ok(['member', 'list'])).split('\n').filter(Boolean).sort();
    expect(withLearner).toEqual(
      [
        `${self}, started, ${server.name}, ${server.peerUrl}, ${server.endpoint}, false`,
        `${learner}, unstarted, , http://127.0.0.1:1, , true`,
      ].sort(),
    );
    // The learner does not count towards quorum: writes still commit.
    expect(await ctl.ok(['put', '/member/k', 'v'])).toBe('OK\n');
    await ctl.fails(
      ['member', 'promote', learner],
      'etcdserver: can only promote a learner member which is in sync with leader',
      {
        code: 'FailedPrecondition',
      },
    );
    await ctl.fails(
      ['member', 'add', 'learner2', '--peer-urls=http://127.0.0.1:2', '--learner'],
      'etcdserver: too many learner members in cluster',
      {
        code: 'FailedPrecondition',
      },
    );

    expect(await ctl.ok(['member', 'remove', learner])).toBe(
      `Member ${learner.padStart(16)} removed from cluster ${cluster.padStart(16)}\n`,
    );
    expect(await ctl.ok(['member', 'list'])).toBe(
      `${self}, started, ${server.name}, ${server.peerUrl}, ${server.endpoint}, false\n`,
    );
    expect(await ctl.ok(['put', '/member/k', 'w'])).toBe('OK\n');
  });

  it('move-leader to itself is a no-op transfer', async () => {
    const self = hex((await ctl.json<JsonMemberList>(['member', 'list'])).members[0]!.ID);
    expect(await ctl.ok(['move-leader', self])).toBe(`Leadership transferred from ${self} to ${self}\n`);
  });
});
