// The dashboard page in headless chromium against a made-up three-member cluster
// (test/helpers/dashboardFake.ts): what it draws from each kind of event, live updates,
// reconnecting, a narrow window, the keyboard, and that it stays on its own origin.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src/api/dashboard/protocol.js';
import {
  foreignRequests,
  launchBrowser,
  openRecordedPage,
  screenshot,
  type RecordedPage,
} from '../helpers/browser.js';
import { startFakeDashboard, type FakeDashboard } from '../helpers/dashboardFake.js';
import { FAKE_MEMBERS, fakeSamples, fakeStatus, fakeTransition } from '../helpers/dashboardScenario.js';
import { ResourceScope } from '../helpers/scope.js';

const [one, two, three] = FAKE_MEMBERS;
const scope = new ResourceScope();
let fake: FakeDashboard;
let browser: Browser;

const row = (id: string): string => `tr[data-testid="member-row"][data-member-id="${id}"]`;
const current = (chart: string, id: string): string =>
  `svg[data-chart="${chart}"][data-member-id="${id}"] [data-current="true"]`;

async function currentStates(page: Page, chart: string, id: string): Promise<string[]> {
  return page
    .locator(current(chart, id))
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-state') ?? ''));
}

beforeAll(async () => {
  fake = await scope.add(await startFakeDashboard(), 'fake dashboard', (f) => f.close());
  browser = await scope.add(await launchBrowser(), 'chromium', (b) => b.close());
  const now = Date.now();
  fake.send({
    type: 'members',
    self: one.id,
    members: FAKE_MEMBERS.map((m) => ({
      id: m.id,
      name: m.name,
      peerUrls: [],
      clientUrls: [`http://127.0.0.1:${m.port}`],
      isLearner: false,
    })),
  });
  FAKE_MEMBERS.forEach((m, i) => {
    fake.send({ type: 'reachability', id: m.id, reachable: true });
    fake.send({
      type: 'member',
      id: m.id,
      event: {
        type: 'hello',
        status: fakeStatus(i, i === 0 ? 'leader' : 'follower', 7, one.id),
        transitions: [fakeTransition('follower', 'preCandidate', 'election timeout', 6, now - 3000)],
        metrics: fakeSamples(60, now, i),
      },
    });
  });
});

afterAll(() => scope.close());

