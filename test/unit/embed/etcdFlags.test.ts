// Every flag Debian's etcd 3.4 lists in `etcd --help` is one xetcd takes: on
// the command line (no "unknown option"), as ETCD_* and in etcd's YAML file.
// The list comes from the installed etcd, so a flag xetcd does not know fails
// here rather than on an operator's machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram, withDoubleDashes } from '../../../src/cli/run.js';
import { loadConfig, type ConfigResult } from '../../../src/embed/config.js';
import { FLAGS, etcdEnvName, flagSpec } from '../../../src/embed/flags.js';

interface EtcdFlag {
  readonly name: string;
  /** As --help prints it, quotes removed. */
  readonly shownDefault: string;
}

function etcdHelpFlags(): EtcdFlag[] {
  // etcd prints its help on stderr and exits 0.
  const text = execFileSync('etcd', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [...text.matchAll(/^ {2}--([a-z0-9-]+)(?: '?([^'\n]*)'?)?$/gm)].map((m) => ({
    name: m[1] ?? '',
    shownDefault: m[2] ?? '',
  }));
  return out;
}

const ETCD_FLAGS = etcdHelpFlags();

function load(flags: Record<string, string>, env: Record<string, string> = {}, yaml?: string): ConfigResult {
  return loadConfig({
    flags: yaml === undefined ? flags : { ...flags, 'config-file': '/etcd.yml' },
    env,
    readFile: () => yaml ?? '',
  });
}

/** A value of the flag's kind that is not its default, for the inert ones. */
function otherValue(name: string): string {
  const spec = flagSpec(name);
  if (spec === undefined) throw new Error(`no flag ${name}`);
  switch (spec.kind) {
    case 'bool':
      return spec.default === 'true' ? 'false' : 'true';
    case 'int':
      return String(Number(spec.default) + 7);
    case 'string':
    case 'list':
      return 'something-else';
  }
}

