// `npm run build` (also run by `npm install`/`npm ci` as `prepare`): bundles
// each command into dist/ with esbuild, dependencies left in node_modules, so
// a member starts without compiling TypeScript at every start (bin/launch.js
// uses a bundle only while it is newer than every source), and the dashboard
// page's script and stylesheet into dist/dashboard, which a member started from
// the bundle serves.
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileDashboard, PREBUILT_DIR } from '../src/api/dashboard/assets.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const COMMANDS = ['xetcd', 'xetcdctl'];

async function main(): Promise<void> {
  const started = Date.now();
  rmSync(`${ROOT}dist`, { recursive: true, force: true });
  await build({
    entryPoints: Object.fromEntries(COMMANDS.map((c) => [c, `${ROOT}src/cli/${c}.ts`])),
    outdir: `${ROOT}dist`,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  const page = await compileDashboard(`${ROOT}web/dashboard/main.ts`);
  mkdirSync(`${ROOT}dist/${PREBUILT_DIR}`, { recursive: true });
  writeFileSync(`${ROOT}dist/${PREBUILT_DIR}/app.js`, page.js);
  writeFileSync(`${ROOT}dist/${PREBUILT_DIR}/app.css`, page.css);
  process.stderr.write(
    `built dist/ (${COMMANDS.join(', ')}, ${PREBUILT_DIR}/app.js and app.css) in ${Date.now() - started} ms\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
