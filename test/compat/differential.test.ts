// The same etcdctl script against a fresh real etcd 3.4 and a fresh target, answers compared
// step by step. Both stores start empty at revision 1, so revisions, versions, values, counts,
// orderings and error texts must all be equal; only what is not etcd's to fix is normalized:
// cluster/member IDs, raft terms, lease IDs (mapped to L1, L2, ... in order of grant), the
// remaining TTL, the order of a lease's attached keys, and clientv3's retry log lines on stderr.
// With XETCD_COMPAT_TARGETS=etcd the "target" is a second etcd, which validates the harness.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { ResourceScope } from '../helpers/scope.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { selectedTargets, startTarget, targetAvailable, type TargetName } from './targets.js';

interface Step {
  /** `$L1` etc. in args are replaced by the hex ID of the n-th lease granted in the script. */
  readonly args: readonly string[];
  readonly input?: string;
  /** Long-running commands (watch) are stopped after this long and their output so far kept. */
  readonly stopAfterMs?: number;
}

const s = (...args: string[]): Step => ({ args });
const txn = (input: string): Step => ({ args: ['txn', '-w', 'json'], input });

const SCRIPT: readonly Step[] = [
  s('get', 'a', '-w', 'json'),
  s('put', 'a', '1'),
  s('put', 'b', '2', '-w', 'json'),
  s('put', 'a', '3', '--prev-kv', '-w', 'json'),
  s('put', 'c/x', 'cx'),
  s('put', 'c/y', 'cy'),
  s('put', 'c/z', 'cz'),
  s('get', 'a', '-w', 'json'),
  s('get', 'c/', '--prefix', '-w', 'json'),
  s('get', 'c/', '--prefix', '--limit=2', '-w', 'json'),
  s('get', 'b', '--from-key', '--keys-only', '-w', 'json'),
  s('get', '', '--prefix', '--sort-by=MODIFY', '--order=DESCEND', '-w', 'json'),
  s('get', '', '--prefix', '--sort-by=VALUE', '--order=ASCEND', '--keys-only'),
  s('get', '', '--prefix', '--sort-by=VERSION', '--order=DESCEND', '--limit=1', '-w', 'json'),
  s('get', 'a', '--rev=2', '-w', 'json'),
  s('get', 'a', '--consistency=s', '-w', 'fields'),
  s('get', 'a', '--rev=1000'),
  txn('val("a") = "3"\nver("a") = "2"\n\nput a 4\nget c/ --prefix\ndel b --prev-kv\n\nput never 1\n\n'),
  txn('mod("a") < "3"\n\nput never 1\n\nget a\nput b again\n\n'),
  txn('c("zz") = "0"\n\nput zz new\n\n\n'),
  s('get', '', '--prefix', '-w', 'json'),
  s('lease', 'grant', '600'),
  s('put', 'leased/1', 'x', '--lease=$L1'),
  s('put', 'leased/2', 'y', '--lease=$L1'),
  s('get', 'leased/', '--prefix', '-w', 'json'),
  s('lease', 'timetolive', '$L1', '--keys'),
  s('put', 'leased/1', 'z', '--ignore-lease', '--prev-kv', '-w', 'json'),
  s('put', 'leased/2', '--ignore-value', '-w', 'json'),
  s('lease', 'keep-alive', '--once', '$L1'),
  s('lease', 'revoke', '$L1'),
  s('lease', 'timetolive', '$L1'),
  s('get', 'leased/', '--prefix', '-w', 'json'),
  s('put', 'x', 'y', '--lease=$L1'),
  s('lease', 'revoke', '$L1'),
  s('put', 'x', '--ignore-value'),
  s('put', '', 'empty'),
  s('del', 'c/', '--prefix', '--prev-kv', '-w', 'json'),
  s('del', 'nothing'),
  s('del', 'a', '--from-key'),
  s('get', '', '--prefix', '-w', 'json'),
  { args: ['watch', '', '--prefix', '--prev-kv', '--rev=1'], stopAfterMs: 3_000 },
  s('compaction', '5'),
  s('get', 'a', '--rev=4'),
  s('get', 'a', '--rev=5', '-w', 'json'),
  s('compaction', '5'),
  s('compaction', '1000'),
  { args: ['watch', 'a', '--rev=3'], stopAfterMs: 3_000 },
  s('put', 'end', 'end', '-w', 'json'),
];

