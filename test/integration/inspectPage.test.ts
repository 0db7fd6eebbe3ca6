// The page a bare --inspect member serves at /inspect, in headless Chromium: it frames
// Stately's inspector and, once the inspector says it listens, hands it the member's
// inspection messages by postMessage. Stately's page is stood in for (no internet here) by one
// that speaks the same protocol as @statelyai/inspect's browser receiver.
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerInstance } from '../helpers/etcd.js';
import type { InspectMessage } from '../helpers/inspectStream.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';

/** Says it listens to the window that framed it, and keeps what that window posts. */
const STAND_IN_INSPECTOR = `<!doctype html><script>
window.received = [];
window.addEventListener('message', (e) => {
  if (e.data && typeof e.data._version === 'string') window.received.push(e.data);
});
window.parent.postMessage({ type: '@statelyai.connected' }, '*');
</script>`;

/** In the stand-in's window: it has the Raft actor and a snapshot of it as leader. */
const RAFT_LEADER_SHOWN = `(() => {
  const raft = window.received.find((m) => m.type === '@xstate.actor' && m.name === 'raft');
  return raft !== undefined &&
    window.received.some((m) => m.sessionId === raft.sessionId && m.snapshot && m.snapshot.value === 'leader');
})()`;

describe('the /inspect page in a browser', () => {
  let dir: TempDir;
  let server: ServerInstance;
  let browser: Browser;
  beforeAll(async () => {
    dir = await makeTempDir('xetcd-inspect-page-');
    server = await startXetcd({ dataDir: join(dir.path, 'data'), args: ['--inspect'] });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await dir?.remove();
  });

  it("hands the member's actors and their states to the framed inspector", async () => {
    const page = await browser.newPage();
    const outside: string[] = [];
    await page.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith(server.endpoint)) return route.continue();
      if (url === 'https://stately.ai/inspect')
        return route.fulfill({ contentType: 'text/html', body: STAND_IN_INSPECTOR });
      outside.push(url);
      return route.abort();
    });
    await page.goto(`${server.endpoint}/inspect`);
    const inspector = await (await page.waitForSelector('iframe')).contentFrame();
    expect(inspector?.url()).toBe('https://stately.ai/inspect');
    await inspector!.waitForFunction(RAFT_LEADER_SHOWN, undefined, { timeout: 30_000 });
    const received = (await inspector!.evaluate('window.received')) as InspectMessage[];
    expect(received.map((m) => m.name).filter(Boolean)).toEqual(
      expect.arrayContaining(['memberLifecycle', 'raft', 'serverParts']),
    );
    expect(outside).toEqual([]);
  });
});
