// `npm run build` (also run by `npm install`/`npm ci` as `prepare`): bundles
// each command into dist/ with esbuild, dependencies left in node_modules, so
// a member starts without compiling TypeScript at every start (bin/launch.js
// uses a bundle only while it is newer than every source).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
  process.stderr.write(`built dist/ (${COMMANDS.join(', ')}) in ${Date.now() - started} ms\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
