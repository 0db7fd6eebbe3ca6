// Issue 4's restart proof: a real member under write load is killed with SIGKILL
// at a random moment, restarted on the same data, and must still hold every
// write it acknowledged, at a revision that never went back.
import { seededRandom } from '../../src/raft/rng.js';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdRpcClient } from '../helpers/etcdRpc.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';
import type { ServerInstance } from '../helpers/etcd.js';

const ROUNDS = Number(process.env['XETCD_MEMBER_CRASH_ROUNDS'] ?? 4);
const WRITERS = 8;

describe('a member killed with SIGKILL under write load', () => {
  const scope = new ResourceScope();
  afterAll(() => scope.close());

  it(`keeps every acknowledged write across ${ROUNDS} kill -9 rounds`, async () => {
    const seed = Number(process.env['XETCD_SEED'] ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    const dir = scope.add(await makeTempDir('xetcd-crash-'), 'data dir', (d) => d.remove());
    const acked = new Map<string, { value: string; revision: number }>();
    let highestAcked = 0;
    let lastSeenRevision = 0;
    let sequence = 0;

    for (let round = 0; round < ROUNDS; round++) {
      // Small snapshot and catch-up counts, so kills also land around raft snapshots and log compaction.
      const member: ServerInstance = await startXetcd({
        dataDir: dir.path,
        args: ['--snapshot-count', '150', '--experimental-snapshot-catchup-entries', '40'],
      });
      scope.defer(`member round ${round}`, () => member.stop(1_000));
      const client = new EtcdRpcClient(member.endpoint);
      try {
        // Everything acknowledged before the previous kill is still there.
        for (const [key, want] of acked) {
          const got = await client.range({ key: Buffer.from(key) });
          expect(Buffer.from(got.kvs[0]?.value ?? []).toString(), `seed ${seed}: ${key} lost`).toBe(
            want.value,
          );
          expect(got.kvs[0]?.modRevision, `seed ${seed}: ${key} rewritten`).toBe(want.revision);
        }
        const now = await client.range({ key: Buffer.from('probe') });
        const revision = now.header?.revision ?? 0;
        expect(revision, `seed ${seed}: revision went back`).toBeGreaterThanOrEqual(
          Math.max(highestAcked, lastSeenRevision),
        );
        lastSeenRevision = revision;

        let stop = false;
        const writers = Array.from({ length: WRITERS }, async () => {
          while (!stop) {
            const key = `k/${round}/${sequence++}`;
            const value = `v${sequence}-${random().toString(36).slice(2, 8)}`;
            try {
              const resp = await client.put({ key: Buffer.from(key), value: Buffer.from(value) }, 2_000);
              const rev = resp.header?.revision ?? 0;
              acked.set(key, { value, revision: rev });
              highestAcked = Math.max(highestAcked, rev);
            } catch {
              return; // the member is gone: whatever was not acknowledged may or may not be there
            }
          }
        });
        await new Promise((r) => setTimeout(r, 300 + random() * 1_200));
        member.process.signal('SIGKILL');
        stop = true;
        await member.process.exited;
        await Promise.all(writers);
        // Snapshots and log compaction happened along the way, and nothing went wrong in them.
        const errors = member.process
          .output()
          .split('\n')
          .filter((l) => /"level":"(error|fatal)"/.test(l));
        expect(errors, `seed ${seed}: the member logged errors`).toEqual([]);
      } finally {
        client.close();
      }
    }
    expect(acked.size).toBeGreaterThan(0);
  }, 180_000);
});
