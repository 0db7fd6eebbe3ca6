// The dashboard page of a real one-member xetcd in headless chromium: the member as
// `etcdctl endpoint status` sees it, its Raft chart in the leader state, keys put with
// etcdctl showing up live in the key browser, editing when enabled, and with auth on,
// only what the signed-in user may read. The page must stay on its own origin.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  foreignRequests,
  launchBrowser,
  openRecordedPage,
  screenshot,
  type RecordedPage,
} from '../helpers/browser.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';

const scope = new ResourceScope();
let member: ServerInstance;
let browser: Browser;

async function etcdctl(...args: string[]): Promise<string> {
  const r = await runEtcdctl(args, { endpoints: member.endpoint });
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface EndpointStatus {
  readonly Status: {
    readonly header: { readonly member_id: number | string };
    readonly leader: number | string;
  };
}

/** etcdctl prints IDs as decimal JSON numbers (past 2^53); the page shows them in hex. */
const hex = (id: number | string): string => BigInt(id).toString(16);

async function endpointStatus(): Promise<{ id: string; leader: string }> {
  // Read the IDs as text: JSON.parse would round them.
  const text = (await etcdctl('endpoint', 'status', '-w', 'json')).replace(
    /("(?:member_id|leader)":)(\d+)/g,
    '$1"$2"',
  );
  const [status] = JSON.parse(text) as EndpointStatus[];
  return { id: hex(status!.Status.header.member_id), leader: hex(status!.Status.leader) };
}

const keyItem = (page: Page, key: string): ReturnType<Page['locator']> =>
  page.locator(`button[data-testid="key-item"][data-key="${key}"]`);

/** Opens every folder of the key tree, so every key's button is on the page. */
async function expandTree(page: Page): Promise<void> {
  for (;;) {
    const closed = page.locator('[data-testid="key-tree"] details:not([open]) > summary');
    if ((await closed.count()) === 0) return;
    await closed.first().click();
  }
}

beforeAll(async () => {
  const dir = await scope.add(await makeTempDir(), 'data dir', (d) => d.remove());
  member = await scope.add(await startXetcd({ dataDir: dir.path, name: 'solo' }), 'xetcd', (m) => m.stop());
  browser = await scope.add(await launchBrowser(), 'chromium', (b) => b.close());
  await etcdctl('put', '/app/config/colour', 'blue');
});

afterAll(() => scope.close());

describe('the dashboard of a one-member xetcd', () => {
  let rec: RecordedPage;

  it('shows the member as endpoint status does, leader, with the leader state of its Raft chart highlighted', async () => {
    const status = await endpointStatus();
    expect(status.leader).toBe(status.id);
    rec = await openRecordedPage(browser);
    const { page } = rec;
    await page.goto(`${member.endpoint}/dashboard`);
    const row = page.locator(`tr[data-testid="member-row"][data-member-id="${status.id}"]`);
    await expect.poll(() => row.getAttribute('data-role')).toBe('leader');
    expect(await row.getAttribute('data-reachable')).toBe('true');
    expect(await row.textContent()).toContain('solo');
    await page.locator('body[data-charts="ready"]').waitFor();
    const current = page.locator(
      `svg[data-chart="raft"][data-member-id="${status.id}"] [data-current="true"]`,
    );
    expect(await current.getAttribute('data-state')).toBe('leader');
    const lifecycle = page.locator(
      `svg[data-chart="memberLifecycle"][data-member-id="${status.id}"] [data-current="true"]`,
    );
    expect(await lifecycle.getAttribute('data-state')).toBe('serving.ready');
    expect(
      await page.locator(`[data-testid="transitions"][data-member-id="${status.id}"] li`).count(),
    ).toBeGreaterThan(0);
  });

  it('lists the keys as a tree and follows puts through its watch', async () => {
    const { page } = rec;
    await expect.poll(() => page.locator('[data-testid="key-tree"] .key-count').textContent()).toBe('1 key');
    await expandTree(page);
    await keyItem(page, '/app/config/colour').click();
    await expect.poll(() => page.locator('[data-testid="key-value"]').textContent()).toBe('blue');
    expect(await page.locator('[data-testid="key-version"]').textContent()).toBe('1');

    await etcdctl('put', '/app/config/colour', 'green');
    await etcdctl('put', '/app/feature/flag', 'on');
    await expect.poll(() => page.locator('[data-testid="key-value"]').textContent()).toBe('green');
    expect(await page.locator('[data-testid="key-version"]').textContent()).toBe('2');
    await expect.poll(() => page.locator('[data-testid="key-tree"] .key-count').textContent()).toBe('2 keys');
    await expandTree(page);
    expect(await keyItem(page, '/app/feature/flag').count()).toBe(1);
    await screenshot(page, 'dashboard-member-1280');
  });

  it('puts and deletes only once editing is allowed', async () => {
    const { page } = rec;
    expect(await page.locator('[data-testid="key-editor"]').isVisible()).toBe(false);
    await page.locator('[data-testid="allow-editing"]').check();
    await page.locator('#put-key').fill('/app/from-page');
    await page.locator('#put-value').fill('hello');
    await page.getByRole('button', { name: 'Put', exact: true }).click();
    await expect
      .poll(async () => (await etcdctl('get', '/app/from-page', '--print-value-only')).trim())
      .toBe('hello');
    await expandTree(page);
    await keyItem(page, '/app/from-page').click();
    await expect.poll(() => page.locator('[data-testid="key-value"]').textContent()).toBe('hello');
    await page.getByRole('button', { name: 'Delete this key' }).click();
    await expect.poll(() => keyItem(page, '/app/from-page').count()).toBe(0);
    expect(await etcdctl('get', '/app/from-page')).toBe('');
  });

  it('made no request outside its origin and logged no error', () => {
    expect(foreignRequests(rec.requests, member.endpoint)).toEqual([]);
    expect(rec.requests.some((u) => u.endsWith('/dashboard/elk-worker.js'))).toBe(true);
    expect(rec.errors).toEqual([]);
  });

  it('with auth on, asks who the user is and shows what that user may read', async () => {
    await etcdctl('user', 'add', 'root:rootpw');
    await etcdctl('user', 'grant-role', 'root', 'root');
    await etcdctl('role', 'add', 'app-reader');
    await etcdctl('role', 'grant-permission', 'app-reader', '--prefix=true', 'read', '/app/feature/');
    await etcdctl('user', 'add', 'reader:readerpw');
    await etcdctl('user', 'grant-role', 'reader', 'app-reader');
    await etcdctl('auth', 'enable');

    const auth = await openRecordedPage(browser);
    const { page } = auth;
    await page.goto(`${member.endpoint}/dashboard`);
    const login = page.locator('form[data-testid="login-form"]');
    await login.waitFor();
    await page.getByLabel('User').fill('reader');
    await page.getByLabel('Password').fill('readerpw');
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Every key is more than the reader may read: the server says so, and the page shows it.
    await expect
      .poll(() => page.locator('[data-testid="key-status"]').getAttribute('data-kind'))
      .toBe('denied');
    await page.getByLabel('Prefix').fill('/app/feature/');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => page.locator('[data-testid="key-tree"] .key-count').textContent()).toBe('1 key');
    await expandTree(page);
    expect(await keyItem(page, '/app/feature/flag').count()).toBe(1);
    expect(await keyItem(page, '/app/config/colour').count()).toBe(0);
    await screenshot(page, 'dashboard-member-auth');
    expect(foreignRequests(auth.requests, member.endpoint)).toEqual([]);
    // The browser reports the gateway's refusals (no user yet, then permission denied) as failed loads.
    expect(auth.errors.filter((e) => !/status of 40[03]/.test(e))).toEqual([]);
  });
});
