// etcdctl 3.4 watch (live, --rev, --prefix, --prev-kv, interactive progress, compacted start),
// lease grant/revoke/timetolive/list/keep-alive, elect and lock against one member.
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import type { ManagedProcess } from '../helpers/process.js';
import { describeTargets } from './targets.js';
import { etcdctl, type Etcdctl, type JsonRange } from './etcdctlSession.js';

function leaseId(out: string): string {
  const m = /^lease ([0-9a-f]{1,16}) granted with TTL\((\d+)s\)$/m.exec(out);
  if (!m) throw new Error(`unexpected lease grant output: ${out}`);
  return m[1]!;
}

/**
 * A watch that has no --rev only sees writes made after the server registered it, and etcdctl
 * prints nothing when it does. So write a sentinel key under the watched prefix until the
 * watcher prints it: from then on the watch is live.
 */
async function waitUntilWatching(ctl: Etcdctl, watcher: ManagedProcess, sentinelKey: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await ctl.ok(['put', sentinelKey, `ping-${i}`]);
    if (watcher.stdout().includes(`${sentinelKey}\nping-`)) return;
    await sleep(100);
  }
  throw new Error(`watch never saw ${sentinelKey}:\n${watcher.tail()}`);
}

interface JsonTimeToLive {
  id: string | number;
  ttl: number;
  'granted-ttl': number;
  keys: string[] | null;
}

