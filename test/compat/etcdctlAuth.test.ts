// One etcdctl session of users, roles, permissions and auth on/off against a fresh real
// etcd 3.4 and a fresh target, answers compared step by step (stdout, the `Error:` lines,
// the exit code, and the gRPC code and text of every failed attempt clientv3 logs). The
// script is a user's session: root and role set-up, `auth enable`, anonymous requests,
// `--user` requests allowed and refused per key, range, prefix and from-key, txns, leases,
// watches, the root-only RPCs, password changes, deletions, bad input, `auth disable`.
// Both servers run with --bcrypt-cost=4 so that each `--user` costs little time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { ResourceScope } from '../helpers/scope.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { selectedTargets, startTarget, targetAvailable, type TargetName } from './targets.js';

interface Step {
  readonly args: readonly string[];
  readonly input?: string;
  /** Long-running commands (watch) are stopped after this long and their output so far kept. */
  readonly stopAfterMs?: number;
}

const ROOT = ['--user', 'root:rootpw'];
const U3 = ['--user', 'u3:pw3'];
const s = (...args: string[]): Step => ({ args });
const root = (...args: string[]): Step => ({ args: [...ROOT, ...args] });
const u3 = (...args: string[]): Step => ({ args: [...U3, ...args] });
const LONG_NAME = 'n'.repeat(3000);
const LONG_PASSWORD = 'p'.repeat(80);
// bcrypt reads 72 bytes of a password: etcd's and xetcd's hashes both ignore the rest.
const LONG_PASSWORD_SAME_PREFIX = `${'p'.repeat(72)}${'q'.repeat(8)}`;

const SCRIPT: readonly Step[] = [
  s('user', 'add', 'root:rootpw'),
  s('user', 'add', 'u1', '--new-user-password=', '--interactive=false'),
  s('user', 'add', 'u2', '--no-password'),
  s('user', 'add', 'u3:pw3'),
  s('user', 'add', 'u3:again'),
  s('user', 'list'),
  s('user', 'get', 'root'),
  s('role', 'list'),
  s('auth', 'disable'),
  // Without a root role etcdctl adds it and grants it to root, then enables again.
  s('auth', 'enable'),
  s('auth', 'enable'),
  s('role', 'list'),
  s('get', 'a'),
  s('put', 'a', '1'),
  s('user', 'list'),
  root('role', 'list'),
  root('role', 'get', 'root'),
  root('user', 'get', 'root', '--detail'),
  root('put', 'a', '1'),
  root('put', 'b/1', 'b1'),
  root('put', 'p/1', 'p1'),
  root('put', 'z', 'zz'),
  root('put', 'k1', 'v1'),
  root('role', 'add', 'r1'),
  root('role', 'add', 'r1'),
  root('role', 'add', ''),
  root('role', 'grant-permission', 'r1', 'readwrite', 'k1'),
  root('role', 'grant-permission', 'r1', 'read', 'a', 'c'),
  root('role', 'grant-permission', 'r1', 'write', '--prefix', 'p/'),
  root('role', 'grant-permission', 'r1', 'read', '--from-key', 'z'),
  root('role', 'grant-permission', 'r1', 'readwrite', 'y', 'x'),
  root('role', 'grant-permission', 'r1', 'read', ''),
  root('role', 'grant-permission', 'r1', 'write', 'k1'),
  root('role', 'grant-permission', 'r1', 'readwrite', 'k1'),
  root('role', 'grant-permission', 'nosuch', 'read', 'a'),
  root('role', 'get', 'r1'),
  root('role', 'revoke-permission', 'r1', 'y', 'x'),
  root('role', 'revoke-permission', 'r1', 'y', 'x'),
  root('role', 'revoke-permission', 'nosuch', 'a'),
  root('role', 'get', 'nosuch'),
  root('user', 'grant-role', 'u3', 'r1'),
  root('user', 'grant-role', 'u3', 'r1'),
  root('user', 'grant-role', 'u3', 'nosuch'),
  root('user', 'grant-role', 'nosuch', 'r1'),
  root('user', 'revoke-role', 'u3', 'root'),
  root('user', 'revoke-role', 'nosuch', 'r1'),
  root('user', 'get', 'u3', '--detail'),
  // Keys, ranges, prefixes and from-key: allowed only where a permission covers all of it.
  u3('get', 'a'),
  u3('get', 'b'),
  u3('get', 'a', 'b'),
  u3('get', 'a', 'c'),
  u3('get', 'a', 'd'),
  u3('get', 'b', 'a'),
  u3('get', 'z', '--from-key'),
  u3('get', 'y', '--from-key'),
  u3('get', 'p/', '--prefix'),
  u3('get', '', '--prefix'),
  u3('get', 'k1'),
  u3('put', 'k1', 'mine'),
  u3('put', 'k1', 'again', '--prev-kv'),
  u3('put', 'a', 'no'),
  u3('put', 'p/2', 'ok'),
  u3('put', 'p/3', 'ok', '--prev-kv'),
  u3('del', 'p/2'),
  u3('del', 'p/', '--prefix'),
  u3('del', 'p/', '--prefix', '--prev-kv'),
  u3('del', 'a'),
  { args: [...U3, 'txn', '-w', 'json'], input: 'val("k1") = "again"\n\nput k1 txn\n\nget a\n\n' },
  { args: [...U3, 'txn', '-w', 'json'], input: 'val("b/1") = "b1"\n\nput k1 txn\n\n\n' },
  { args: [...U3, 'txn', '-w', 'json'], input: 'val("k1") = "x"\n\nput k1 x\n\nput a x\n\n' },
  { args: [...U3, 'txn', '-w', 'json'], input: '\n\nget a c\n\nget b/1\n\n' },
  u3('lease', 'grant', '600'),
  u3('user', 'get', 'u3'),
  u3('user', 'get', 'root'),
  u3('user', 'list'),
  u3('role', 'get', 'r1'),
  u3('role', 'get', 'root'),
  u3('role', 'list'),
  u3('user', 'add', 'u9:x'),
  u3('role', 'add', 'r9'),
  u3('user', 'grant-role', 'u3', 'root'),
  u3('auth', 'disable'),
  u3('defrag'),
  u3('endpoint', 'hashkv'),
  u3('member', 'add', 'x', '--peer-urls=http://127.0.0.1:29999'),
  u3('alarm', 'list'),
  u3('endpoint', 'health'),
  u3('compaction', '2'),
  { args: [...U3, 'watch', 'b/1'], stopAfterMs: 2_500 },
  u3('watch', 'p/1'),
  u3('watch', 'a', 'z'),
  s('defrag'),
  s('endpoint', 'hashkv'),
  // Wrong passwords, unknown users, a user without a password, a password longer than bcrypt reads.
  s('--user', 'u3:wrong', 'get', 'k1'),
  s('--user', 'nosuch:x', 'get', 'k1'),
  s('--user', 'u2:x', 'get', 'k1'),
  s('--user', 'u1:', 'get', 'k1'),
  root('user', 'add', `long:${LONG_PASSWORD}`),
  root('user', 'grant-role', 'long', 'r1'),
  s('--user', `long:${LONG_PASSWORD_SAME_PREFIX}`, 'get', 'k1'),
  root('user', 'add', `${LONG_NAME}:pw`),
  root('user', 'delete', LONG_NAME),
  // Password changes: the old password stops working, the new one works.
  { args: [...ROOT, 'user', 'passwd', 'u3', '--interactive=false'], input: 'newpw\n' },
  u3('get', 'k1'),
  s('--user', 'u3:newpw', 'get', 'k1'),
  root('user', 'passwd', 'nosuch', '--interactive=false'),
  // root's own rules while auth is on.
  root('user', 'delete', 'root'),
  root('role', 'delete', 'root'),
  root('user', 'revoke-role', 'root', 'root'),
  // Deleting a role takes it from its users; deleting a user ends its access.
  root('role', 'delete', 'r1'),
  root('role', 'delete', 'r1'),
  root('user', 'get', 'u3'),
  s('--user', 'u3:newpw', 'get', 'k1'),
  root('user', 'delete', 'u3'),
  root('user', 'delete', 'u3'),
  s('--user', 'u3:newpw', 'get', 'k1'),
  root('user', 'list'),
  root('role', 'list'),
  root('auth', 'disable'),
  s('get', 'k1'),
  s('user', 'delete', 'root'),
  s('auth', 'enable'),
  s('user', 'list'),
];

