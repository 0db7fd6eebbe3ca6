// A member whose data fails its checksums refuses to start, says which record
// and what to do, exits non-zero, and never opens its client port.
import { ClassicLevel } from 'classic-level';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import { freePorts, isPortOpen } from '../helpers/ports.js';
import { startProcess } from '../helpers/process.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { REPO_ROOT, XETCD_BIN, startXetcd } from '../helpers/xetcd.js';

/** Flips one bit in the value of every record whose key starts with `prefix`. */
async function flipBits(dbDir: string, prefix: number): Promise<number> {
  const db = new ClassicLevel<Buffer, Buffer>(dbDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  let flipped = 0;
  try {
    for await (const [key, value] of db.iterator()) {
      if (key[0] !== prefix) continue;
      const bad = Buffer.from(value);
      bad[bad.length - 1]! ^= 0x01;
      await db.put(key, bad);
      flipped++;
    }
  } finally {
    await db.close();
  }
  return flipped;
}

describe('a corrupt data dir', () => {
  const scope = new ResourceScope();
  afterAll(() => scope.close());

  for (const [what, dir, prefix] of [
    ['key-space record', 'kv', 0x6b],
    ['raft log entry', 'raft', 0x65],
  ] as const) {
    it(`with a flipped bit in a ${what} is refused at start with a clear error and exit 1`, async () => {
      const tmp = scope.add(await makeTempDir('xetcd-corrupt-'), 'data dir', (d) => d.remove());
      const member = await startXetcd({ dataDir: tmp.path });
      const client = new EtcdRpcClient(member.endpoint);
      for (let i = 0; i < 5; i++)
        await client.put({ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) });
      client.close();
      await member.stop();

      expect(await flipBits(join(tmp.path, 'member', dir), prefix)).toBeGreaterThan(0);

      const [port] = await freePorts(1);
      const url = `http://127.0.0.1:${port}`;
      const proc = await startProcess({
        name: `xetcd-corrupt-${dir}`,
        command: process.execPath,
        args: [
          XETCD_BIN,
          '--data-dir',
          tmp.path,
          '--listen-client-urls',
          url,
          '--advertise-client-urls',
          url,
        ],
        cwd: REPO_ROOT,
      });
      scope.defer(`corrupt member ${dir}`, () => proc.stop(1_000));
      const exit = await proc.exited;
      expect(exit.code).toBe(1);
      const out = proc.output();
      expect(out).toMatch(/corrupt|checksum/i);
      expect(out).toMatch(/restore|remove the member/i);
      expect(await isPortOpen(port!)).toBe(false);
    }, 60_000);
  }
});
