// The HTTP/1.1 side of the client port, etcd 3.4 vs the target: /version, /health, the /v3
// JSON gateway (int64 as strings, base64 bytes, snake_case names, errors as
// {error, message, code} with HTTP 400) and /metrics names. The same requests go to a fresh
// etcd and a fresh target; status codes and bodies (minus cluster/member IDs, raft term and
// lease IDs) must be equal. With XETCD_COMPAT_TARGETS=etcd the target is a second etcd.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/tempdir.js';
import { ResourceScope } from '../helpers/scope.js';
import type { ServerInstance } from '../helpers/etcd.js';
import { selectedTargets, startTarget, targetAvailable, type TargetName } from './targets.js';

interface HttpResult {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function http(method: 'GET' | 'POST', url: string, body?: string): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const req = request(
      url,
      { method, timeout: 10_000, headers: body !== undefined ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: text,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** POSTs to a streaming gateway route and collects its newline-separated JSON messages until `count` or `ms`. */
function httpStream(url: string, body: string, count: number, ms: number): Promise<string[]> {
  return new Promise<string[]>((resolve, reject) => {
    let text = '';
    const lines = (): string[] => text.split('\n').filter((l) => l.trim().length > 0);
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (lines().length >= count) finish();
      });
      res.on('error', () => undefined);
    });
    const finish = (): void => {
      clearTimeout(timer);
      req.destroy();
      resolve(lines());
    };
    const timer = setTimeout(finish, ms);
    req.on('error', (err) => {
      clearTimeout(timer);
      if (text.length > 0) resolve(lines());
      else reject(err);
    });
    req.write(body);
    req.end();
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Drops what differs between any two members (IDs, term) and maps lease IDs to a placeholder. */
function normalizeJson(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { unparsable: text };
  }
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(v)) {
        if (k === 'cluster_id' || k === 'member_id' || k === 'raft_term') continue;
        if (k === 'ID' || k === 'lease') out[k] = val === '0' ? '0' : 'LEASE';
        else out[k] = walk(val);
      }
      return out;
    }
    return v;
  };
  return walk(parsed);
}

interface GatewayCall {
  readonly path: string;
  readonly body: Record<string, unknown>;
}

const GATEWAY: readonly GatewayCall[] = [
  { path: '/v3/kv/range', body: { key: b64('a') } },
  { path: '/v3/kv/put', body: { key: b64('a'), value: b64('1') } },
  { path: '/v3/kv/put', body: { key: b64('a'), value: b64('2'), prev_kv: true } },
  { path: '/v3/kv/put', body: { key: b64('b'), value: b64('3') } },
  { path: '/v3/kv/range', body: { key: b64('a') } },
  {
    path: '/v3/kv/range',
    body: { key: b64('\0'), range_end: b64('\0'), sort_order: 'DESCEND', sort_target: 'KEY' },
  },
  { path: '/v3/kv/range', body: { key: b64('a'), range_end: b64('c'), limit: 1 } },
  { path: '/v3/kv/range', body: { key: b64('a'), range_end: b64('c'), count_only: true } },
  { path: '/v3/kv/range', body: { key: b64('a'), revision: '2' } },
  { path: '/v3/kv/range', body: { key: b64('a'), revision: 1000 } },
  {
    path: '/v3/kv/txn',
    body: {
      compare: [{ key: b64('a'), target: 'VALUE', result: 'EQUAL', value: b64('2') }],
      success: [{ request_put: { key: b64('c'), value: b64('4') } }, { request_range: { key: b64('a') } }],
      failure: [{ request_delete_range: { key: b64('b') } }],
    },
  },
  {
    path: '/v3/kv/txn',
    body: {
      compare: [{ key: b64('a'), target: 'VERSION', result: 'GREATER', version: '5' }],
      failure: [{ request_range: { key: b64('c') } }],
    },
  },
  { path: '/v3/kv/deleterange', body: { key: b64('c'), prev_kv: true } },
  { path: '/v3/kv/put', body: { key: '', value: b64('x') } },
  { path: '/v3/lease/grant', body: { TTL: 600 } },
  { path: '/v3/lease/revoke', body: { ID: '1' } },
  { path: '/v3/kv/compaction', body: { revision: '3' } },
  { path: '/v3/kv/range', body: { key: b64('a'), revision: '2' } },
  { path: '/v3/maintenance/status', body: {} },
];

