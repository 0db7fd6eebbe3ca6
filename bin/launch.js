// Starts a command of xetcd: from the bundle `npm run build` wrote to dist/
// when it was built from the sources as they are now (it starts in half the
// time and memory), otherwise from the TypeScript sources through tsx, so a
// checkout runs with or without a build and an edit is never run stale.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** What a bundle is built from; a change to any of them makes it stale. */
const SOURCES = ['src', 'machines', 'web', 'package.json'];

function newestMtime(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(`${path}/${name}`));
  return newest;
}

/** The bundle of command `name` under `root` (a directory path ending in /), if it is newer than every source. */
export function freshBundle(root, name) {
  const bundle = `${root}dist/${name}.mjs`;
  const built = statSync(bundle, { throwIfNoEntry: false });
  if (built === undefined) return undefined;
  const sources = Math.max(...SOURCES.map((s) => newestMtime(`${root}${s}`)));
  return sources <= built.mtimeMs ? bundle : undefined;
}

/** Runs `src/cli/<name>.ts`, bundled or not. */
export async function launch(name) {
  const bundle = process.env.XETCD_FROM_SOURCE === '1' ? undefined : freshBundle(ROOT, name);
  if (bundle !== undefined) {
    // Stack traces name the TypeScript sources, not the bundle.
    process.setSourceMapsEnabled(true);
    await import(bundle);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(`../src/cli/${name}.ts`);
}
