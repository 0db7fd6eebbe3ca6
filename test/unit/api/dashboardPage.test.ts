import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  bundleDashboard,
  dashboardEntry,
  lazyBundle,
  type DashboardBundle,
} from '../../../src/api/dashboard/assets.js';
import { makeTempDir } from '../../helpers/tempdir.js';
import { REPO_ROOT } from '../../helpers/xetcd.js';
import { DASHBOARD_CSP, mountDashboardPage } from '../../../src/api/dashboard/page.js';
import { HttpRoutes } from '../../../src/api/http.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(routes: HttpRoutes): Promise<{ url: string; server: Server }> {
  const server = createServer(routes.listener());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('the dashboard bundle', () => {
  let bundle: DashboardBundle;
  beforeAll(async () => {
    bundle = await bundleDashboard();
  });

  it('is one minified script, one stylesheet and the layout worker, with gzip and a content ETag', () => {
    expect(bundle.js.contentType).toMatch(/^text\/javascript/);
    expect(bundle.css.contentType).toMatch(/^text\/css/);
    expect(gunzipSync(bundle.js.gzip).equals(bundle.js.body)).toBe(true);
    expect(bundle.js.etag).toMatch(/^"[\w-]{27}"$/);
    expect(bundle.js.etag).not.toBe(bundle.css.etag);
    // The page's own script stays small: ELK's compiled layout code belongs in the worker only.
    expect(bundle.js.body.length).toBeLessThan(100_000);
    expect(bundle.js.body.toString('utf8')).not.toContain('org.eclipse.elk');
    expect(bundle.css.body.length).toBeLessThan(20_000);
    expect(bundle.elkWorker.body.toString('utf8')).toContain('self.onmessage');
    expect(bundle.elkWorker.gzip.length).toBeLessThan(bundle.elkWorker.body.length / 2);
  });

  it('needs nothing the strict CSP forbids: no eval, no Function constructor, no imports from elsewhere', () => {
    for (const script of [bundle.js, bundle.elkWorker]) {
      const js = script.body.toString('utf8');
      expect(js.match(/\beval\(|new Function\(|importScripts\(|\bimport\s*\(\s*["']https?:/)).toBeNull();
    }
    expect(bundle.css.body.toString('utf8').match(/@import|url\(\s*["']?https?:/)).toBeNull();
  });
});

describe('mountDashboardPage', () => {
  const js = Buffer.from('console.log("dashboard")');
  const fake: DashboardBundle = {
    js: {
      contentType: 'text/javascript; charset=utf-8',
      body: js,
      gzip: Buffer.from('gz'),
      etag: '"js-etag"',
    },
    elkWorker: { contentType: 'text/javascript; charset=utf-8', body: js, gzip: js, etag: '"elk-etag"' },
    css: {
      contentType: 'text/css; charset=utf-8',
      body: Buffer.from('body{}'),
      gzip: Buffer.from('gz'),
      etag: '"css-etag"',
    },
  };
  let builds = 0;
  let failNext = false;
  let url = '';
  let server: Server;

  beforeAll(async () => {
    const bundle = lazyBundle(() => {
      builds++;
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('esbuild: no entry'));
      }
      return Promise.resolve(fake);
    });
    ({ url, server } = await serve(mountDashboardPage(new HttpRoutes(), { bundle })));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('serves the page under a CSP that allows its own origin only', async () => {
    const page = await get(`${url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-eval|unsafe-inline|https?:/);
    const html = page.body.toString('utf8');
    expect(html).toContain('<script type="module" src="/dashboard/app.js"></script>');
    expect(html).toContain('<link rel="stylesheet" href="/dashboard/app.css">');
    expect(html).not.toMatch(/https?:\/\//);
    expect((await get(`${url}/dashboard/`)).headers['location']).toBe('/dashboard');
  });

  it('serves the assets with their ETag, gzipped when asked, and 304 when unchanged', async () => {
    const plain = await get(`${url}/dashboard/app.js`);
    expect(plain.status).toBe(200);
    expect(plain.body.equals(js)).toBe(true);
    expect(plain.headers['etag']).toBe('"js-etag"');
    expect(plain.headers['cache-control']).toBe('no-cache');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await get(`${url}/dashboard/app.js`, { 'Accept-Encoding': 'gzip, deflate' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.toString()).toBe('gz');
    expect(gz.headers['vary']).toBe('Accept-Encoding');
    const again = await get(`${url}/dashboard/app.css`, { 'If-None-Match': '"other", "css-etag"' });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const head = await get(`${url}/dashboard/app.css`, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('6');
    expect(builds).toBe(1);
  });

  it('answers other methods with 405', async () => {
    expect((await get(`${url}/dashboard`, {}, 'POST')).status).toBe(405);
    expect((await get(`${url}/dashboard/app.js`, {}, 'DELETE')).status).toBe(405);
  });
});

describe('dashboardEntry', () => {
  it('finds web/dashboard from the sources and from the dist/ bundle', () => {
    const entry = join(REPO_ROOT, 'web', 'dashboard', 'main.ts');
    expect(dashboardEntry()).toBe(entry);
    expect(dashboardEntry(pathToFileURL(join(REPO_ROOT, 'dist', 'xetcd.mjs')).href)).toBe(entry);
    expect(() => dashboardEntry('file:///nowhere/at/all.js')).toThrow(/no web\/dashboard\/main.ts above/);
  });
});

describe('bundleDashboard from dist/', () => {
  it('serves the page files npm run build wrote beside the bundle, without bundling again', async () => {
    const dir = await makeTempDir();
    try {
      mkdirSync(join(dir.path, 'dashboard'));
      writeFileSync(join(dir.path, 'dashboard', 'app.js'), 'console.log("prebuilt")');
      writeFileSync(join(dir.path, 'dashboard', 'app.css'), 'body{color:red}');
      const bundle = await bundleDashboard(pathToFileURL(join(dir.path, 'xetcd.mjs')).href);
      expect(bundle.js.body.toString()).toBe('console.log("prebuilt")');
      expect(bundle.css.body.toString()).toBe('body{color:red}');
      expect(bundle.elkWorker.body.toString('utf8')).toContain('self.onmessage');
    } finally {
      await dir.remove();
    }
  });
});

describe('lazyBundle', () => {
  it('builds once, and again after a failure', async () => {
    let calls = 0;
    const bundle = lazyBundle(() => {
      calls++;
      return calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve({} as DashboardBundle);
    });
    await expect(bundle()).rejects.toThrow('boom');
    await bundle();
    await bundle();
    expect(calls).toBe(2);
  });
});
