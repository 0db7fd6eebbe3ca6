import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config, type ConfigResult } from '../../../src/embed/config.js';

type Flags = Record<string, string | boolean | undefined>;

function load(
  flags: Flags = {},
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): ConfigResult {
  return loadConfig({
    flags,
    env,
    readFile: (p) => {
      const f = files[p];
      if (f === undefined) throw new Error(`ENOENT: no such file '${p}'`);
      return f;
    },
  });
}

function ok(flags: Flags = {}, env: Record<string, string> = {}, files: Record<string, string> = {}): Config {
  const r = load(flags, env, files);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.problems.join('\n')}`);
  return r.config;
}

function problems(
  flags: Flags = {},
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): string[] {
  const r = load(flags, env, files);
  if (r.ok) throw new Error('expected problems, config was accepted');
  return [...r.problems];
}

const client = (url: string): Flags => ({ 'listen-client-urls': url, 'advertise-client-urls': url });

describe('defaults (etcd 3.4, data dir <name>.xetcd)', () => {
  it('with no flags is the default one-member cluster', () => {
    const c = ok();
    expect(c).toMatchObject({
      name: 'default',
      dataDir: 'default.xetcd',
      listenClientUrls: ['http://localhost:2379'],
      advertiseClientUrls: ['http://localhost:2379'],
      listenPeerUrls: ['http://localhost:2380'],
      initialAdvertisePeerUrls: ['http://localhost:2380'],
      initialCluster: [{ name: 'default', peerUrls: ['http://localhost:2380'] }],
      initialClusterState: 'new',
      initialClusterToken: 'etcd-cluster',
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      electionTicks: 10,
      snapshotCount: 100000,
      autoCompaction: { mode: 'periodic', retentionMs: 0 },
      quotaBackendBytes: 2 * 1024 ** 3,
      maxRequestBytes: 1.5 * 1024 * 1024,
      maxTxnOps: 128,
      preVote: false,
      snapshotCatchUpEntries: 5000,
      watchProgressNotifyIntervalMs: 600_000,
      logLevel: 'info',
      natsServers: [],
    });
    expect(c.clientTls).toBeUndefined();
    expect(c.inspect).toBeUndefined();
    expect(c.memberId.toString(16)).toBe('8e9e05c52164694d');
    expect(c.clusterId.toString(16)).toBe('cdf818194e3a8c32');
  });

  it('reads the watch progress interval as a Go duration and refuses nonsense', () => {
    expect(ok({ 'experimental-watch-progress-notify-interval': '500ms' }).watchProgressNotifyIntervalMs).toBe(
      500,
    );
    expect(problems({ 'experimental-watch-progress-notify-interval': 'soon' }).join('\n')).toContain(
      'experimental-watch-progress-notify-interval',
    );
  });

  it('--name alone makes a cluster of that member and names the data dir after it (as etcd)', () => {
    const c = ok({ name: 'infra1' });
    expect(c.dataDir).toBe('infra1.xetcd');
    expect(c.initialCluster).toEqual([{ name: 'infra1', peerUrls: ['http://localhost:2380'] }]);
  });

  it('quota 0 means the default, negative disables it (with a warning), snapshot-count 0 means default', () => {
    expect(ok({ 'quota-backend-bytes': '0' }).quotaBackendBytes).toBe(2 * 1024 ** 3);
    const r = load({ 'quota-backend-bytes': '-1', 'snapshot-count': '0' });
    expect(r.ok && r.config.quotaBackendBytes).toBe(Infinity);
    expect(r.ok && r.config.snapshotCount).toBe(100000);
    expect(r.warnings.join('\n')).toMatch(/quota is disabled/);
  });
});

describe('precedence: flag > XETCD_* env > YAML file > default', () => {
  const file = { '/etc/xetcd.yml': 'snapshot-count: 300\nname: fromfile\nmax-txn-ops: 7\n' };

  it('each layer overrides the one below', () => {
    const flags = { 'config-file': '/etc/xetcd.yml', 'snapshot-count': '100' };
    const env = { XETCD_SNAPSHOT_COUNT: '200', XETCD_MAX_TXN_OPS: '9' };
    const c = ok(flags, env, file);
    expect(c.snapshotCount).toBe(100); // flag
    expect(c.maxTxnOps).toBe(9); // env beats file
    expect(c.name).toBe('fromfile'); // file beats default
    expect(c.maxRequestBytes).toBe(1572864); // default
    expect(c.configFile).toBe('/etc/xetcd.yml');
  });

  it('the config file can come from XETCD_CONFIG_FILE', () => {
    expect(ok({}, { XETCD_CONFIG_FILE: '/etc/xetcd.yml' }, file).name).toBe('fromfile');
  });

  it("reads etcd's YAML shape: URL strings, numbers, booleans, client-transport-security", () => {
    const dir = mkdtempSync(join(tmpdir(), 'xetcd-cfg-'));
    const cert = join(dir, 'c.pem');
    const key = join(dir, 'k.pem');
    const ca = join(dir, 'ca.pem');
    for (const f of [cert, key, ca]) writeFileSync(f, 'x');
    const yaml = [
      'name: infra0',
      'data-dir: /var/lib/xetcd',
      'listen-client-urls: https://127.0.0.1:2379,https://127.0.0.1:22379',
      'advertise-client-urls: [https://127.0.0.1:2379]',
      'heartbeat-interval: 50',
      'election-timeout: 500',
      'pre-vote: true',
      'client-transport-security:',
      `  cert-file: ${cert}`,
      `  key-file: ${key}`,
      '  client-cert-auth: true',
      `  trusted-ca-file: ${ca}`,
    ].join('\n');
    const c = ok({ 'config-file': '/c.yml' }, {}, { '/c.yml': yaml });
    expect(c.listenClientUrls).toEqual(['https://127.0.0.1:2379', 'https://127.0.0.1:22379']);
    expect(c.advertiseClientUrls).toEqual(['https://127.0.0.1:2379']);
    expect(c.electionTicks).toBe(10);
    expect(c.preVote).toBe(true);
    expect(c.clientTls).toEqual({
      certFile: cert,
      keyFile: key,
      selfSigned: false,
      clientCertAuth: true,
      trustedCaFile: ca,
      ciphers: [],
    });
  });

  it('refuses unknown YAML keys, unreadable and malformed files', () => {
    expect(problems({ 'config-file': '/c.yml' }, {}, { '/c.yml': 'nmae: x\n' })).toEqual([
      "--config-file: unknown key 'nmae' in '/c.yml' (keys are the flag names, e.g. data-dir)",
    ]);
    expect(
      problems({ 'config-file': '/c.yml' }, {}, { '/c.yml': 'client-transport-security:\n  foo: 1\n' })[0],
    ).toMatch(/unknown key 'client-transport-security.foo'/);
    expect(problems({ 'config-file': '/missing.yml' })[0]).toMatch(
      /^--config-file: cannot read '\/missing.yml'/,
    );
    expect(problems({ 'config-file': '/c.yml' }, {}, { '/c.yml': 'a: [\n' })[0]).toMatch(/is not valid YAML/);
    expect(problems({ 'config-file': '/c.yml' }, {}, { '/c.yml': '- a\n- b\n' })[0]).toMatch(
      /must be a mapping/,
    );
  });

  it('warns about XETCD_* variables it does not know', () => {
    const r = load({}, { XETCD_NAMEE: 'x' });
    expect(r.ok).toBe(true);
    expect(r.warnings).toContain('unrecognized environment variable XETCD_NAMEE=x; ignored');
  });

  it('names the env variable in a problem that came from the environment', () => {
    expect(problems({}, { XETCD_MAX_TXN_OPS: 'lots' })).toEqual([
      "--max-txn-ops (from XETCD_MAX_TXN_OPS): 'lots' is not a whole number; a count of operations, e.g. 128",
    ]);
  });
});

describe('validation: one line per problem, naming the flag and what would be valid', () => {
  it.each<[string, Flags, string]>([
    [
      'election vs heartbeat',
      { 'election-timeout': '50' },
      '--election-timeout: 50 must be at least 5 × --heartbeat-interval (100), i.e. ≥ 500',
    ],
    [
      'election too long',
      { 'election-timeout': '60000' },
      '--election-timeout: 60000 is too long; it must be at most 50000 ms',
    ],
    [
      'not a number',
      { 'heartbeat-interval': '100ms' },
      "--heartbeat-interval: '100ms' is not a whole number; the heartbeat interval is in milliseconds, e.g. 100",
    ],
    [
      'zero heartbeat',
      { 'heartbeat-interval': '0' },
      '--heartbeat-interval: 0 is below 1; the heartbeat interval is in milliseconds, e.g. 100',
    ],
    ['max-txn-ops', { 'max-txn-ops': '0' }, '--max-txn-ops: 0 is below 1; a count of operations, e.g. 128'],
    [
      'max-request-bytes',
      { 'max-request-bytes': '1.5MiB' },
      "--max-request-bytes: '1.5MiB' is not a whole number; a size in bytes, e.g. 1572864",
    ],
    [
      'snapshot-count',
      { 'snapshot-count': '-5' },
      '--snapshot-count: -5 is below 0; a count of applied entries between snapshots, e.g. 100000',
    ],
    [
      'quota not a number',
      { 'quota-backend-bytes': '8GiB' },
      "--quota-backend-bytes: '8GiB' is not a whole number of bytes (e.g. 2147483648)",
    ],
    [
      'client URL scheme',
      client('unix://127.0.0.1:2379'),
      "--listen-client-urls: 'unix://127.0.0.1:2379' has scheme 'unix'; valid schemes are http, https",
    ],
    [
      'client URL port',
      client('http://127.0.0.1'),
      "--listen-client-urls: 'http://127.0.0.1' does not have the form http://host:port",
    ],
    [
      'client URL path',
      client('http://127.0.0.1:2379/v3'),
      "--listen-client-urls: 'http://127.0.0.1:2379/v3' must not contain a path, query or fragment",
    ],
    [
      'not a URL',
      client('127.0.0.1:2379'),
      "--listen-client-urls: '127.0.0.1:2379' is not a URL (expected e.g. http://127.0.0.1:2379)",
    ],
    [
      'empty URL list',
      client(''),
      '--listen-client-urls: must list at least one URL (e.g. http://127.0.0.1:2379)',
    ],
    [
      'initial cluster without --name',
      { 'initial-cluster': 'other=http://localhost:2380' },
      "--initial-cluster: does not contain --name 'default'; add default=http://localhost:2380",
    ],
    [
      'initial cluster URL differs from advertised',
      { 'initial-cluster': 'default=http://127.0.0.1:2390' },
      '--initial-cluster: has default=http://127.0.0.1:2390 but --initial-advertise-peer-urls is http://localhost:2380; they must list the same URLs',
    ],
    [
      'initial cluster entry',
      { 'initial-cluster': 'default' },
      "--initial-cluster: 'default' is not of the form name=peerURL",
    ],
    [
      'duplicate peer URL',
      {
        'initial-cluster': 'default=http://localhost:2380,b=http://localhost:2380',
        'nats-servers': 'nats://127.0.0.1:4222',
      },
      "--initial-cluster: peer URL http://localhost:2380 is given to both 'default' and 'b'",
    ],
    [
      'initial-cluster-state',
      { 'initial-cluster-state': 'joining' },
      "--initial-cluster-state: 'joining' is not valid; use one of new, existing",
    ],
    [
      'auto-compaction-mode',
      { 'auto-compaction-mode': 'hourly' },
      "--auto-compaction-mode: 'hourly' is not valid; use one of periodic, revision",
    ],
    [
      'periodic retention',
      { 'auto-compaction-retention': '1 hour' },
      "--auto-compaction-retention: '1 hour' is not a duration; in periodic mode use e.g. 1h, 30m, 1h30m, or a bare number of hours (0 disables)",
    ],
    [
      'revision retention',
      { 'auto-compaction-mode': 'revision', 'auto-compaction-retention': '1h' },
      "--auto-compaction-retention: '1h' is not a revision count; in revision mode use a whole number of revisions, e.g. 1000 (0 disables)",
    ],
    [
      'log level',
      { 'log-level': 'verbose' },
      "--log-level: 'verbose' is not valid; use one of debug, info, warn, error, panic, fatal",
    ],
    ['boolean', { 'pre-vote': 'yes' }, "--pre-vote: 'yes' is not a boolean; use true or false"],
    [
      'multi-member without NATS',
      {
        'initial-cluster': 'default=http://localhost:2380,b=http://127.0.0.1:2381',
      },
      '--nats-servers: must be given when --initial-cluster names 2 members (peers talk over NATS), e.g. nats://127.0.0.1:4222',
    ],
    [
      'nats scheme',
      { 'nats-servers': 'http://127.0.0.1:4222' },
      "--nats-servers: 'http://127.0.0.1:4222' has scheme 'http'; valid schemes are nats, tls, ws, wss",
    ],
    [
      'https without cert',
      client('https://127.0.0.1:2379'),
      '--cert-file: --cert-file and --key-file (or --auto-tls) are required for the https URL https://127.0.0.1:2379',
    ],
    [
      'missing cert file',
      {
        ...client('https://127.0.0.1:2379'),
        'cert-file': '/nonexistent/c.pem',
        'key-file': '/nonexistent/k.pem',
      },
      "--cert-file: file '/nonexistent/c.pem' does not exist",
    ],
    [
      'inspect',
      { inspect: 'maybe' },
      "--inspect: 'maybe' is not valid; use true (serve /inspect on the client port), false or a ws:// URL such as ws://localhost:8080",
    ],
    [
      'empty name',
      { name: '', 'initial-cluster': '=http://localhost:2380' },
      '--name: must not be empty (e.g. --name infra1)',
    ],
    [
      'listen without advertise',
      { 'listen-client-urls': 'http://127.0.0.1:2379' },
      '--advertise-client-urls: is required when --listen-client-urls is set explicitly (list the URLs clients should use, e.g. the listen URLs)',
    ],
  ])('%s', (_label, flags, line) => {
    expect(problems(flags)).toContain(line);
  });

  it('TLS flags must be consistent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xetcd-tls-'));
    const f = join(dir, 'x.pem');
    writeFileSync(f, 'x');
    expect(problems({ ...client('https://127.0.0.1:2379'), 'cert-file': f })).toContain(
      '--key-file: --cert-file and --key-file (or --auto-tls) are required for the https URL https://127.0.0.1:2379',
    );
    expect(
      problems({
        ...client('https://127.0.0.1:2379'),
        'cert-file': f,
        'key-file': f,
        'client-cert-auth': true,
      }),
    ).toEqual([
      '--trusted-ca-file: is required when --client-cert-auth is on (the CA that signs client certificates)',
    ]);
    expect(problems({ 'cert-file': f, 'key-file': f })).toEqual([
      '--listen-client-urls: are all http:// but --cert-file/--key-file are set; use https:// URLs to serve TLS',
    ]);
    expect(problems({ 'client-cert-auth': true, 'trusted-ca-file': f })).toEqual([
      '--client-cert-auth: needs an https:// --listen-client-urls (client certificates only exist over TLS)',
    ]);
    const c = ok({ ...client('https://127.0.0.1:2379'), 'cert-file': f, 'key-file': f });
    expect(c.clientTls).toEqual({
      certFile: f,
      keyFile: f,
      selfSigned: false,
      clientCertAuth: false,
      ciphers: [],
    });
  });

  it('reports every problem of every flag at once, one line each', () => {
    // Cross-flag rules (election vs heartbeat, TLS pairs) are checked once each flag parses on its own.
    const lines = problems({
      'election-timeout': 'soon',
      'log-level': 'loud',
      'initial-cluster-state': 'old',
    });
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^--[a-z-]+: /);
  });

  it('warns (as etcd does) but accepts a quota above 8 GiB', () => {
    const r = load({ 'quota-backend-bytes': String(10 * 1024 ** 3) });
    expect(r.ok).toBe(true);
    expect(r.warnings[0]).toMatch(
      /^--quota-backend-bytes 10737418240 exceeds the maximum recommended 8589934592/,
    );
  });
});

describe('parsed values', () => {
  it('retention: durations, bare hours, revisions', () => {
    expect(ok({ 'auto-compaction-retention': '1h' }).autoCompaction).toEqual({
      mode: 'periodic',
      retentionMs: 3_600_000,
    });
    expect(ok({ 'auto-compaction-retention': '30m' }).autoCompaction).toEqual({
      mode: 'periodic',
      retentionMs: 1_800_000,
    });
    expect(ok({ 'auto-compaction-retention': '5' }).autoCompaction).toEqual({
      mode: 'periodic',
      retentionMs: 5 * 3_600_000,
    });
    expect(
      ok({ 'auto-compaction-mode': 'revision', 'auto-compaction-retention': '1000' }).autoCompaction,
    ).toEqual({
      mode: 'revision',
      retentionRevisions: 1000,
    });
  });

  it('booleans as Go parses them; a bare flag is true', () => {
    expect(ok({ 'pre-vote': true }).preVote).toBe(true);
    expect(ok({ 'pre-vote': 'T' }).preVote).toBe(true);
    expect(ok({ 'pre-vote': '0' }).preVote).toBe(false);
  });

  it('inspect: bare or true serves /inspect, a URL streams there', () => {
    expect(ok({ inspect: true }).inspect).toEqual({ kind: 'serve' });
    expect(ok({ inspect: 'TRUE' }).inspect).toEqual({ kind: 'serve' });
    expect(ok({}, { XETCD_INSPECT: 'true' }).inspect).toEqual({ kind: 'serve' });
    expect(ok({}, { XETCD_INSPECT: 'ws://127.0.0.1:9999' }).inspect).toEqual({
      kind: 'url',
      url: 'ws://127.0.0.1:9999',
    });
    expect(ok({ inspect: 'false' }).inspect).toBeUndefined();
  });

  it('a three-member cluster gets the IDs etcd computes', () => {
    const c = ok({
      name: 'a',
      'initial-advertise-peer-urls': 'http://127.0.0.1:23801',
      'initial-cluster': 'a=http://127.0.0.1:23801,b=http://127.0.0.1:23802,c=http://127.0.0.1:23803',
      'initial-cluster-token': 'tok-x',
      'nats-servers': 'nats://127.0.0.1:4222',
    });
    expect(c.memberId.toString(16)).toBe('3f87d1e9930d82d9');
    expect(c.clusterId.toString(16)).toBe('834f70e5e236bc3d');
    expect(c.natsServers).toEqual(['nats://127.0.0.1:4222']);
  });

  it('canonicalizes URLs (trailing slash, default port kept)', () => {
    const c = ok(client('http://127.0.0.1:80/'));
    expect(c.listenClientUrls).toEqual(['http://127.0.0.1:80']);
  });
});