interface Answer {
  readonly step: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly errors: string;
  /** The gRPC statuses of failed attempts as clientv3 logs them, each once. */
  readonly statuses: readonly string[];
}

async function runScript(endpoint: string): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (const st of SCRIPT) {
    const r = await runEtcdctl(st.args, {
      endpoints: endpoint,
      ...(st.input !== undefined ? { input: st.input } : {}),
      timeoutMs: st.stopAfterMs ?? 15_000,
    });
    answers.push({
      step: st.args.join(' ').slice(0, 120),
      code: st.stopAfterMs !== undefined ? null : r.code,
      stdout: normalize(r.stdout),
      errors: r.stderr
        .split('\n')
        .filter((l) => l.startsWith('Error:'))
        .join('\n'),
      statuses: [...new Set(r.stderr.match(/code = \w+ desc = [^"\\)]*/g) ?? [])].sort(),
    });
  }
  return answers;
}

function normalize(text: string): string {
  return text
    .replace(/"(cluster_id|member_id|raft_term)":\d+,?/g, '')
    .replace(/lease [0-9a-f]+ granted/g, 'lease L granted')
    .replace(/is healthy: successfully committed proposal: took = \S+/g, 'is healthy')
    .replace(/127\.0\.0\.1:\d+/g, 'ENDPOINT');
}

function describeAuthSession(target: TargetName): void {
  describe.skipIf(!targetAvailable(target))(`etcdctl auth session: etcd 3.4 vs ${target}`, () => {
    const scope = new ResourceScope();
    let reference: ServerInstance | null = null;
    let other: ServerInstance | null = null;
    beforeAll(async () => {
      const [d1, d2] = await Promise.all([
        makeTempDir('xetcd-auth-ref-'),
        makeTempDir(`xetcd-auth-${target}-`),
      ]);
      scope.defer('remove ref dir', () => d1.remove());
      scope.defer('remove target dir', () => d2.remove());
      const args = ['--bcrypt-cost=4'];
      reference = await startTarget('etcd', d1.path, args);
      const r = reference;
      scope.defer('stop reference etcd', () => r.stop());
      other = await startTarget(target, d2.path, args);
      const o = other;
      scope.defer(`stop ${target}`, () => o.stop());
    });
    afterAll(() => scope.close());

    it('the same session gets the same answers', async () => {
      const [want, got] = await Promise.all([runScript(reference!.endpoint), runScript(other!.endpoint)]);
      for (let i = 0; i < want.length; i++) {
        expect(got[i], `step ${i}: etcdctl ${want[i]!.step}`).toEqual(want[i]);
      }
    });
  });
}

for (const t of selectedTargets()) describeAuthSession(t);
