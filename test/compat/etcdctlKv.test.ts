// etcdctl 3.4 against one member: put, get (every flag 3.4's etcdctl has), del, txn in its
// stdin syntax, compaction, and the KV error cases with etcd's exact messages and codes.
// Expected outputs were taken from Debian's etcd 3.4.23 and hold for any etcd 3.4 server.
import { expect, it } from 'vitest';
import { describeTargets } from './targets.js';
import { b64, etcdctl, unb64, type JsonKv, type JsonRange } from './etcdctlSession.js';

interface JsonPut {
  header: { revision: number };
  prev_kv?: JsonKv;
}

interface JsonTxn {
  header: { revision: number };
  succeeded?: boolean;
  responses?: { Response: Record<string, { kvs?: JsonKv[]; deleted?: number; prev_kv?: JsonKv }> }[];
}

function leaseIdFromGrant(out: string): string {
  const m = /^lease ([0-9a-f]{1,16}) granted with TTL\((\d+)s\)$/m.exec(out);
  if (!m) throw new Error(`unexpected lease grant output: ${out}`);
  return m[1]!;
}

describeTargets('etcdctl kv', (ctx) => {
  const ctl = etcdctl(ctx);

  it('put prints OK, and each put of a key is one new revision with version+1', async () => {
    expect(await ctl.ok(['put', '/put/a', 'v1'])).toBe('OK\n');
    const first = await ctl.json<JsonRange>(['get', '/put/a']);
    const rev = first.header.revision!;
    expect(first.kvs).toEqual([
      { key: b64('/put/a'), value: b64('v1'), create_revision: rev, mod_revision: rev, version: 1 },
    ]);
    expect(first.count).toBe(1);

    await ctl.ok(['put', '/put/a', 'v2']);
    const second = await ctl.json<JsonRange>(['get', '/put/a']);
    expect(second.header.revision).toBe(rev + 1);
    expect(second.kvs?.[0]).toMatchObject({
      value: b64('v2'),
      create_revision: rev,
      mod_revision: rev + 1,
      version: 2,
    });
  });

  it('put takes its value from stdin when only the key is given', async () => {
    expect(await ctl.ok(['put', '/put/stdin'], 'from stdin')).toBe('OK\n');
    expect(await ctl.ok(['get', '/put/stdin', '--print-value-only'])).toBe('from stdin\n');
  });

  it('put --prev-kv prints the previous pair; none for a new key', async () => {
    expect(await ctl.ok(['put', '/put/prev', 'one', '--prev-kv'])).toBe('OK\n');
    expect(await ctl.ok(['put', '/put/prev', 'two', '--prev-kv'])).toBe('OK\n/put/prev\none\n');
    const j = await ctl.json<JsonPut>(['put', '/put/prev', 'three', '--prev-kv']);
    expect(j.prev_kv).toMatchObject({ key: b64('/put/prev'), value: b64('two'), version: 2 });
  });

  it('put --lease attaches the key to the lease; --ignore-lease keeps it while the value changes', async () => {
    const id = leaseIdFromGrant(await ctl.ok(['lease', 'grant', '120']));
    expect(await ctl.ok(['put', '/put/leased', 'x', `--lease=${id}`])).toBe('OK\n');
    const got = await ctl.json<JsonRange>(['get', '/put/leased']);
    expect(BigInt(got.kvs![0]!.lease!)).toBe(BigInt(`0x${id}`));

    expect(await ctl.ok(['put', '/put/leased', 'y', '--ignore-lease'])).toBe('OK\n');
    const after = await ctl.json<JsonRange>(['get', '/put/leased']);
    expect(after.kvs![0]).toMatchObject({ value: b64('y'), version: 2 });
    expect(BigInt(after.kvs![0]!.lease!)).toBe(BigInt(`0x${id}`));

    expect(await ctl.ok(['lease', 'timetolive', id, '--keys'])).toMatch(
      new RegExp(
        `^lease ${id} granted with TTL\\(120s\\), remaining\\(\\d+s\\), attached keys\\(\\[/put/leased\\]\\)\\n$`,
      ),
    );
    await ctl.ok(['lease', 'revoke', id]);
  });

  it('put --ignore-value keeps the value and bumps the version; on a missing key it fails', async () => {
    await ctl.ok(['put', '/put/iv', 'kept']);
    const before = await ctl.json<JsonRange>(['get', '/put/iv']);
    expect(await ctl.ok(['put', '/put/iv', '--ignore-value'])).toBe('OK\n');
    const after = await ctl.json<JsonRange>(['get', '/put/iv']);
    expect(after.kvs![0]).toMatchObject({ value: b64('kept'), version: 2 });
    expect(after.kvs![0]!.mod_revision).toBe(before.header.revision! + 1);

    await ctl.fails(['put', '/put/iv-missing', '--ignore-value'], 'etcdserver: key not found', {
      code: 'InvalidArgument',
    });
  });

  it('get --prefix, --from-key, a [key, end) range, and --limit with more/count', async () => {
    for (const k of ['a', 'b', 'c', 'd']) await ctl.ok(['put', `/get/${k}`, `val-${k}`]);
    await ctl.ok(['put', '/get0', 'outside']);

    expect(await ctl.ok(['get', '/get/', '--prefix'])).toBe(
      '/get/a\nval-a\n/get/b\nval-b\n/get/c\nval-c\n/get/d\nval-d\n',
    );
    expect(await ctl.ok(['get', '/get/b', '/get/d'])).toBe('/get/b\nval-b\n/get/c\nval-c\n');
    // --from-key: every key >= /get/c in byte order, so /get0 ('0' > '/') comes too.
    const fromKey = (await ctl.ok(['get', '/get/c', '--from-key', '--keys-only']))
      .split('\n')
      .filter(Boolean);
    expect(fromKey.slice(0, 3)).toEqual(['/get/c', '/get/d', '/get0']);

    const limited = await ctl.json<JsonRange>(['get', '/get/', '--prefix', '--limit=2']);
    expect(limited.kvs!.map((kv) => unb64(kv.key))).toEqual(['/get/a', '/get/b']);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(4);
    const all = await ctl.json<JsonRange>(['get', '/get/', '--prefix', '--limit=4']);
    expect(all.more).toBeUndefined();
  });

  it('get --sort-by each target with --order ASCEND and DESCEND', async () => {
    // Keys written so that key order, create order, modify order, value order and version order differ.
    await ctl.ok(['put', '/sort/b', '3']);
    await ctl.ok(['put', '/sort/a', '1']);
    await ctl.ok(['put', '/sort/c', '2']);
    await ctl.ok(['put', '/sort/a', '5']); // a: version 2, newest modification
    await ctl.ok(['put', '/sort/a', '4']); // a: version 3
    await ctl.ok(['put', '/sort/c', '2']); // c: version 2
    const keys = async (...flags: string[]): Promise<string[]> =>
      (await ctl.ok(['get', '/sort/', '--prefix', '--keys-only', ...flags])).split('\n').filter(Boolean);

    expect(await keys('--sort-by=KEY', '--order=ASCEND')).toEqual(['/sort/a', '/sort/b', '/sort/c']);
    expect(await keys('--sort-by=KEY', '--order=DESCEND')).toEqual(['/sort/c', '/sort/b', '/sort/a']);
    expect(await keys('--sort-by=CREATE', '--order=ASCEND')).toEqual(['/sort/b', '/sort/a', '/sort/c']);
    expect(await keys('--sort-by=CREATE', '--order=DESCEND')).toEqual(['/sort/c', '/sort/a', '/sort/b']);
    expect(await keys('--sort-by=MODIFY', '--order=ASCEND')).toEqual(['/sort/b', '/sort/a', '/sort/c']);
    expect(await keys('--sort-by=MODIFY', '--order=DESCEND')).toEqual(['/sort/c', '/sort/a', '/sort/b']);
    expect(await keys('--sort-by=VALUE', '--order=ASCEND')).toEqual(['/sort/c', '/sort/b', '/sort/a']);
    expect(await keys('--sort-by=VALUE', '--order=DESCEND')).toEqual(['/sort/a', '/sort/b', '/sort/c']);
    expect(await keys('--sort-by=VERSION', '--order=DESCEND')).toEqual(['/sort/a', '/sort/c', '/sort/b']);
    expect((await keys('--sort-by=VERSION', '--order=ASCEND'))[0]).toBe('/sort/b');
    // --order alone sorts by key.
    expect(await keys('--order=DESCEND')).toEqual(['/sort/c', '/sort/b', '/sort/a']);
    // A limit applies after sorting.
    expect(await keys('--sort-by=MODIFY', '--order=DESCEND', '--limit=1')).toEqual(['/sort/c']);
  });

  it('get --keys-only, --print-value-only, -w fields, --consistency=s', async () => {
    await ctl.ok(['put', '/fmt/k', 'the value']);
    expect(await ctl.ok(['get', '/fmt/k', '--keys-only'])).toBe('/fmt/k\n\n');
    const keysOnly = await ctl.json<JsonRange>(['get', '/fmt/k', '--keys-only']);
    expect(keysOnly.kvs![0]!.value).toBeUndefined();
    expect(await ctl.ok(['get', '/fmt/k', '--print-value-only'])).toBe('the value\n');
    expect(await ctl.ok(['get', '/fmt/k', '--consistency=s'])).toBe('/fmt/k\nthe value\n');

    const fields = await ctl.ok(['get', '/fmt/k', '-w', 'fields']);
    const names = [...fields.matchAll(/^"(\w+)" : (.*)$/gm)].map((m) => m[1]);
    expect(names).toEqual([
      'ClusterID',
      'MemberID',
      'Revision',
      'RaftTerm',
      'Key',
      'CreateRevision',
      'ModRevision',
      'Version',
      'Value',
      'Lease',
      'More',
      'Count',
    ]);
    expect(fields).toContain('"Key" : "/fmt/k"\n');
    expect(fields).toContain('"Value" : "the value"\n');
    expect(fields).toContain('"Version" : 1\n');
    expect(fields).toContain('"Lease" : 0\n');
    expect(fields).toContain('"More" : false\n');
    expect(fields).toContain('"Count" : 1\n');
  });

  it('get --rev reads the past: the value at that revision, nothing before the key existed', async () => {
    const before = await ctl.revision();
    await ctl.ok(['put', '/rev/k', 'old']);
    await ctl.ok(['put', '/rev/k', 'new']);
    expect(await ctl.ok(['get', '/rev/k', `--rev=${before + 1}`])).toBe('/rev/k\nold\n');
    expect(await ctl.ok(['get', '/rev/k', `--rev=${before + 2}`])).toBe('/rev/k\nnew\n');
    expect(await ctl.ok(['get', '/rev/k', `--rev=${before}`])).toBe('');
    const past = await ctl.json<JsonRange>(['get', '/rev/k', `--rev=${before + 1}`]);
    // The header reports the current revision, not the one read.
    expect(past.header.revision).toBe(before + 2);
    expect(past.kvs![0]).toMatchObject({ version: 1, mod_revision: before + 1 });
  });

  it('del prints the count; --prefix, --from-key, a range and --prev-kv', async () => {
    for (const k of ['a', 'b', 'c']) await ctl.ok(['put', `/del/${k}`, k]);
    await ctl.ok(['put', '/del/single', 's']);
    expect(await ctl.ok(['del', '/del/single'])).toBe('1\n');
    expect(await ctl.ok(['del', '/del/missing'])).toBe('0\n');
    expect(await ctl.ok(['del', '/del/a', '--prev-kv'])).toBe('1\n/del/a\na\n');
    const rev = await ctl.revision();
    // Deleting two keys is one revision.
    expect(await ctl.ok(['del', '/del/', '--prefix'])).toBe('2\n');
    expect(await ctl.revision()).toBe(rev + 1);
    // A delete that removes nothing does not create a revision.
    expect(await ctl.ok(['del', '/del/', '--prefix'])).toBe('0\n');
    expect(await ctl.revision()).toBe(rev + 1);

    for (const k of ['x', 'y', 'z']) await ctl.ok(['put', `/delrange/${k}`, k]);
    expect(await ctl.ok(['del', '/delrange/x', '/delrange/z'])).toBe('2\n');
    expect(await ctl.ok(['get', '/delrange/', '--prefix', '--keys-only'])).toBe('/delrange/z\n\n');

    await ctl.ok(['put', '\u00fefrom/1', 'a']);
    await ctl.ok(['put', '\u00fefrom/2', 'b']);
    expect(await ctl.ok(['del', '\u00fefrom/', '--from-key', '--prev-kv'])).toBe(
      '2\n\u00fefrom/1\na\n\u00fefrom/2\nb\n',
    );
  });

  it('txn from stdin: compares on value/version/create/mod choose the branch', async () => {
    const rev0 = await ctl.revision();
    await ctl.ok(['put', '/txn/k', 'v1']);
    const created = rev0 + 1;

    const success = await ctl.ok(
      ['txn'],
      `val("/txn/k") = "v1"\nver("/txn/k") = "1"\n\nput /txn/k "v2"\nget /txn/k\n\nput /txn/other "no"\n\n`,
    );
    expect(success).toBe('SUCCESS\n\nOK\n\n/txn/k\nv2\n');
    // Both writes and reads of a txn commit at one revision.
    expect(await ctl.revision()).toBe(created + 1);

    const failure = await ctl.ok(
      ['txn'],
      `val("/txn/k") = "v1"\n\nput /txn/k "never"\n\nget /txn/k\nput /txn/fail "ran"\n\n`,
    );
    expect(failure).toBe('FAILURE\n\n/txn/k\nv2\n\nOK\n');
    expect(await ctl.ok(['get', '/txn/fail', '--print-value-only'])).toBe('ran\n');

    const compares: [string, boolean][] = [
      [`c("/txn/k") = "${created}"`, true],
      [`create("/txn/k") > "${created}"`, false],
      [`m("/txn/k") = "${created + 1}"`, true],
      [`mod("/txn/k") < "${created + 1}"`, false],
      [`version("/txn/k") != "2"`, false],
      [`ver("/txn/k") > "1"`, true],
      [`value("/txn/k") > "v1"`, true],
      [`val("/txn/k") < "v1"`, false],
      [`ver("/txn/absent") = "0"`, true],
      [`c("/txn/absent") = "0"`, true],
    ];
    for (const [cmp, expected] of compares) {
      const j = await ctl.json<JsonTxn>(['txn'], `${cmp}\n\nget /txn/k\n\n\n`);
      expect(j.succeeded ?? false, cmp).toBe(expected);
      expect(j.responses?.length ?? 0, cmp).toBe(expected ? 1 : 0);
    }

    // lease("k") compares are in etcdctl's syntax but etcdctl 3.4.23 panics on them before any
    // RPC ("bad value": it hands the compare a string); the etcd3 suite covers lease compares.
    const id = leaseIdFromGrant(await ctl.ok(['lease', 'grant', '60']));
    expect(await ctl.ok(['txn'], `ver("/txn/k") = "2"\n\nput /txn/leased l --lease=${id}\n\n\n`)).toBe(
      'SUCCESS\n\nOK\n',
    );
    const leased = await ctl.json<JsonRange>(['get', '/txn/leased']);
    expect(BigInt(leased.kvs![0]!.lease!)).toBe(BigInt(`0x${id}`));
    await ctl.ok(['lease', 'revoke', id]);
    expect(await ctl.ok(['get', '/txn/leased'])).toBe('');

    // Ops take their command's flags: get --prefix and del --prev-kv inside a branch.
    const j = await ctl.json<JsonTxn>(
      ['txn'],
      `\nget /txn/ --prefix --keys-only\ndel /txn/other --prev-kv\n\n\n`,
    );
    expect(j.succeeded).toBe(true);
    const rangeResp = j.responses![0]!.Response['ResponseRange']!;
    expect(rangeResp.kvs!.map((kv) => unb64(kv.key))).toEqual(['/txn/fail', '/txn/k']);
    expect(j.responses![1]!.Response['ResponseDeleteRange']!.deleted ?? 0).toBe(0);
  });

  it('txn input errors are etcdctl’s own (exit 3), the server is never asked', async () => {
    await ctl.fails(['txn'], 'malformed comparison: bogus', { input: 'bogus\n\n', exit: 3 });
  });

  it('errors: future revision, unknown lease, empty key, ignore-value with a value', async () => {
    const rev = await ctl.revision();
    await ctl.fails(
      ['get', '/err/k', `--rev=${rev + 100}`],
      'etcdserver: mvcc: required revision is a future revision',
      { code: 'OutOfRange' },
    );
    await ctl.fails(['put', '/err/k', 'v', '--lease=1234abcd'], 'etcdserver: requested lease not found', {
      code: 'NotFound',
    });
    await ctl.fails(['put', '', 'v'], 'etcdserver: key is not provided', { code: 'InvalidArgument' });
    await ctl.fails(
      ['lease', 'grant', '9000000001'],
      'failed to grant lease (etcdserver: too large lease TTL)',
      { code: 'OutOfRange' },
    );
    await ctl.fails(
      ['lease', 'revoke', '1234abcd'],
      'failed to revoke lease (etcdserver: requested lease not found)',
      { code: 'NotFound' },
    );
    // The failed writes created no revision.
    expect(await ctl.revision()).toBe(rev);
  });

  it('errors: a value over the request limit is refused by the server; over 2 MiB by etcdctl itself', async () => {
    const rev = await ctl.revision();
    await ctl.fails(['put', '/err/big'], 'etcdserver: request is too large', {
      code: 'InvalidArgument',
      input: 'a'.repeat(1_600_000),
    });
    const r = await ctl.run(['put', '/err/huge'], 'a'.repeat(2_200_000));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /Error: rpc error: code = ResourceExhausted desc = trying to send message larger than max \(\d+ vs\. 2097152\)/,
    );
    expect(await ctl.revision()).toBe(rev);
  });

  it('compaction: old revisions become unreadable, with etcd’s errors for compacted and future revisions', async () => {
    await ctl.ok(['put', '/compact/k', 'a']);
    const r1 = await ctl.revision();
    await ctl.ok(['put', '/compact/k', 'b']);
    await ctl.ok(['put', '/compact/k', 'c']);
    const r3 = await ctl.revision();

    expect(await ctl.ok(['compaction', String(r1 + 1)])).toBe(`compacted revision ${r1 + 1}\n`);
    await ctl.fails(
      ['get', '/compact/k', `--rev=${r1}`],
      'etcdserver: mvcc: required revision has been compacted',
      { code: 'OutOfRange' },
    );
    // The compacted revision itself is still readable.
    expect(await ctl.ok(['get', '/compact/k', `--rev=${r1 + 1}`, '--print-value-only'])).toBe('b\n');
    await ctl.fails(
      ['compaction', String(r1 + 1)],
      'etcdserver: mvcc: required revision has been compacted',
      { code: 'OutOfRange' },
    );
    await ctl.fails(
      ['compaction', String(r3 + 1000)],
      'etcdserver: mvcc: required revision is a future revision',
      { code: 'OutOfRange' },
    );
    // Compaction is not a write: the revision does not move.
    expect(await ctl.revision()).toBe(r3);

    expect(await ctl.ok(['compaction', '--physical', String(r3)])).toBe(`compacted revision ${r3}\n`);
    expect(await ctl.ok(['get', '/compact/k', '--print-value-only'])).toBe('c\n');
  });
});