/** Metric families the issue names; each must exist wherever etcd has it. */
const METRICS = [
  'etcd_server_has_leader',
  'etcd_server_leader_changes_seen_total',
  'etcd_disk_wal_fsync_duration_seconds_bucket',
  'etcd_mvcc_db_total_size_in_bytes',
  'etcd_server_proposals_committed_total',
];

function describeHttpDifferential(target: TargetName): void {
  describe.skipIf(!targetAvailable(target))(`differential HTTP: etcd 3.4 vs ${target}`, () => {
    const scope = new ResourceScope();
    let ref: ServerInstance | null = null;
    let tgt: ServerInstance | null = null;
    beforeAll(async () => {
      const d1 = await makeTempDir('xetcd-httpdiff-ref-');
      scope.defer('remove ref dir', () => d1.remove());
      const d2 = await makeTempDir(`xetcd-httpdiff-${target}-`);
      scope.defer('remove target dir', () => d2.remove());
      const r = await startTarget('etcd', d1.path);
      scope.defer('stop reference etcd', () => r.stop());
      const t = await startTarget(target, d2.path);
      scope.defer(`stop ${target}`, () => t.stop());
      ref = r;
      tgt = t;
    });
    afterAll(() => scope.close());

    it('/version and /health answer as etcd 3.4 does', async () => {
      for (const path of ['/version', '/health']) {
        const [want, got] = await Promise.all([
          http('GET', `${ref!.endpoint}${path}`),
          http('GET', `${tgt!.endpoint}${path}`),
        ]);
        expect(got.status, path).toBe(want.status);
        expect(JSON.parse(got.body), path).toEqual(JSON.parse(want.body));
      }
    });

    it('the /v3 JSON gateway gives the same statuses and bodies', async () => {
      for (const [i, call] of GATEWAY.entries()) {
        const body = JSON.stringify(call.body);
        const want = await http('POST', `${ref!.endpoint}${call.path}`, body);
        const got = await http('POST', `${tgt!.endpoint}${call.path}`, body);
        const label = `call ${i}: POST ${call.path} ${body}`;
        expect(got.status, label).toBe(want.status);
        expect(got.contentType.split(';')[0], label).toBe(want.contentType.split(';')[0]);
        const w = normalizeJson(want.body) as Record<string, unknown>;
        const g = normalizeJson(got.body) as Record<string, unknown>;
        if (call.path === '/v3/maintenance/status') {
          // Sizes, indexes and versions are the member's own; the shape and the version line are not.
          expect(Object.keys(g).sort(), label).toEqual(Object.keys(w).sort());
          expect(String(g['version']), label).toMatch(/^3\.4\./);
          continue;
        }
        expect(g, label).toEqual(w);
      }
    });

    it('the /v3/watch stream replays history as JSON lines, like etcd', async () => {
      const replay = async (endpoint: string): Promise<string[]> => {
        const put = async (v: string): Promise<number> => {
          const r = await http(
            'POST',
            `${endpoint}/v3/kv/put`,
            JSON.stringify({ key: b64('w'), value: b64(v) }),
          );
          return Number((JSON.parse(r.body) as { header: { revision: string } }).header.revision);
        };
        const first = await put('1');
        await put('2');
        const body = JSON.stringify({
          create_request: { key: b64('w'), start_revision: String(first), prev_kv: true },
        });
        return httpStream(`${endpoint}/v3/watch`, body, 2, 3_000);
      };
      const want = await replay(ref!.endpoint);
      const got = await replay(tgt!.endpoint);
      expect(want.length).toBe(2);
      expect(got.map(normalizeJson)).toEqual(want.map(normalizeJson));
    });

    it('malformed JSON is a 400 with gRPC code 3 (the text is Go’s own)', async () => {
      const [want, got] = await Promise.all([
        http('POST', `${ref!.endpoint}/v3/kv/range`, '{bad'),
        http('POST', `${tgt!.endpoint}/v3/kv/range`, '{bad'),
      ]);
      expect(got.status).toBe(want.status);
      const g = JSON.parse(got.body) as { code: number; error: string; message: string };
      const w = JSON.parse(want.body) as { code: number };
      expect(g.code).toBe(w.code);
      expect(typeof g.error).toBe('string');
      expect(g.message).toBe(g.error);
    });

    it('bad requests get etcd’s statuses and words: base64, truncated or broken JSON, enum names, size, method', async () => {
      const big = (n: number) =>
        JSON.stringify({ key: b64('k'), value: Buffer.alloc(n, 120).toString('base64') });
      const calls: ReadonlyArray<readonly [string, string]> = [
        ['/v3/kv/put', '{"key":"!!!","value":"YmFy"}'],
        ['/v3/kv/put', '{"key":"Zm9=v","value":"YmFy"}'],
        ['/v3/kv/put', '{"key":"Zm9","value":"YmFy"}'],
        ['/v3/kv/put', '{"key":"Zm9v","val'],
        ['/v3/kv/put', '{"key":"Zm9v",'],
        ['/v3/kv/range', '{"key":}'],
        ['/v3/kv/range', '{"key" "Zm9v"}'],
        ['/v3/kv/range', '{"key":"Zm9v"} trailing'],
        ['/v3/kv/range', '{"key":"Zm9v","sort_order":"UP"}'],
        ['/v3/kv/range', '{"key":"Zm9v","sort_target":"NOPE"}'],
        // Past --max-request-bytes: etcd's own check; past gRPC's receive limit too: gRPC's, 429.
        ['/v3/kv/put', big(1_600_000)],
        ['/v3/kv/put', big(2_600_000)],
      ];
      for (const [path, body] of calls) {
        const [want, got] = await Promise.all([
          http('POST', `${ref!.endpoint}${path}`, body),
          http('POST', `${tgt!.endpoint}${path}`, body),
        ]);
        const label = `POST ${path} ${body.slice(0, 60)}`;
        expect(got.status, label).toBe(want.status);
        expect(normalizeJson(got.body), label).toEqual(normalizeJson(want.body));
      }
      const [want, got] = await Promise.all([
        http('GET', `${ref!.endpoint}/v3/kv/range`),
        http('GET', `${tgt!.endpoint}/v3/kv/range`),
      ]);
      expect([got.status, got.contentType, got.body]).toEqual([want.status, want.contentType, want.body]);
    });

    it('an enum number outside the enum is refused clearly (etcd 3.4 crashes on a sort_target out of range)', async () => {
      if (target === 'etcd') return;
      const got = await http('POST', `${tgt!.endpoint}/v3/kv/range`, '{"key":"Zm9v","sort_target":99}');
      expect(got.status).toBe(400);
      expect(JSON.parse(got.body)).toMatchObject({
        code: 3,
        error:
          'unknown value 99 for enum etcdserverpb.RangeRequest_SortTarget (field etcdserverpb.RangeRequest.sort_target); valid: KEY (0), VERSION (1), CREATE (2), MOD (3), VALUE (4)',
      });
    });

    it('/metrics exposes etcd’s metric names for the concepts named in the issue', async () => {
      const [want, got] = await Promise.all([
        http('GET', `${ref!.endpoint}/metrics`),
        http('GET', `${tgt!.endpoint}/metrics`),
      ]);
      expect(got.status).toBe(200);
      for (const name of METRICS) {
        expect(want.body, `etcd has ${name}`).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
        expect(got.body, `${target} has ${name}`).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
      }
      expect(got.body).toMatch(/^etcd_server_has_leader 1$/m);
    });
  });
}

for (const t of selectedTargets()) describeHttpDifferential(t);
