// `xetcdctl snapshot restore`: a snapshot taken right after writes (so some of
// them are still on their way to the key space's disk) restores into a new
// data dir that a member serves unchanged.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { REPO_ROOT, startXetcd } from '../helpers/xetcd.js';

const run = promisify(execFile);
const XETCDCTL = join(REPO_ROOT, 'bin', 'xetcdctl.js');

describe('xetcdctl snapshot restore', () => {
  const scope = new ResourceScope();
  afterAll(() => scope.close());

  it('builds a data dir from a fresh snapshot that a new member serves with the same keys and revisions', async () => {
    const dir = scope.add(await makeTempDir('xetcd-restore-'), 'temp dir', (d) => d.remove());
    const source = await startXetcd({ dataDir: join(dir.path, 'source') });
    scope.defer('source member', () => source.stop());
    for (let i = 0; i < 20; i++) {
      expect((await runEtcdctl(['put', `k${i}`, `v${i}`], { endpoints: source.endpoint })).code).toBe(0);
    }
    // A deleted key is history, not a key: the summary counts the 20 that exist.
    expect((await runEtcdctl(['put', 'gone', 'x'], { endpoints: source.endpoint })).code).toBe(0);
    expect((await runEtcdctl(['del', 'gone'], { endpoints: source.endpoint })).code).toBe(0);
    const file = join(dir.path, 'snap.db');
    const saved = await runEtcdctl(['snapshot', 'save', file], { endpoints: source.endpoint });
    expect(saved.code, saved.stderr).toBe(0);
    await source.stop();

    const restored = join(dir.path, 'restored');
    const { stdout } = await run(process.execPath, [
      XETCDCTL,
      'snapshot',
      'restore',
      file,
      '--data-dir',
      restored,
    ]);
    expect(stdout).toContain('restored 20 keys at revision 23');
    // A second restore into the same dir is refused and changes nothing.
    const again = await run(process.execPath, [
      XETCDCTL,
      'snapshot',
      'restore',
      file,
      '--data-dir',
      restored,
    ]).catch((e: { code: number; stderr: string }) => e);
    expect(again).toMatchObject({ code: 1 });
    expect((again as { stderr: string }).stderr).toContain('exists');

    const member = await startXetcd({ dataDir: restored });
    scope.defer('restored member', () => member.stop());
    const got = await runEtcdctl(['get', 'k', '--prefix', '-w', 'json'], { endpoints: member.endpoint });
    const json = JSON.parse(got.stdout) as {
      header: { revision: number };
      kvs: Array<{ mod_revision: number }>;
    };
    expect(json.kvs).toHaveLength(20);
    expect(json.header.revision).toBe(23);
    expect(json.kvs.map((kv) => kv.mod_revision).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
  }, 90_000);
});
