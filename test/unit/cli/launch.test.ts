import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error bin/launch.js is plain JavaScript (it runs before tsx is registered).
import { freshBundle } from '../../../bin/launch.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.remove();
  dir = undefined;
});

const at = (path: string, seconds: number): void => utimesSync(path, seconds, seconds);

describe('bin/launch.js', () => {
  it('runs a bundle only while it is newer than every source', async () => {
    dir = await makeTempDir('xetcd-launch-');
    const root = `${dir.path}/`;
    const find = freshBundle as (root: string, name: string) => string | undefined;
    for (const d of ['src/cli', 'machines', 'web/dashboard', 'dist'])
      mkdirSync(join(root, d), { recursive: true });
    const files = ['src/cli/xetcd.ts', 'machines/raftRole.ts', 'web/dashboard/main.ts', 'package.json'];
    for (const f of files) writeFileSync(join(root, f), '');
    for (const p of [...files, 'src/cli', 'src', 'machines', 'web/dashboard', 'web'])
      at(join(root, p), 1_000);
    expect(find(root, 'xetcd')).toBeUndefined();

    const bundle = join(root, 'dist/xetcd.mjs');
    writeFileSync(bundle, '');
    at(bundle, 2_000);
    expect(find(root, 'xetcd')).toBe(bundle);
    expect(find(root, 'xetcdctl')).toBeUndefined();

    // An edit anywhere below a source folder, or to package.json, makes it stale.
    for (const f of ['web/dashboard/main.ts', 'package.json']) {
      at(join(root, f), 3_000);
      expect(find(root, 'xetcd')).toBeUndefined();
      at(join(root, f), 1_000);
      expect(find(root, 'xetcd')).toBe(bundle);
    }
  });
});