describeTargets('etcdctl watch, lease, elect, lock', (ctx) => {
  const ctl = etcdctl(ctx);
  const track = (p: ManagedProcess): ManagedProcess => ctx.scope.add(p, p.name, (x) => x.stop(2_000));

  it('watch --prefix prints live PUT and DELETE events in order', async () => {
    const w = track(await ctl.spawn(['watch', '/wp/', '--prefix']));
    await waitUntilWatching(ctl, w, '/wp/sentinel');
    const mark = w.stdout().length;
    await ctl.ok(['put', '/wp/a', '1']);
    await ctl.ok(['put', '/wp/b', '2']);
    await ctl.ok(['del', '/wp/a']);
    await ctl.ok(['put', '/wx/outside', 'no']);
    await ctl.ok(['put', '/wp/end', 'e']);
    await w.waitForOutput(/\/wp\/end\ne\n/, 10_000, 'stdout');
    expect(w.stdout().slice(mark)).toBe('PUT\n/wp/a\n1\nPUT\n/wp/b\n2\nDELETE\n/wp/a\n\nPUT\n/wp/end\ne\n');
    await w.stop();
  });

  it('watch --rev replays history from that revision; --prev-kv prints the previous pair first', async () => {
    const start = (await ctl.revision()) + 1;
    await ctl.ok(['put', '/wr/k', 'one']);
    await ctl.ok(['put', '/wr/k', 'two']);
    await ctl.ok(['del', '/wr/k']);

    const plain = track(await ctl.spawn(['watch', '/wr/k', `--rev=${start}`]));
    await plain.waitForOutput(/DELETE\n\/wr\/k\n\n/, 10_000, 'stdout');
    expect(plain.stdout()).toBe('PUT\n/wr/k\none\nPUT\n/wr/k\ntwo\nDELETE\n/wr/k\n\n');
    await plain.stop();

    const prev = track(await ctl.spawn(['watch', '/wr/k', `--rev=${start}`, '--prev-kv']));
    await prev.waitForOutput(/DELETE\n/, 10_000, 'stdout');
    await prev.waitForOutput(/DELETE\n\/wr\/k\ntwo\n\/wr\/k\n\n/, 10_000, 'stdout');
    expect(prev.stdout()).toBe('PUT\n/wr/k\none\nPUT\n/wr/k\none\n/wr/k\ntwo\nDELETE\n/wr/k\ntwo\n/wr/k\n\n');
    await prev.stop();
  });

  it('watch a [key, end) range and a txn’s writes arrive as one revision', async () => {
    const start = (await ctl.revision()) + 1;
    await ctl.ok(['txn'], `\nput /wt/a A\nput /wt/b B\nput /wt/z Z\n\n\n`);
    const w = track(await ctl.spawn(['watch', '/wt/a', '/wt/c', `--rev=${start}`]));
    await w.waitForOutput(/\/wt\/b\nB\n/, 10_000, 'stdout');
    expect(w.stdout()).toBe('PUT\n/wt/a\nA\nPUT\n/wt/b\nB\n');
    await w.stop();
  });

  it('watch -i: a progress request is answered with the current revision', async () => {
    const w = track(await ctl.spawn(['watch', '-i'], { keepStdinOpen: true }));
    w.write('watch /wi/k\n');
    await sleep(300);
    const rev = await ctl.revision();
    w.write('progress\n');
    const m = await w.waitForOutput(/progress notify: (\d+)/, 10_000, 'stdout');
    expect(Number(m[1])).toBe(rev);
    await w.stop();
  });

  it('lease grant, timetolive (--keys, -w json), list, keep-alive --once, revoke', async () => {
    const grant = await ctl.ok(['lease', 'grant', '100']);
    expect(grant).toMatch(/^lease [0-9a-f]{16} granted with TTL\(100s\)\n$/);
    const id = leaseId(grant);
    await ctl.ok(['put', '/lease/k1', 'a', `--lease=${id}`]);
    await ctl.ok(['put', '/lease/k2', 'b', `--lease=${id}`]);

    expect(await ctl.ok(['lease', 'timetolive', id])).toMatch(
      new RegExp(`^lease ${id} granted with TTL\\(100s\\), remaining\\((99|100)s\\)\\n$`),
    );
    // etcd lists the attached keys from a map: any order.
    expect(await ctl.ok(['lease', 'timetolive', id, '--keys'])).toMatch(
      new RegExp(
        `^lease ${id} granted with TTL\\(100s\\), remaining\\(\\d+s\\), attached keys\\(\\[(/lease/k1 /lease/k2|/lease/k2 /lease/k1)\\]\\)\\n$`,
      ),
    );
    const j = await ctl.json<JsonTimeToLive>(['lease', 'timetolive', id, '--keys']);
    expect(BigInt(j.id)).toBe(BigInt(`0x${id}`));
    expect(j['granted-ttl']).toBe(100);
    expect(j.ttl).toBeGreaterThan(90);
    expect(j.ttl).toBeLessThanOrEqual(100);
    expect(j.keys?.map((k) => Buffer.from(k, 'base64').toString()).sort()).toEqual([
      '/lease/k1',
      '/lease/k2',
    ]);

    const list = await ctl.ok(['lease', 'list']);
    expect(list).toMatch(/^found \d+ leases\n/);
    expect(list.split('\n')).toContain(id.padStart(16, '0'));

    expect(await ctl.ok(['lease', 'keep-alive', '--once', id])).toBe(
      `lease ${id} keepalived with TTL(100)\n`,
    );

    expect(await ctl.ok(['lease', 'revoke', id])).toBe(`lease ${id} revoked\n`);
    expect(await ctl.ok(['get', '/lease/', '--prefix'])).toBe('');
    expect(await ctl.ok(['lease', 'timetolive', id])).toBe(`lease ${id} already expired\n`);
    expect((await ctl.ok(['lease', 'list'])).split('\n')).not.toContain(id.padStart(16, '0'));
    await ctl.fails(['lease', 'keep-alive', '--once', id], 'etcdserver: requested lease not found');
    await ctl.fails(
      ['lease', 'revoke', id],
      'failed to revoke lease (etcdserver: requested lease not found)',
      { code: 'NotFound' },
    );
  });

  it('revoking a lease deletes all its keys in one revision', async () => {
    const id = leaseId(await ctl.ok(['lease', 'grant', '60']));
    for (const k of ['a', 'b', 'c']) await ctl.ok(['put', `/lrev/${k}`, k, `--lease=${id}`]);
    const rev = await ctl.revision();
    await ctl.ok(['lease', 'revoke', id]);
    expect(await ctl.revision()).toBe(rev + 1);
    const w = track(await ctl.spawn(['watch', '/lrev/', '--prefix', `--rev=${rev + 1}`]));
    await w.waitForOutput(/\/lrev\/c\n\n/, 10_000, 'stdout');
    expect(w.stdout()).toBe('DELETE\n/lrev/a\n\nDELETE\n/lrev/b\n\nDELETE\n/lrev/c\n\n');
    await w.stop();
  });

  it('a lease TTL below the minimum is raised to it; an unrenewed lease expires and takes its keys', async () => {
    // etcd's minimum TTL is 1.5 × election timeout rounded up: 2 s with the default 1 s.
    const grant = await ctl.ok(['lease', 'grant', '1']);
    expect(grant).toMatch(/granted with TTL\(2s\)/);
    const id = leaseId(grant);
    await ctl.ok(['put', '/lexp/k', 'v', `--lease=${id}`]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await ctl.ok(['get', '/lexp/k'])) !== '') await sleep(250);
    expect(await ctl.ok(['get', '/lexp/k'])).toBe('');
    expect(await ctl.ok(['lease', 'timetolive', id])).toBe(`lease ${id} already expired\n`);
  });

  it('lease keep-alive streams renewals every TTL/3 and keeps the lease alive past its TTL', async () => {
    const id = leaseId(await ctl.ok(['lease', 'grant', '3']));
    await ctl.ok(['put', '/lka/k', 'v', `--lease=${id}`]);
    const ka = track(await ctl.spawn(['lease', 'keep-alive', id]));
    await ka.waitForOutput(new RegExp(`(lease ${id} keepalived with TTL\\(3\\)\\n){3}`), 10_000, 'stdout');
    await sleep(1_500); // past the 3 s TTL since the grant
    expect(await ctl.ok(['get', '/lka/k', '--print-value-only'])).toBe('v\n');
    // Revoking ends the stream: the next renewal answers TTL 0, which etcdctl reports.
    await ctl.ok(['lease', 'revoke', id]);
    await ka.waitForOutput(new RegExp(`lease ${id} expired or revoked\\.`), 10_000);
    await ka.stop();
  });

  it('elect: the observer sees each leader; the next candidate wins when the leader resigns', async () => {
    const observer = track(await ctl.spawn(['elect', '-l', '/elect/e']));
    const c1 = track(await ctl.spawn(['elect', '/elect/e', 'p1']));
    const won = await c1.waitForOutput(/^(\/elect\/e\/[0-9a-f]+)\np1\n/, 10_000, 'stdout');
    await observer.waitForOutput(/\np1\n/, 10_000, 'stdout');

    const c2 = track(await ctl.spawn(['elect', '/elect/e', 'p2']));
    await sleep(500);
    expect(c2.stdout()).toBe(''); // blocked behind p1
    const leader = await ctl.ok([
      'get',
      '/elect/e/',
      '--prefix',
      '--sort-by=CREATE',
      '--order=ASCEND',
      '--limit=1',
    ]);
    expect(leader).toBe(`${won[1]}\np1\n`);

    await c1.stop(); // SIGTERM: etcdctl resigns (deletes its key)
    await c2.waitForOutput(/^\/elect\/e\/[0-9a-f]+\np2\n/, 10_000, 'stdout');
    await observer.waitForOutput(/\np1\n[^]*\np2\n/, 10_000, 'stdout');
    await c2.stop();
    await observer.stop();
  });

  it('lock runs a command while holding the lock, and a second holder waits', async () => {
    const r = await ctl.run(['lock', '/lock/a', '--', 'sh', '-c', 'echo "held $ETCD_LOCK_KEY"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^held \/lock\/a\/[0-9a-f]+\n$/);

    const holder = track(await ctl.spawn(['lock', '/lock/b']));
    await holder.waitForOutput(/^\/lock\/b\/[0-9a-f]+\n\n/, 10_000, 'stdout');
    const waiter = track(await ctl.spawn(['lock', '/lock/b', '--', 'echo', 'second']));
    await sleep(700);
    expect(waiter.stdout()).toBe('');
    await holder.stop(); // SIGTERM: etcdctl unlocks (deletes its key)
    await waiter.waitForOutput(/^second\n/, 10_000, 'stdout');
    const st = await waiter.exited;
    expect(st.code).toBe(0);
    expect(await ctl.ok(['get', '/lock/b/', '--prefix'])).toBe('');
  });

  it('watch from a compacted revision is canceled with etcd’s reason (exit 5)', async () => {
    await ctl.ok(['put', '/wc/k', 'a']);
    const old = await ctl.revision();
    await ctl.ok(['put', '/wc/k', 'b']);
    const now = await ctl.revision();
    await ctl.ok(['compaction', String(now)]);
    const r = await ctl.run(['watch', '/wc/k', `--rev=${old}`], undefined, 10_000);
    expect(r.code).toBe(5);
    expect(r.stdout + r.stderr).toContain(
      'watch was canceled (etcdserver: mvcc: required revision has been compacted)',
    );
    const range = await ctl.json<JsonRange>(['get', '/wc/k']);
    expect(range.header.revision).toBe(now);
  });
});
