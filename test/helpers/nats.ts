// A nats-server on a random loopback port. `-p -1` lets the server pick the port; it writes
// the ports it bound to `<dir>/nats-server_<pid>.ports`, which is read back here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagedProcess } from './process.js';
import { startProcess } from './process.js';
import { isPortOpen } from './ports.js';
import { makeTempDir } from './tempdir.js';

export const NATS_BIN = process.env['NATS_SERVER_BIN'] ?? 'nats-server';

export interface NatsInstance {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  stop(graceMs?: number): Promise<void>;
}

async function portFromPortsFile(file: string): Promise<number | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { nats?: string[]; client?: string[] };
    const url = (parsed.nats ?? parsed.client ?? [])[0];
    if (url === undefined) return null;
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : null;
  } catch {
    return null; // not written yet, or written half-way
  }
}

export async function startNats(args: readonly string[] = []): Promise<NatsInstance> {
  const dir = await makeTempDir('xetcd-nats-');
  let port = 0;
  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: 'nats-server',
      command: NATS_BIN,
      args: ['-a', '127.0.0.1', '-p', '-1', '--ports_file_dir', dir.path, ...args],
      ready: async (p) => {
        const found = await portFromPortsFile(join(dir.path, `nats-server_${p.pid}.ports`));
        if (found === null || !(await isPortOpen(found))) return false;
        port = found;
        return true;
      },
      readyTimeoutMs: 10_000,
    });
  } catch (err) {
    await dir.remove();
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: proc,
    stop: async (graceMs = 5_000) => {
      await proc.stop(graceMs);
      await dir.remove();
    },
  };
}