interface Answer {
  readonly step: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly errors: string;
}

async function runScript(endpoint: string, script: readonly Step[]): Promise<Answer[]> {
  const leases: string[] = [];
  const answers: Answer[] = [];
  for (const st of script) {
    const args = st.args.map((a) =>
      a.replace(/\$L(\d+)/g, (_, n: string) => leases[Number(n) - 1] ?? 'ffff'),
    );
    const r = await runEtcdctl(args, {
      endpoints: endpoint,
      ...(st.input !== undefined ? { input: st.input } : {}),
      timeoutMs: st.stopAfterMs ?? 15_000,
    });
    const granted = /^lease ([0-9a-f]+) granted/.exec(r.stdout);
    if (granted) leases.push(granted[1]!);
    answers.push({
      step: st.args.join(' '),
      code: st.stopAfterMs !== undefined ? null : r.code,
      stdout: normalize(r.stdout, leases),
      errors: r.stderr
        .split('\n')
        .filter((l) => l.startsWith('Error:'))
        .join('\n'),
    });
  }
  return answers;
}

function normalize(text: string, leases: readonly string[]): string {
  let out = text
    .replace(/"(cluster_id|member_id|raft_term)":\d+,?/g, '')
    .replace(/"(ClusterID|MemberID|RaftTerm)" : \d+\n/g, '')
    .replace(/remaining\(\d+s\)/g, 'remaining(Ns)')
    // etcd lists a lease's keys from a map, in no fixed order.
    .replace(
      /attached keys\(\[([^\]]*)\]\)/g,
      (_, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`,
    )
    .replace(/"ttl":\d+/g, '"ttl":N');
  leases.forEach((hex, i) => {
    const dec = BigInt(`0x${hex}`).toString();
    out = out.replaceAll(hex, `L${i + 1}`).replaceAll(dec, `L${i + 1}`);
  });
  return out;
}

interface Pair {
  reference: ServerInstance;
  target: ServerInstance;
}

function describeDifferential(target: TargetName): void {
  describe.skipIf(!targetAvailable(target))(`differential: etcd 3.4 vs ${target}`, () => {
    const scope = new ResourceScope();
    let pair: Pair | null = null;
    beforeAll(async () => {
      const [d1, d2] = await Promise.all([
        makeTempDir('xetcd-diff-ref-'),
        makeTempDir(`xetcd-diff-${target}-`),
      ]);
      scope.defer('remove ref dir', () => d1!.remove());
      scope.defer('remove target dir', () => d2!.remove());
      const reference = await startTarget('etcd', d1!.path);
      scope.defer('stop reference etcd', () => reference.stop());
      const t = await startTarget(target, d2!.path);
      scope.defer(`stop ${target}`, () => t.stop());
      pair = { reference, target: t };
    });
    afterAll(() => scope.close());

    it('the same etcdctl script gets the same answers', async () => {
      const p = pair!;
      const [want, got] = await Promise.all([
        runScript(p.reference.endpoint, SCRIPT),
        runScript(p.target.endpoint, SCRIPT),
      ]);
      // Compare step by step so a failure names the first command that differs.
      for (let i = 0; i < want.length; i++) {
        expect(got[i], `step ${i}: etcdctl ${want[i]!.step}`).toEqual(want[i]);
      }
    });

    // etcd's HashKV is a CRC over the stored revisions and KeyValue encodings, so a member
    // of a mixed cluster can be checked against the others. Lease IDs are part of a KeyValue
    // and differ between servers; revision 10 is the last one before the script's leases.
    it('after the script both report the same revision, compact revision and KV hash', async () => {
      const p = pair!;
      const hash = async (ep: string): Promise<string> => {
        const r = await runEtcdctl(['endpoint', 'hashkv', '--rev=10', '-w', 'json'], { endpoints: ep });
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'));
        return normalize(r.stdout, []).replace(/"Endpoint":"[^"]*"/, '') + errors.join('\n');
      };
      const [want, got] = await Promise.all([hash(p.reference.endpoint), hash(p.target.endpoint)]);
      expect(got).toBe(want);
    });
  });
}

for (const t of selectedTargets()) describeDifferential(t);
