// The npm etcd3 client (1.1.x) against one member: KV with the builders' options, the txn
// builder, watches (prev KV, start revision, filters, ordering, progress), leases with
// keep-alive and loss on revoke, lock, election and namespaces.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import {
  Etcd3,
  EtcdLeaseInvalidError,
  EtcdLockFailedError,
  GRPCInvalidArgumentError,
  GRPCOutOfRangeError,
  type IKeyValue,
  type IWatchResponse,
  type Watcher,
} from 'etcd3';
import { describeTargets, type TargetContext } from './targets.js';

function client(ctx: TargetContext): () => Etcd3 {
  let c: Etcd3 | null = null;
  return () => {
    if (c === null) {
      const made = new Etcd3({ hosts: ctx.endpoint() });
      c = ctx.scope.add(made, 'etcd3 client', (x) => x.close());
    }
    return c;
  };
}

async function revisionOf(etcd: Etcd3): Promise<number> {
  const res = await etcd.get('__revision_probe__').exec();
  return Number(res.header.revision);
}

/** Resolves with the first value `check` returns that is not undefined, polling until `timeoutMs`. */
async function eventually<T>(check: () => T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface SeenEvent {
  type: 'put' | 'delete';
  key: string;
  value: string;
  prev?: string;
  modRevision: number;
}

function record(w: Watcher): SeenEvent[] {
  const seen: SeenEvent[] = [];
  const push = (type: 'put' | 'delete') => (kv: IKeyValue, prev?: IKeyValue) => {
    seen.push({
      type,
      key: kv.key.toString(),
      value: kv.value.toString(),
      ...(prev ? { prev: prev.value.toString() } : {}),
      modRevision: Number(kv.mod_revision),
    });
  };
  w.on('put', push('put'));
  w.on('delete', push('delete'));
  return seen;
}

describeTargets('etcd3 client', (ctx) => {
  const etcd = client(ctx);

  it('put/get: string, number, json, buffer, exists, previous value, touch, ignoreLease', async () => {
    const c = etcd();
    await c.put('/e3/s').value('hello');
    expect(await c.get('/e3/s').string()).toBe('hello');
    await c.put('/e3/n').value(42);
    expect(await c.get('/e3/n').number()).toBe(42);
    await c.put('/e3/j').value(JSON.stringify({ a: [1, 2] }));
    expect(await c.get('/e3/j').json()).toEqual({ a: [1, 2] });
    await c.put('/e3/b').value(Buffer.from([0, 255, 1]));
    expect(await c.get('/e3/b').buffer()).toEqual(Buffer.from([0, 255, 1]));
    expect(await c.get('/e3/missing').string()).toBeNull();
    expect(await c.get('/e3/s').exists()).toBe(true);
    expect(await c.get('/e3/missing').exists()).toBe(false);

    const prev = await c.put('/e3/s').value('world').getPrevious();
    expect(prev.value.toString()).toBe('hello');
    expect(prev.version).toBe('1');

    // touch = ignore_value: the value stays, the key gets a new modification.
    const before = await c.get('/e3/s').exec();
    await c.put('/e3/s').touch();
    const after = await c.get('/e3/s').exec();
    expect(after.kvs[0]!.value.toString()).toBe('world');
    expect(Number(after.kvs[0]!.mod_revision)).toBe(Number(before.header.revision) + 1);
    expect(after.kvs[0]!.version).toBe('3');

    const lease = c.lease(60, { autoKeepAlive: false });
    await lease.put('/e3/leased').value('a');
    const id = await lease.grant();
    await c.put('/e3/leased').value('b').ignoreLease();
    const kv = (await c.get('/e3/leased').exec()).kvs[0]!;
    expect(kv.value.toString()).toBe('b');
    expect(kv.lease).toBe(id);
    await lease.revoke();
    expect(await c.get('/e3/leased').exists()).toBe(false);
  });

  it('getAll: prefix, range, limit, sort, keys, count, and revision filters', async () => {
    const c = etcd();
    const start = (await revisionOf(c)) + 1;
    await c.put('/e3r/b').value('2');
    await c.put('/e3r/a').value('3');
    await c.put('/e3r/c').value('1');
    await c.put('/e3r/a').value('4');
    await c.put('/e3r0').value('outside');

    expect(await c.getAll().prefix('/e3r/').keys()).toEqual(['/e3r/a', '/e3r/b', '/e3r/c']);
    expect(await c.getAll().prefix('/e3r/').strings()).toEqual({
      '/e3r/a': '4',
      '/e3r/b': '2',
      '/e3r/c': '1',
    });
    expect(await c.getAll().prefix('/e3r/').count()).toBe(3);
    expect(await c.getAll().prefix('/e3r/').limit(2).keys()).toEqual(['/e3r/a', '/e3r/b']);
    const limited = await c.getAll().prefix('/e3r/').limit(2).exec();
    expect(limited.more).toBe(true);
    expect(limited.count).toBe('3');
    expect(await c.getAll().prefix('/e3r/').sort('Value', 'Ascend').keys()).toEqual([
      '/e3r/c',
      '/e3r/b',
      '/e3r/a',
    ]);
    expect(await c.getAll().prefix('/e3r/').sort('Create', 'Descend').keys()).toEqual([
      '/e3r/c',
      '/e3r/a',
      '/e3r/b',
    ]);
    expect(await c.getAll().prefix('/e3r/').sort('Mod', 'Descend').limit(1).keys()).toEqual(['/e3r/a']);
    expect(await c.getAll().prefix('/e3r/').sort('Version', 'Descend').limit(1).keys()).toEqual(['/e3r/a']);
    expect(await c.getAll().inRange({ start: '/e3r/a', end: '/e3r/c' }).keys()).toEqual(['/e3r/a', '/e3r/b']);

    // create/mod revision filters: b was created at start, a at start+1 (and modified at start+3), c at start+2.
    expect(
      await c
        .getAll()
        .prefix('/e3r/')
        .minCreateRevision(start + 1)
        .keys(),
    ).toEqual(['/e3r/a', '/e3r/c']);
    expect(
      await c
        .getAll()
        .prefix('/e3r/')
        .maxCreateRevision(start + 1)
        .keys(),
    ).toEqual(['/e3r/a', '/e3r/b']);
    expect(
      await c
        .getAll()
        .prefix('/e3r/')
        .minModRevision(start + 2)
        .keys(),
    ).toEqual(['/e3r/a', '/e3r/c']);
    expect(
      await c
        .getAll()
        .prefix('/e3r/')
        .maxModRevision(start + 2)
        .keys(),
    ).toEqual(['/e3r/b', '/e3r/c']);

    // Reads at an older revision and serializable reads.
    expect(
      await c
        .get('/e3r/a')
        .revision(start + 1)
        .string(),
    ).toBe('3');
    expect(await c.get('/e3r/a').serializable(true).string()).toBe('4');
    expect(
      await c
        .getAll()
        .prefix('/e3r/')
        .revision(start + 1)
        .keys(),
    ).toEqual(['/e3r/a', '/e3r/b']);
  });

  it('delete: key, prefix, range, all-with-previous', async () => {
    const c = etcd();
    for (const k of ['a', 'b', 'c', 'd']) await c.put(`/e3d/${k}`).value(k);
    const one = await c.delete().key('/e3d/a').exec();
    expect(one.deleted).toBe('1');
    const range = await c
      .delete()
      .range(c.range({ start: '/e3d/b', end: '/e3d/d' }))
      .exec();
    expect(range.deleted).toBe('2');
    const prev = await c.delete().prefix('/e3d/').getPrevious();
    expect(prev.map((kv) => [kv.key.toString(), kv.value.toString()])).toEqual([['/e3d/d', 'd']]);
    expect(await c.getAll().prefix('/e3d/').count()).toBe(0);
  });

  it('txn builder: if/then/else over value, version, create, mod and lease compares', async () => {
    const c = etcd();
    const put = await c.put('/e3t/k').value('v1').exec();
    const created = Number(put.header.revision);

    const ok = await c
      .if('/e3t/k', 'Value', '==', 'v1')
      .then(c.put('/e3t/k').value('v2'), c.get('/e3t/k'))
      .else(c.put('/e3t/else').value('x'))
      .commit();
    expect(ok.succeeded).toBe(true);
    expect(ok.responses).toHaveLength(2);
    expect(ok.responses[1]!.response_range!.kvs[0]!.value.toString()).toBe('v2');
    expect(Number(ok.header.revision)).toBe(created + 1);

    const ko = await c
      .if('/e3t/k', 'Value', '==', 'v1')
      .then(c.put('/e3t/k').value('never'))
      .else(c.get('/e3t/k'), c.put('/e3t/else').value('x'))
      .commit();
    expect(ko.succeeded).toBe(false);
    expect(ko.responses[0]!.response_range!.kvs[0]!.value.toString()).toBe('v2');
    expect(await c.get('/e3t/else').string()).toBe('x');

    const cases: [Parameters<Etcd3['if']>, boolean][] = [
      [['/e3t/k', 'Version', '==', 2], true],
      [['/e3t/k', 'Version', '>', 2], false],
      [['/e3t/k', 'Create', '==', created], true],
      [['/e3t/k', 'Create', '<', created], false],
      [['/e3t/k', 'Mod', '==', created + 1], true],
      [['/e3t/k', 'Mod', '!=', created + 1], false],
      [['/e3t/k', 'Value', '>', 'v1'], true],
      [['/e3t/k', 'Lease', '==', 0], true],
      [['/e3t/absent', 'Create', '==', 0], true],
      [['/e3t/absent', 'Value', '==', ''], false],
    ];
    for (const [args, expected] of cases) {
      const r = await c.if(...args).commit();
      expect(r.succeeded, JSON.stringify(args)).toBe(expected);
    }
    const multi = await c.if('/e3t/k', 'Value', '==', 'v2').and('/e3t/k', 'Version', '==', 2).commit();
    expect(multi.succeeded).toBe(true);

    const lease = c.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('/e3t/leased').value('l');
    expect((await c.if('/e3t/leased', 'Lease', '==', id).commit()).succeeded).toBe(true);
    expect((await c.if('/e3t/leased', 'Lease', '==', 0).commit()).succeeded).toBe(false);
    await lease.revoke();

    // A txn that writes one key twice is refused with etcd's message.
    await expect(
      c
        .if('/e3t/k', 'Version', '>', 0)
        .then(c.put('/e3t/dup').value('1'), c.put('/e3t/dup').value('2'))
        .commit(),
    ).rejects.toThrow(GRPCInvalidArgumentError);
    await expect(
      c
        .if('/e3t/k', 'Version', '>', 0)
        .then(c.put('/e3t/dup').value('1'), c.put('/e3t/dup').value('2'))
        .commit(),
    ).rejects.toThrow('etcdserver: duplicate key given in txn request');
  });

  it('watch: events in order with previous KV, from a start revision, with filters', async () => {
    const c = etcd();
    const start = (await revisionOf(c)) + 1;
    await c.put('/e3w/a').value('1');
    await c.put('/e3w/a').value('2');
    await c.delete().key('/e3w/a');

    // History replay from a start revision, with the previous values.
    const replay = await c.watch().key('/e3w/a').startRevision(String(start)).withPreviousKV().create();
    const replayed = record(replay);
    await eventually(() => (replayed.length >= 3 ? true : undefined), 10_000, 'replayed events');
    expect(replayed).toEqual([
      { type: 'put', key: '/e3w/a', value: '1', modRevision: start },
      { type: 'put', key: '/e3w/a', value: '2', prev: '1', modRevision: start + 1 },
      { type: 'delete', key: '/e3w/a', value: '', prev: '2', modRevision: start + 2 },
    ]);
    await replay.cancel();

    // Live prefix watch: all events, in revision order; one txn = one revision.
    const live = await c.watch().prefix('/e3w/').create();
    const seen = record(live);
    const datas: IWatchResponse[] = [];
    live.on('data', (d) => datas.push(d));
    for (let i = 0; i < 20; i++) await c.put(`/e3w/k${i % 3}`).value(String(i));
    await c
      .if('/e3w/k0', 'Version', '>', 0)
      .then(c.put('/e3w/t1').value('a'), c.put('/e3w/t2').value('b'))
      .commit();
    await eventually(() => (seen.length >= 22 ? true : undefined), 10_000, 'live events');
    expect(seen.slice(0, 20).map((e) => e.value)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    const revs = seen.map((e) => e.modRevision);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(seen[20]!.modRevision).toBe(seen[21]!.modRevision);
    // The client resumes after the last header it saw: lastRevision() is header revision + 1.
    expect(Number(live.lastRevision())).toBe(seen[21]!.modRevision + 1);
    await live.cancel();

    // Filters: only deletes.
    const onlyDel = await c.watch().prefix('/e3w/f').only('delete').create();
    const dels = record(onlyDel);
    await c.put('/e3w/f1').value('x');
    await c.delete().key('/e3w/f1');
    await eventually(() => (dels.length >= 1 ? true : undefined), 10_000, 'delete event');
    await sleep(200);
    expect(dels.map((e) => e.type)).toEqual(['delete']);
    await onlyDel.cancel();
  });

  it('watch: cancel ends the watcher; a compacted start revision is an error', async () => {
    const c = etcd();
    const w = await c.watch().key('/e3wc/k').create();
    const ended = once(w, 'end');
    await w.cancel();
    await ended;

    await c.put('/e3wc/k').value('1');
    const old = await revisionOf(c);
    await c.put('/e3wc/k').value('2');
    await c.kv.compact({ revision: await revisionOf(c) });
    const compacted = c.watch().key('/e3wc/k').startRevision(String(old)).watcher();
    const [err] = (await once(compacted, 'error')) as [Error];
    expect(err.message).toContain('Watcher canceled');
    await expect(c.get('/e3wc/k').revision(old).string()).rejects.toThrow(GRPCOutOfRangeError);
    await expect(c.get('/e3wc/k').revision(old).string()).rejects.toThrow(
      'etcdserver: mvcc: required revision has been compacted',
    );
  });

  it('leases: grant, keepaliveOnce, auto keep-alive past the TTL, revoke removes keys', async () => {
    const c = etcd();
    const lease = c.lease(3);
    const id = await lease.grant();
    expect(id).toMatch(/^\d+$/);
    await lease.put('/e3l/k').value('v');
    const once1 = await lease.keepaliveOnce();
    expect(once1.ID).toBe(id);
    expect(once1.TTL).toBe('3');

    let renewals = 0;
    lease.on('keepaliveSucceeded', () => renewals++);
    await sleep(4_000);
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(await c.get('/e3l/k').string()).toBe('v');

    const ttl = await c.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    expect(ttl.grantedTTL).toBe('3');
    expect(ttl.keys.map((k) => k.toString())).toEqual(['/e3l/k']);
    const listed = await c.leaseClient.leaseLeases({});
    expect(listed.leases.map((l) => l.ID)).toContain(id);

    await lease.revoke();
    expect(lease.revoked()).toBe(true);
    expect(await c.get('/e3l/k').exists()).toBe(false);
    const gone = await c.leaseClient.leaseTimeToLive({ ID: id });
    expect(gone.TTL).toBe('-1');
  });

  it('leases: a lease revoked elsewhere is lost; a put on an unknown lease is refused', async () => {
    const c = etcd();
    const lease = c.lease(3);
    const id = await lease.grant();
    const lost = once(lease, 'lost');
    await c.leaseClient.leaseRevoke({ ID: id });
    const [err] = (await lost) as [Error];
    expect(err).toBeInstanceOf(EtcdLeaseInvalidError);

    await expect(c.put('/e3l/bad').value('x').lease('123456789')).rejects.toThrow(EtcdLeaseInvalidError);
    const ka = await new Promise<string>((resolve, reject) => {
      const stream = c.leaseClient.leaseKeepAlive();
      stream
        .then((s) => {
          s.on('data', (res: { TTL: string }) => {
            s.end();
            resolve(res.TTL);
          });
          s.on('error', reject);
          s.write({ ID: '123456789' });
        })
        .catch(reject);
    });
    expect(ka).toBe('0');
  });

  it('lock: do() runs under the lock; a second acquire fails while held', async () => {
    const c = etcd();
    const result = await c.lock('/e3lock/a').do(async () => {
      await expect(c.lock('/e3lock/a').acquire()).rejects.toThrow(EtcdLockFailedError);
      expect(await c.getAll().prefix('/e3lock/a').count()).toBe(1);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await c.getAll().prefix('/e3lock/a').count()).toBe(0);
    const again = await c.lock('/e3lock/a').ttl(5).acquire();
    await again.release();
  });

  it('election: campaign, observe the leader, the next candidate wins on resign', async () => {
    const c = etcd();
    const election = c.election('e3-elect', 10);
    const observer = await election.observe();
    const changes: (string | undefined)[] = [];
    observer.on('change', (v) => changes.push(v));

    const first = election.campaign('one');
    await once(first, 'elected');
    expect(await election.leader()).toBe('one');
    await eventually(() => (changes.includes('one') ? true : undefined), 10_000, 'observer sees one');

    const second = c.election('e3-elect', 10).campaign('two');
    let secondElected = false;
    second.on('elected', () => (secondElected = true));
    await sleep(500);
    expect(secondElected).toBe(false);

    await first.proclaim('one-updated');
    expect(await election.leader()).toBe('one-updated');
    await eventually(
      () => (changes.includes('one-updated') ? true : undefined),
      10_000,
      'observer sees proclaim',
    );

    await first.resign();
    await eventually(() => (secondElected ? true : undefined), 10_000, 'second elected');
    expect(await election.leader()).toBe('two');
    await eventually(() => (changes.includes('two') ? true : undefined), 10_000, 'observer sees two');
    await second.resign();
    await observer.cancel();
  });

  it('STM: concurrent read-modify-write transactions conflict, retry, and lose no increment', async () => {
    const c = etcd();
    await c.put('/e3stm/counter').value('0');
    const workers = 5;
    const perWorker = 4;
    const increment = async (): Promise<void> => {
      for (let i = 0; i < perWorker; i++) {
        await c.stm({ retries: 50 }).transact(async (tx) => {
          const v = Number(await tx.get('/e3stm/counter').string());
          await tx.put('/e3stm/counter').value(String(v + 1));
        });
      }
    };
    await Promise.all(Array.from({ length: workers }, increment));
    const kv = (await c.get('/e3stm/counter').exec()).kvs[0]!;
    expect(kv.value.toString()).toBe(String(workers * perWorker));
    // One version per successful commit: conflicting attempts wrote nothing.
    expect(kv.version).toBe(String(workers * perWorker + 1));
  });

  it('large answers: 3,000 keys of 1 KiB in one range (3 MiB), with count and limit', async () => {
    const c = etcd();
    const value = 'x'.repeat(1024);
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          c
            .put(`/e3big/${String(batch * 100 + i).padStart(4, '0')}`)
            .value(value)
            .exec(),
        ),
      );
    }
    const all = await c.getAll().prefix('/e3big/').strings();
    expect(Object.keys(all)).toHaveLength(3000);
    expect(Object.keys(all)[2999]).toBe('/e3big/2999');
    expect(Object.values(all).every((v) => v === value)).toBe(true);
    expect(await c.getAll().prefix('/e3big/').count()).toBe(3000);
    const page = await c.getAll().prefix('/e3big/').limit(10).exec();
    expect(page.kvs).toHaveLength(10);
    expect(page.more).toBe(true);
    expect(page.count).toBe('3000');
    const deleted = await c.delete().prefix('/e3big/').exec();
    expect(deleted.deleted).toBe('3000');
  });

  it('errors carry etcd’s gRPC codes and exact messages', async () => {
    const c = etcd();
    await c.put('/e3err/k').value('v');
    const rev = await revisionOf(c);
    const cases: [string, () => Promise<unknown>, new (...args: never[]) => Error, string][] = [
      [
        'future revision',
        () =>
          c
            .get('/e3err/k')
            .revision(rev + 1000)
            .string(),
        GRPCOutOfRangeError,
        'etcdserver: mvcc: required revision is a future revision',
      ],
      [
        'empty key',
        () => c.put('').value('x').exec(),
        GRPCInvalidArgumentError,
        'etcdserver: key is not provided',
      ],
      [
        'request too large',
        () => c.put('/e3err/big').value(Buffer.alloc(1_600_000, 0x61)).exec(),
        GRPCInvalidArgumentError,
        'etcdserver: request is too large',
      ],
      [
        'too many txn ops',
        () =>
          c
            .if('/e3err/k', 'Version', '>', 0)
            .then(...Array.from({ length: 129 }, (_, i) => c.put(`/e3err/op${i}`).value('x')))
            .commit(),
        GRPCInvalidArgumentError,
        'etcdserver: too many operations in txn request',
      ],
      [
        'lease TTL too large',
        () => c.leaseClient.leaseGrant({ TTL: 9_000_000_001 }),
        GRPCOutOfRangeError,
        'etcdserver: too large lease TTL',
      ],
      [
        'ignore_value with a value',
        () => c.kv.put({ key: Buffer.from('/e3err/k'), value: Buffer.from('x'), ignore_value: true }),
        GRPCInvalidArgumentError,
        'etcdserver: value is provided',
      ],
      [
        'ignore_value on a missing key',
        () => c.kv.put({ key: Buffer.from('/e3err/none'), ignore_value: true }),
        GRPCInvalidArgumentError,
        'etcdserver: key not found',
      ],
    ];
    for (const [what, call, type, message] of cases) {
      const err = await call().then(
        () => new Error(`${what}: no error`),
        (e: unknown) => e as Error,
      );
      expect(err, what).toBeInstanceOf(type);
      expect(err.message, what).toContain(message);
    }
    // None of the refused writes made a revision.
    expect(await revisionOf(c)).toBe(rev);
  });

  it('namespace: keys are prefixed on the wire and stripped in answers', async () => {
    const c = etcd();
    const ns = c.namespace('/e3ns/');
    await ns.put('a').value('1');
    await ns.put('b').value('2');
    await c.put('/e3nsx').value('outside');
    expect(await c.get('/e3ns/a').string()).toBe('1');
    expect(await ns.getAll().keys()).toEqual(['a', 'b']);
    const w = await ns.watch().key('a').create();
    const seen = record(w);
    await ns.put('a').value('3');
    await eventually(() => (seen.length >= 1 ? true : undefined), 10_000, 'namespaced event');
    expect(seen[0]).toMatchObject({ key: 'a', value: '3' });
    await w.cancel();
    const txn = await ns.if('a', 'Value', '==', '3').then(ns.put('c').value('x')).commit();
    expect(txn.succeeded).toBe(true);
    expect(await c.get('/e3ns/c').string()).toBe('x');
    await ns.delete().all();
    expect(await ns.getAll().count()).toBe(0);
    expect(await c.get('/e3nsx').string()).toBe('outside');
  });
});

// etcd sends a progress notification to idle watchers that asked for them (the etcd3 client
// always asks) every --experimental-watch-progress-notify-interval; shortened here to see one.
describeTargets(
  'etcd3 client watch progress',
  (ctx) => {
    const etcd = client(ctx);
    it('an idle watcher receives progress notifications carrying the current revision', async () => {
      const c = etcd();
      await c.put('/e3p/other').value('x');
      const rev = await revisionOf(c);
      const w = await c.watch().key('/e3p/k').create();
      const progress = await new Promise<IWatchResponse>((resolve) => {
        w.on('data', (res) => {
          if (res.events.length === 0 && !res.created) resolve(res);
        });
      });
      expect(Number(progress.header.revision)).toBe(rev);
      expect(Number(w.lastRevision())).toBe(rev + 1);
      await w.cancel();
    });
  },
  {
    serverArgs: {
      etcd: ['--experimental-watch-progress-notify-interval=500ms'],
      xetcd: ['--experimental-watch-progress-notify-interval=500ms'],
    },
  },
);
