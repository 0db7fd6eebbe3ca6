/**
 * The dashboard page's script and stylesheet: web/dashboard bundled by
 * esbuild into one minified JS file and one CSS file on the first request,
 * then kept in memory (with their gzip and ETag) for the member's life.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
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
}

/** The page's entry point, from this file: src/api/dashboard → web/dashboard. */
export const DASHBOARD_ENTRY = fileURLToPath(new URL('../../../web/dashboard/main.ts', import.meta.url));

function asset(contentType: string, body: Uint8Array): Asset {
  const bytes = Buffer.from(body);
  const hash = createHash('sha256').update(bytes).digest('base64url').slice(0, 27);
  return { contentType, body: bytes, gzip: gzipSync(bytes, { level: 9 }), etag: `"${hash}"` };
}

export async function bundleDashboard(entry: string = DASHBOARD_ENTRY): Promise<DashboardBundle> {
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
  return {
    js: asset('text/javascript; charset=utf-8', find('.js')),
    css: asset('text/css; charset=utf-8', find('.css')),
  };
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
