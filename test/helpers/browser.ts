// Headless Debian chromium driven by playwright-core, for tests of the dashboard page.
// A page records every request it makes and every console error or page error, so a
// test can check that it stayed on its own origin and logged nothing bad.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './xetcd.js';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Where browser tests leave screenshots (gitignored; CI may upload it). */
export const ARTIFACTS_DIR = join(REPO_ROOT, 'test-artifacts');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--headless', '--no-sandbox'] });
}

export interface RecordedPage {
  readonly page: Page;
  /** Every URL the page requested, in order. */
  readonly requests: string[];
  /** Console messages of type error, and uncaught page errors. */
  readonly errors: string[];
}

export async function openRecordedPage(
  browser: Browser,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<RecordedPage> {
  const page = await browser.newPage({ viewport });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, requests, errors };
}

/** The requests that left `origin` (data: URLs excepted: they never leave the page). */
export function foreignRequests(requests: readonly string[], origin: string): string[] {
  return requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
}

/** The whole page, or with `fullPage: false` what the window shows. */
export async function screenshot(page: Page, name: string, { fullPage = true } = {}): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** A key's button in the dashboard's key browser. */
export const keyItem = (page: Page, key: string): ReturnType<Page['locator']> =>
  page.locator(`button[data-testid="key-item"][data-key="${key}"]`);

/** Opens every folder of the dashboard's key tree, so every key's button is on the page. */
export async function expandTree(page: Page): Promise<void> {
  for (;;) {
    const closed = page.locator('[data-testid="key-tree"] details:not([open]) > summary');
    if ((await closed.count()) === 0) return;
    await closed.first().click({ timeout: 5_000 });
  }
}
