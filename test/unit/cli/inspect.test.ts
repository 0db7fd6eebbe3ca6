// --inspect on the real `xetcd` command (the member's charts with a stand-in server layer):
// with a URL it streams the lifecycle chart there; bare, it serves it on the client port at
// /inspect; off, no observer reaches the member and /inspect takes no WebSocket.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readInspect, until, upgradeStatus } from '../../helpers/inspectStream.js';
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

/** The CLI with the stand-in server layer, serving on a free port; its client URL. */
async function startFake(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  dir = await makeTempDir('xetcd-inspect-');
  const url = `http://127.0.0.1:${await freePort()}`;
  proc = await startProcess({
    name: 'xetcd-inspect',
    command: process.execPath,
    args: ['--import', 'tsx', FAKE, '--listen-client-urls', url, '--advertise-client-urls', url, ...args],
    cwd: ROOT,
    env: { ...process.env, ...env, XETCD_DATA_DIR: dir.path },
  });
  await proc.waitForOutput(/member is serving/, 20_000, 'stderr');
  return url;
}

describe('--inspect', () => {
  it("streams the lifecycle chart's states to the inspector, and still stops cleanly", async () => {
    const inspector = await inspectorServer();
    await startFake([], { XETCD_INSPECT: inspector.url });
    for (let i = 0; i < 100 && !inspector.messages.some((m) => m.includes('"serving"')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const all = inspector.messages.join('\n');
    expect(all).toContain('@xstate.snapshot');
    expect(all).toContain('"serving"');
    expect(all).toContain('validatingConfig');
    proc!.signal('SIGTERM');
    expect((await proc!.exited).code).toBe(0);
    await inspector.close();
  });

  it('bare, serves the lifecycle chart on the client port at /inspect', async () => {
    const url = await startFake(['--inspect']);
    expect(proc!.stderr()).toContain('fake server: inspection observer installed');
    const client = await readInspect(url);
    try {
      await until(
        'the lifecycle chart serving',
        () => client.stream.statesOf('memberLifecycle').at(-1)?.includes('"serving"') === true,
      );
    } finally {
      client.close();
    }
  });

  it('off, hands no observer to the member and takes no WebSocket at /inspect', async () => {
    const url = await startFake([], { XETCD_INSPECT: '' });
    expect(proc!.stderr()).toContain('fake server: inspection observer none');
    expect(await upgradeStatus(`${url}/inspect`)).toBe(404);
  });
});