describe("etcd 3.4's flags (from `etcd --help`)", () => {
  it('lists the flags of the installed etcd', () => {
    // Guards the parsing above: 3.4.23 lists 80.
    expect(ETCD_FLAGS.length).toBeGreaterThanOrEqual(75);
    expect(ETCD_FLAGS.map((f) => f.name)).toContain('listen-metrics-urls');
  });

  it.each(ETCD_FLAGS.map((f) => [f.name]))('--%s is a flag of xetcd', (name) => {
    expect(
      flagSpec(name),
      `etcd's --${name} is unknown to xetcd (add it to flags.ts or inertFlags.ts)`,
    ).toBeDefined();
  });

  it('the command line takes each of them, with two dashes or one (as Go does)', () => {
    for (const f of FLAGS.filter((x) => ETCD_FLAGS.some((e) => e.name === x.name))) {
      const value = f.kind === 'bool' ? `--${f.name}=${f.default}` : `--${f.name}=${f.default || 'x'}`;
      for (const arg of [value, value.slice(1)]) {
        const errors: string[] = [];
        const program = buildProgram(
          () => undefined,
          (t) => errors.push(t),
        );
        program.parse(withDoubleDashes([arg]), { from: 'user' });
        expect(errors, arg).toEqual([]);
      }
    }
  });

  it('an inert flag set to anything but its default warns once, saying why; at its default it is silent', () => {
    const inert = FLAGS.filter((f) => f.inert !== undefined);
    expect(inert.length).toBeGreaterThan(10);
    for (const f of inert) {
      const quiet = load({ [f.name]: f.default });
      expect(quiet.ok && quiet.warnings, f.name).toEqual([]);
      const r = load({ [f.name]: otherValue(f.name) });
      expect(r.ok, f.name).toBe(true);
      expect(
        r.warnings.filter((w) => w.includes(`--${f.name} `)),
        f.name,
      ).toEqual([`--${f.name} changes nothing in xetcd: ${f.inert}`]);
    }
  });

  it('refuses what would make it another kind of server, saying why', () => {
    const refusals: Array<[Record<string, string>, RegExp]> = [
      [{ 'enable-v2': 'true' }, /^--enable-v2: xetcd serves only the v3 API/],
      [{ proxy: 'on' }, /^--proxy: xetcd is never etcd's v2 proxy/],
      [{ discovery: 'https://discovery.etcd.io/abc' }, /^--discovery: discovery bootstraps through a v2/],
      [{ 'discovery-srv': 'example.com' }, /^--discovery-srv: DNS SRV bootstrap is not supported/],
      [{ 'experimental-enable-v2v3': '/v2/' }, /^--experimental-enable-v2v3: xetcd serves no v2 API/],
    ];
    for (const [flags, line] of refusals) {
      const r = load(flags);
      expect(r.ok).toBe(false);
      expect(r.ok ? [] : r.problems).toEqual([expect.stringMatching(line)]);
    }
    expect(load({ 'enable-v2': 'false', proxy: 'off' }).ok).toBe(true);
  });

  it('reads ETCD_* as etcd does; XETCD_* wins; an unknown ETCD_* warns', () => {
    const r = load(
      {},
      {
        [etcdEnvName('name')]: 'from-etcd',
        ETCD_SNAPSHOT_COUNT: '42',
        XETCD_SNAPSHOT_COUNT: '43',
        ETCD_NAMEE: 'x',
      },
    );
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.name).toBe('from-etcd');
    expect(r.config.snapshotCount).toBe(43);
    expect(r.warnings).toContain('unrecognized environment variable ETCD_NAMEE=x; ignored');
    const bad = load({}, { ETCD_MAX_TXN_OPS: 'lots' });
    expect(bad.ok ? [] : bad.problems).toEqual([
      "--max-txn-ops (from ETCD_MAX_TXN_OPS): 'lots' is not a whole number; a count of operations, e.g. 128",
    ]);
  });

  it("reads etcd's YAML config file as etcd 3.4 documents it", () => {
    const yaml = [
      "name: 'infra1'",
      'data-dir:',
      'wal-dir:',
      'snapshot-count: 10000',
      'heartbeat-interval: 100',
      'election-timeout: 1000',
      'quota-backend-bytes: 0',
      'listen-peer-urls: http://localhost:2380',
      'listen-client-urls: http://localhost:2379',
      'max-snapshots: 5',
      'max-wals: 5',
      'cors:',
      'initial-advertise-peer-urls: http://localhost:2380',
      'advertise-client-urls: http://localhost:2379',
      'discovery:',
      "discovery-fallback: 'proxy'",
      'discovery-proxy:',
      'discovery-srv:',
      'initial-cluster:',
      "initial-cluster-token: 'etcd-cluster'",
      "initial-cluster-state: 'new'",
      'strict-reconfig-check: false',
      'enable-v2: false',
      'enable-pprof: true',
      "proxy: 'off'",
      'proxy-failure-wait: 5000',
      'proxy-refresh-interval: 30000',
      'proxy-dial-timeout: 1000',
      'proxy-write-timeout: 5000',
      'proxy-read-timeout: 0',
      'client-transport-security:',
      '  cert-file:',
      '  key-file:',
      '  client-cert-auth: false',
      '  trusted-ca-file:',
      '  auto-tls: false',
      'peer-transport-security:',
      '  cert-file:',
      '  key-file:',
      '  client-cert-auth: false',
      '  trusted-ca-file:',
      '  auto-tls: false',
      'debug: false',
      'logger: zap',
      'log-outputs: [stderr]',
      'force-new-cluster: false',
      'auto-compaction-mode: periodic',
      'auto-compaction-retention: "1"',
      'enable-grpc-gateway: true',
    ].join('\n');
    const r = load({}, {}, yaml);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.warnings).toEqual([]);
    expect(r.config.name).toBe('infra1');
    expect(r.config.dataDir).toBe('infra1.xetcd');
    expect(r.config.enablePprof).toBe(true);
    expect(r.config.strictReconfigCheck).toBe(false);
    expect(r.config.log).toEqual({ level: 'info', logger: 'zap', outputs: ['stderr'] });
    expect(r.config.autoCompaction).toEqual({ mode: 'periodic', retentionMs: 3_600_000 });
  });

  it('peer-transport-security: a TLS pair is etcd’s peer TLS (inert), a key file alone is the shared peer secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xetcd-peer-'));
    const crt = join(dir, 'peer.crt');
    const key = join(dir, 'peer.key');
    for (const f of [crt, key]) writeFileSync(f, 'x'.repeat(32));
    const pair = load({}, {}, `peer-transport-security:\n  cert-file: ${crt}\n  key-file: ${key}\n`);
    if (!pair.ok) throw new Error(pair.problems.join('\n'));
    expect(pair.config.peerKeyFile).toBeUndefined();
    expect(pair.warnings).toEqual([
      expect.stringMatching(/^--peer-cert-file changes nothing in xetcd: peers talk over NATS/),
      expect.stringMatching(
        /^--peer-key-file is read as etcd's peer TLS key because --peer-cert-file is set/,
      ),
    ]);
    const alone = load({}, {}, `peer-transport-security:\n  key-file: ${key}\n`);
    expect(alone.ok && alone.config.peerKeyFile).toBe(key);
  });

  it('--debug is --log-level debug; --logger and --log-outputs are checked', () => {
    const r = load({ debug: 'true', 'log-outputs': 'stdout,/tmp/x.log,default' });
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.log).toEqual({ level: 'debug', outputs: ['stdout', '/tmp/x.log', 'stderr'] });
    const bad = load({ logger: 'logrus' });
    expect(bad.ok ? [] : bad.problems).toEqual([
      "--logger: 'logrus' is not valid; use zap (JSON lines) or capnslog (lines for people)",
    ]);
  });

  it("--cipher-suites takes Go's names and refuses others", () => {
    const r = load({
      'listen-client-urls': 'https://127.0.0.1:2379',
      'advertise-client-urls': 'https://127.0.0.1:2379',
      'auto-tls': 'true',
      'cipher-suites': 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    });
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.config.clientTls?.ciphers).toEqual([
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384',
    ]);
    expect(r.config.clientTls?.selfSigned).toBe(true);
    const bad = load({ 'cipher-suites': 'RC4-MD5' });
    expect(bad.ok ? [] : bad.problems[0]).toMatch(
      /^--cipher-suites: 'RC4-MD5' is not a TLS 1.2 cipher suite/,
    );
  });

  it('docs/configuration.md documents every flag', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    // Secrets are no command-line flags: they are documented by their YAML key.
    const documented = (f: (typeof FLAGS)[number]) =>
      doc.includes(f.secret === true ? `\`${f.name}\`` : `\`--${f.name}\``);
    expect(FLAGS.filter((f) => !documented(f)).map((f) => f.name)).toEqual([]);
  });
});
