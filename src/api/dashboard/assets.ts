/**
 * The dashboard page's script and stylesheet: web/dashboard bundled by
 * esbuild into one minified JS file and one CSS file, and elkjs's own Web
 * Worker build, which the page lays its charts out in. A member started from
 * the dist/ bundle serves what `npm run build` wrote beside it (dist/dashboard/);
 * one started from the sources bundles web/dashboard on the first request.
 * Either way they are kept in memory (with their gzip and ETag) for the
 * member's life.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { build } from 'esbuild';

export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  /** A strong ETag of the body: the hash of its bytes. */
  readonly etag: string;
}

export interface DashboardBundle {
  readonly js: Asset;
  readonly css: Asset;
  /** elkjs's worker script, as elkjs ships it (already minified). */
  readonly elkWorker: Asset;
}

const ELK_WORKER_PATH = createRequire(import.meta.url).resolve('elkjs/lib/elk-worker.min.js');

/**
 * The page's entry point: web/dashboard/main.ts in the first folder above
 * this module that has one. This module runs from src/api/dashboard, or
 * bundled into dist/ by `npm run build`.
 */
export function dashboardEntry(from: string = import.meta.url): string {
  for (let dir = dirname(fileURLToPath(from)); ; dir = dirname(dir)) {
    const entry = join(dir, 'web', 'dashboard', 'main.ts');
    if (existsSync(entry)) return entry;
    if (dirname(dir) === dir) throw new Error(`no web/dashboard/main.ts above ${fileURLToPath(from)}`);
  }
}

const gzipAsync = promisify(gzip);

/** Compressed in libuv's thread pool: the worker script takes ~100 ms, too long for a member's event loop. */
async function asset(contentType: string, body: Uint8Array): Promise<Asset> {
  const bytes = Buffer.from(body);
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 27);
  return { contentType, body: bytes, gzip: await gzipAsync(bytes, { level: 9 }), etag: `"${hash}"` };
}

/** The page's script and stylesheet, bundled from web/dashboard. */
export async function compileDashboard(
  entry: string = dashboardEntry(),
): Promise<{ js: Uint8Array; css: Uint8Array }> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    platform: 'browser',
    write: false,
    outdir: 'dashboard',
    entryNames: 'app',
    legalComments: 'none',
    logLevel: 'silent',
  });
  const find = (ext: string): Uint8Array => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (file === undefined) throw new Error(`the dashboard bundle has no ${ext} file`);
    return file.contents;
  };
  return { js: find('.js'), css: find('.css') };
}

/** Where `npm run build` puts the page's files: dist/dashboard, beside the bundled commands. */
export const PREBUILT_DIR = 'dashboard';

/** The files `npm run build` wrote beside the running module, if it runs from dist/. */
async function prebuilt(from: string): Promise<{ js: Uint8Array; css: Uint8Array } | undefined> {
  const dir = join(dirname(fileURLToPath(from)), PREBUILT_DIR);
  if (!existsSync(join(dir, 'app.js'))) return undefined;
  const [js, css] = await Promise.all([readFile(join(dir, 'app.js')), readFile(join(dir, 'app.css'))]);
  return { js, css };
}

export async function bundleDashboard(from: string = import.meta.url): Promise<DashboardBundle> {
  const files = (await prebuilt(from)) ?? (await compileDashboard(dashboardEntry(from)));
  const [js, css, elkWorker] = await Promise.all([
    asset('text/javascript; charset=utf-8', files.js),
    asset('text/css; charset=utf-8', files.css),
    readFile(ELK_WORKER_PATH).then((b) => asset('text/javascript; charset=utf-8', b)),
  ]);
  return { js, css, elkWorker };
}

/**
 * The bundle, built once on first use. A failed build is not kept, so the
 * next request tries again (and reports the failure again).
 */
export function lazyBundle(
  make: () => Promise<DashboardBundle> = bundleDashboard,
): () => Promise<DashboardBundle> {
  let pending: Promise<DashboardBundle> | undefined;
  return () => {
    pending ??= make().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
