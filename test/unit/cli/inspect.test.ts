// --inspect streams the member's lifecycle chart to a WebSocket inspector (the receiving
// end is test/helpers/wsInspector.ts).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/ports.js';
import { startProcess, type ManagedProcess } from '../../helpers/process.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { inspectorServer } from '../../helpers/wsInspector.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FAKE = join(ROOT, 'test', 'unit', 'cli', 'fixtures', 'fakeServerCli.ts');

let proc: ManagedProcess | undefined;
let dir: TempDir | undefined;
afterEach(async () => {
  await proc?.stop(2000);
  await dir?.remove();
});

describe('--inspect', () => {
  it("streams the lifecycle chart's states to the inspector, and still stops cleanly", async () => {
    const inspector = await inspectorServer();
    dir = await makeTempDir('xetcd-inspect-');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    proc = await startProcess({
      name: 'xetcd-inspect',
      command: process.execPath,
      args: ['--import', 'tsx', FAKE, '--listen-client-urls', url, '--advertise-client-urls', url],
      cwd: ROOT,
      env: { ...process.env, XETCD_INSPECT: inspector.url, XETCD_DATA_DIR: dir.path },
    });
    await proc.waitForOutput(/member is serving/, 20_000, 'stderr');
    for (let i = 0; i < 100 && !inspector.messages.some((m) => m.includes('"serving"')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const all = inspector.messages.join('\n');
    expect(all).toContain('@xstate.snapshot');
    expect(all).toContain('"serving"');
    expect(all).toContain('validatingConfig');
    proc.signal('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    await inspector.close();
  });
});