describe('the dashboard page against a fake cluster', () => {
  let rec: RecordedPage;

  it('shows every member with its role, and the state of its charts', async () => {
    rec = await openRecordedPage(browser);
    const { page } = rec;
    await page.goto(`${fake.url}/dashboard`);
    await page.locator('body[data-charts="ready"]').waitFor();
    await expect.poll(() => page.locator('tr[data-testid="member-row"]').count()).toBe(3);
    expect(await page.locator(row(one.id)).getAttribute('data-role')).toBe('leader');
    expect(await page.locator(row(one.id)).getAttribute('data-leader')).toBe('true');
    expect(await page.locator(row(two.id)).getAttribute('data-role')).toBe('follower');
    expect(await page.locator(row(two.id)).textContent()).toContain('infra1 8e9e05c52164694d');
    expect(await currentStates(page, 'raft', one.id)).toEqual(['leader']);
    expect(await currentStates(page, 'raft', two.id)).toEqual(['following.follower']);
    expect(await currentStates(page, 'memberLifecycle', three.id)).toEqual(['serving.ready']);
    expect(await currentStates(page, 'serverParts', one.id)).toEqual(['running.leadership.leader']);
    // The raft chart is what shows first; the others wait behind their buttons.
    expect(await page.locator(`svg[data-chart="raft"][data-member-id="${one.id}"]`).isVisible()).toBe(true);
    expect(
      await page.locator(`svg[data-chart="memberLifecycle"][data-member-id="${one.id}"]`).isVisible(),
    ).toBe(false);
    expect(
      await page.locator(`[data-testid="transitions"][data-member-id="${two.id}"] li`).first().textContent(),
    ).toContain('follower → preCandidate on election timeout, term 6');
    expect(await page.locator('[data-testid="panel"]').count()).toBeGreaterThanOrEqual(11);
    expect(await page.locator('[data-panel="proposals-committed"] path.line').count()).toBe(3);
  });

  it('follows a leader change, a transition and a member going away', async () => {
    const { page } = rec;
    const at = Date.now();
    const updates: ClusterEvent[] = [
      { type: 'member', id: one.id, event: { type: 'status', status: fakeStatus(0, 'follower', 8, two.id) } },
      { type: 'member', id: two.id, event: { type: 'status', status: fakeStatus(1, 'leader', 8, two.id) } },
      {
        type: 'member',
        id: two.id,
        event: { type: 'transition', transition: fakeTransition('candidate', 'leader', 'always', 8, at) },
      },
      { type: 'reachability', id: three.id, reachable: false, reason: 'no news for 1.5 s' },
    ];
    for (const e of updates) fake.send(e);
    await expect.poll(() => page.locator(row(two.id)).getAttribute('data-role')).toBe('leader');
    expect(await currentStates(page, 'raft', two.id)).toEqual(['leader']);
    await expect.poll(() => currentStates(page, 'raft', one.id)).toEqual(['following.follower']);
    await expect
      .poll(() =>
        page.locator(`[data-testid="transitions"][data-member-id="${two.id}"] li`).first().textContent(),
      )
      .toContain('candidate → leader on always, term 8');
    await expect.poll(() => page.locator(row(three.id)).getAttribute('data-reachable')).toBe('false');
    expect(await page.locator(`${row(three.id)} [data-testid="member-reason"]`).textContent()).toContain(
      'no news for 1.5 s',
    );
    await screenshot(page, 'dashboard-fake-1280');
  });

  it('reconnects when its stream drops, and is restated by the member', async () => {
    const { page } = rec;
    fake.dropStreams();
    await expect
      .poll(() => page.locator('body').getAttribute('data-connection'), { timeout: 5000 })
      .toBe('live');
    fake.send({ type: 'reachability', id: three.id, reachable: true });
    await expect.poll(() => page.locator(row(three.id)).getAttribute('data-reachable')).toBe('true');
    expect(await page.locator('tr[data-testid="member-row"]').count()).toBe(3);
  });

  it('is usable from the keyboard', async () => {
    const { page } = rec;
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Members');
    const lifecycle = page.getByRole('button', { name: 'Member lifecycle' }).first();
    await lifecycle.focus();
    await page.keyboard.press('Enter');
    expect(await lifecycle.getAttribute('aria-pressed')).toBe('true');
    expect(
      await page.locator(`svg[data-chart="memberLifecycle"][data-member-id="${one.id}"]`).isVisible(),
    ).toBe(true);
    // Focus is visible: the focused control has an outline.
    const outline = await lifecycle.evaluate('(el) => getComputedStyle(el).outlineStyle');
    expect(outline).not.toBe('none');
  });

  it('made no request outside its origin and logged no error', () => {
    expect(rec.requests.length).toBeGreaterThan(0);
    expect(foreignRequests(rec.requests, fake.url)).toEqual([]);
    expect(rec.errors).toEqual([]);
  });

  it('draws its charts from the layout cache when loaded again, without starting the ELK worker', async () => {
    const context = await browser.newContext();
    const workerLoads: string[] = [];
    context.on('request', (r) => {
      if (r.url().endsWith('/dashboard/elk-worker.js')) workerLoads.push(r.url());
    });
    for (let load = 0; load < 2; load++) {
      const page = await context.newPage();
      await page.goto(`${fake.url}/dashboard`);
      await page.locator('body[data-charts="ready"]').waitFor();
      expect(await currentStates(page, 'raft', two.id)).toEqual(['leader']);
      await page.close();
    }
    expect(workerLoads).toHaveLength(1);
    await context.close();
  });

  it('reads in a narrow window without sideways scrolling', async () => {
    const narrow = await openRecordedPage(browser, { width: 400, height: 800 });
    await narrow.page.goto(`${fake.url}/dashboard`);
    await narrow.page.locator('body[data-charts="ready"]').waitFor();
    await expect.poll(() => narrow.page.locator('tr[data-testid="member-row"]').count()).toBe(3);
    const overflow = await narrow.page.evaluate(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await narrow.page.locator(row(two.id)).isVisible()).toBe(true);
    await screenshot(narrow.page, 'dashboard-fake-400');
    expect(narrow.errors).toEqual([]);
    await narrow.page.close();
  });
});
