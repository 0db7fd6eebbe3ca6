// The member's validated configuration. Every source (flags, XETCD_* env, YAML,
// defaults; see configSources.ts) is reduced to text per flag, then one zod
// schema parses and cross-checks it. Each problem becomes one line that names the
// flag, says what is wrong and what would be valid, so a person can fix the
// command line without reading code. Nothing starts until this passes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { gatherSources, settingLabel, type RawSettings, type SourceInput } from './configSources.js';
import { formatDuration, parseGoDuration } from './duration.js';
import { clusterId, memberId } from '../server/ids.js';
import { checkUrl, parseInitialCluster, sameUrlSet, splitList, type ClusterMember } from './urls.js';
import { LOG_LEVELS, type LogLevel } from '../logging.js';
import type { TokenOptions } from '../auth/tokenProvider.js';
import { MAX_BCRYPT_COST, MIN_BCRYPT_COST } from '../auth/passwords.js';
import { parseTokenOptions } from './authTokenFlag.js';
import { knownCipherSuites, opensslCipher } from './cipherSuites.js';
import { INERT_FLAGS } from './inertFlags.js';
import type { FlagKind } from './flags.js';

export const GiB = 1024 * 1024 * 1024;
/** etcd's DefaultQuotaBytes (used when --quota-backend-bytes is 0). */
export const DEFAULT_QUOTA_BYTES = 2 * GiB;
/** etcd's MaxQuotaBytes: above it etcd warns that the backend may perform poorly. */
export const MAX_QUOTA_BYTES = 8 * GiB;
/** etcd's maxElectionMs. */
export const MAX_ELECTION_MS = 50_000;
export const DEFAULT_SNAPSHOT_COUNT = 100_000;

/**
 * --inspect: where the member's actors are shown. A URL: streamed to an
 * inspector listening there. Bare (or 'true'): served by the member itself on
 * its client port at /inspect.
 */
export type InspectTarget = { readonly kind: 'url'; readonly url: string } | { readonly kind: 'serve' };

/** The client port's TLS: certificate files, or (--auto-tls) a self-signed pair made at start. */
export interface ClientTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** The files are generated at start (under <data-dir>/fixtures/client) when they do not exist. */
  readonly selfSigned: boolean;
  readonly clientCertAuth: boolean;
  readonly trustedCaFile?: string;
  /** --client-crl-file: certificates it revokes are refused. */
  readonly crlFile?: string;
  /** --client-cert-allowed-hostname: a client certificate must be valid for this host name. */
  readonly allowedHostname?: string;
  /** --cipher-suites as OpenSSL names; empty: Node's defaults. */
  readonly ciphers: readonly string[];
}

export type LoggerKind = 'zap' | 'capnslog';

/** How the member logs (--logger, --log-outputs, --log-level, --debug). */
export interface LogSettings {
  readonly level: LogLevel;
  /** Unset: JSON lines, or lines for people when stderr is a terminal. */
  readonly logger?: LoggerKind;
  /** 'stderr', 'stdout' or file paths. */
  readonly outputs: readonly string[];
}

/** The key space's changes on NATS (--nats-watch-subjects); jetStream names the stream to publish into. */
export interface NatsWatchConfig {
  readonly jetStream?: string;
}

/** How this member connects to NATS beyond the server URLs: TLS and credentials, as the NATS client takes them. */
export interface NatsSecurity {
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  readonly credsFile?: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
}

/** Retention 0 (either mode) disables auto-compaction. */
export type AutoCompaction =
  | { readonly mode: 'periodic'; readonly retentionMs: number }
  | { readonly mode: 'revision'; readonly retentionRevisions: number };

export interface Config {
  readonly name: string;
  readonly dataDir: string;
  readonly listenClientUrls: readonly string[];
  readonly advertiseClientUrls: readonly string[];
  readonly listenPeerUrls: readonly string[];
  readonly initialAdvertisePeerUrls: readonly string[];
  readonly initialCluster: readonly ClusterMember[];
  readonly initialClusterState: 'new' | 'existing';
  readonly initialClusterToken: string;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  /** etcd's ElectionTicks: election timeout in heartbeat ticks. */
  readonly electionTicks: number;
  readonly snapshotCount: number;
  readonly autoCompaction: AutoCompaction;
  /** Effective quota in bytes; Infinity when disabled (negative flag value, as etcd). */
  readonly quotaBackendBytes: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly preVote: boolean;
  /** Restart from this member's data as a one-member cluster (recovery from a lost quorum). */
  readonly forceNewCluster: boolean;
  /** Refuse membership changes that would leave too few started members for a quorum. */
  readonly strictReconfigCheck: boolean;
  /** Compare the key space's hash with the other members' before serving. */
  readonly initialCorruptCheck: boolean;
  /** How often the leader compares hashes with every member (0: never). */
  readonly corruptCheckIntervalMs: number;
  /** Raft log entries kept behind a snapshot for slow followers (etcd: 5000). */
  readonly snapshotCatchUpEntries: number;
  /** How often a watcher that asked for progress notifications gets one (etcd: 10 minutes). */
  readonly watchProgressNotifyIntervalMs: number;
  /** Present when a client URL is https. */
  readonly clientTls?: ClientTls;
  readonly logLevel: LogLevel;
  readonly log: LogSettings;
  /** --wal-dir: where the Raft log lives instead of <data-dir>/member/raft. */
  readonly walDir?: string;
  /** --initial-election-tick-advance: a sole voter campaigns at once on boot. */
  readonly electionTickAdvance: boolean;
  readonly maxConcurrentStreams: number;
  /** --grpc-keepalive-interval; 0 disables server pings. */
  readonly grpcKeepaliveIntervalMs: number;
  readonly grpcKeepaliveTimeoutMs: number;
  /** --enable-pprof: Node CPU and heap profiles under /debug/pprof/. */
  readonly enablePprof: boolean;
  /** --metrics extensive adds grpc_server_handling_seconds. */
  readonly metricsLevel: 'basic' | 'extensive';
  /** --listen-metrics-urls: /metrics and /health on listeners of their own. */
  readonly listenMetricsUrls: readonly string[];
  /** --experimental-warning-apply-duration in milliseconds. */
  readonly warningApplyDurationMs: number;
  /** --experimental-compaction-batch-limit. */
  readonly compactionBatchLimit: number;
  /** --cors: allowed origins ('*' allows all). */
  readonly corsOrigins: readonly string[];
  /** --host-whitelist: Host names accepted on plain-text client URLs ('*' allows all). */
  readonly hostWhitelist: readonly string[];
  /** --auth-token: simple tokens, or JWTs with their keys. */
  readonly authToken: TokenOptions;
  /** --auth-token-ttl in milliseconds. */
  readonly authTokenTtlMs: number;
  readonly bcryptCost: number;
  readonly natsServers: readonly string[];
  readonly natsSecurity: NatsSecurity;
  /** --nats-watch-subjects / --nats-watch-jetstream: the key space's changes published to NATS. */
  readonly natsWatch?: NatsWatchConfig;
  /** --peer-key-file: the secret peer messages are authenticated with. */
  readonly peerKeyFile?: string;
  /** Where the actors' inspection events go, when --inspect is on. */
  readonly inspect?: InspectTarget;
  readonly configFile?: string;
  /** This member's ID as a new cluster computes it from --initial-cluster (etcd's NewMember). */
  readonly memberId: bigint;
  /** The cluster ID a new cluster gets from --initial-cluster (etcd's genID). */
  readonly clusterId: bigint;
}

export type ConfigResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[]; readonly warnings: readonly string[] };

type Ctx = z.core.$RefinementCtx;

function fail(ctx: Ctx, message: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

const text = z.string();

const wholeNumber = (hint: string, min: number) =>
  text.transform((s, ctx) => {
    const t = s.trim();
    if (!/^-?\d+$/.test(t)) return fail(ctx, `'${s}' is not a whole number; ${hint}`);
    const n = Number(t);
    if (!Number.isSafeInteger(n)) return fail(ctx, `${t} is too large; ${hint}`);
    if (n < min) return fail(ctx, `${t} is below ${min}; ${hint}`);
    return n;
  });

/** Go's strconv.ParseBool, which etcd's flag parsing uses. */
const bool = text.transform((s, ctx) => {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False', ''].includes(s)) return false;
  return fail(ctx, `'${s}' is not a boolean; use true or false`);
});

const urlList = (schemes: readonly string[], example: string, allowEmpty = false) =>
  text.transform((s, ctx) => {
    const items = splitList(s);
    if (items.length === 0 && !allowEmpty) return fail(ctx, `must list at least one URL (e.g. ${example})`);
    const out: string[] = [];
    for (const item of items) {
      const c = checkUrl(item, schemes);
      if (c.ok) out.push(c.url);
      else ctx.addIssue({ code: 'custom', message: c.problem });
    }
    return out;
  });

const oneOf = <T extends string>(values: readonly T[]) =>
  text.transform((s, ctx): T => {
    if ((values as readonly string[]).includes(s)) return s as T;
    return fail(ctx, `'${s}' is not valid; use one of ${values.join(', ')}`) as T;
  });

/** A Go duration that may be 0 (off); `what` says what it times, for the problem line. */
const goDuration = (example: string) =>
  text.transform((s, ctx) => {
    const ms = parseGoDuration(s.trim());
    if (ms === undefined || ms < 0) return fail(ctx, `'${s}' is not a duration; use e.g. ${example}`);
    return ms;
  });

/** What xetcd refuses because it would change what the member is: the flag must keep etcd's default. */
const refusedUnless = (allowed: (s: string) => boolean, why: string) =>
  text.refine(allowed, { message: why });

/** Inert flags are still checked for their kind, as etcd's flag parser would. */
function inertSchema(kind: FlagKind): z.ZodType<unknown, string> {
  switch (kind) {
    case 'bool':
      return bool;
    case 'int':
      return wholeNumber('a whole number', Number.MIN_SAFE_INTEGER);
    case 'string':
    case 'list':
      return text;
  }
}

const inertKeys = Object.fromEntries(INERT_FLAGS.map((f) => [f.name, inertSchema(f.kind)]));

const fileOrEmpty = text.transform((s, ctx) => {
  if (s === '') return '';
  if (!existsSync(s)) return fail(ctx, `file '${s}' does not exist`);
  return s;
});

const schema = z
  .object({
    name: text.refine((s) => s.trim() !== '', 'must not be empty (e.g. --name infra1)'),
    'data-dir': text,
    'listen-client-urls': urlList(['http', 'https'], 'http://127.0.0.1:2379'),
    'advertise-client-urls': urlList(['http', 'https'], 'http://127.0.0.1:2379'),
    'listen-peer-urls': urlList(['http', 'https'], 'http://127.0.0.1:2380'),
    'initial-advertise-peer-urls': urlList(['http', 'https'], 'http://127.0.0.1:2380'),
    'initial-cluster': text.transform((s, ctx) => {
      const parsed = parseInitialCluster(s, ['http', 'https']);
      if (parsed.ok) return parsed.members;
      for (const p of parsed.problems) ctx.addIssue({ code: 'custom', message: p });
      return z.NEVER;
    }),
    'initial-cluster-state': oneOf(['new', 'existing'] as const),
    'initial-cluster-token': text.refine((s) => s !== '', 'must not be empty (default etcd-cluster)'),
    'heartbeat-interval': wholeNumber('the heartbeat interval is in milliseconds, e.g. 100', 1),
    'election-timeout': wholeNumber('the election timeout is in milliseconds, e.g. 1000', 1),
    'snapshot-count': wholeNumber('a count of applied entries between snapshots, e.g. 100000', 0),
    'auto-compaction-mode': oneOf(['periodic', 'revision'] as const),
    'auto-compaction-retention': text,
    'quota-backend-bytes': text.transform((s, ctx) => {
      if (!/^-?\d+$/.test(s.trim()))
        return fail(ctx, `'${s}' is not a whole number of bytes (e.g. ${DEFAULT_QUOTA_BYTES})`);
      return Number(s.trim());
    }),
    'max-request-bytes': wholeNumber('a size in bytes, e.g. 1572864', 1),
    'max-txn-ops': wholeNumber('a count of operations, e.g. 128', 1),
    'pre-vote': bool,
    'force-new-cluster': bool,
    'strict-reconfig-check': bool,
    'experimental-initial-corrupt-check': bool,
    'experimental-corrupt-check-time': text.transform((s, ctx) => {
      const ms = parseGoDuration(s.trim());
      if (ms === undefined || ms < 0)
        return fail(ctx, `'${s}' is not a duration; use e.g. 5m, 30s, or 0s (off)`);
      return ms;
    }),
    'experimental-snapshot-catchup-entries': wholeNumber(
      'a count of raft log entries kept behind a snapshot, e.g. 5000',
      1,
    ),
    'experimental-watch-progress-notify-interval': text.transform((s, ctx) => {
      const ms = parseGoDuration(s.trim());
      if (ms === undefined || ms <= 0)
        return fail(ctx, `'${s}' is not a positive duration; use e.g. 10m, 30s or 500ms`);
      return ms;
    }),
    'cert-file': fileOrEmpty,
    'key-file': fileOrEmpty,
    'client-cert-auth': bool,
    'trusted-ca-file': fileOrEmpty,
    'log-level': oneOf(LOG_LEVELS),
    debug: bool,
    logger: text.transform((s, ctx): LoggerKind | undefined => {
      if (s === '') return undefined;
      if (s === 'zap' || s === 'capnslog') return s;
      return fail(
        ctx,
        `'${s}' is not valid; use zap (JSON lines) or capnslog (lines for people)`,
      ) as undefined;
    }),
    'log-outputs': text.transform((s, ctx) => {
      const outs = splitList(s).map((o) => (o === 'default' ? 'stderr' : o));
      if (outs.length === 0) return fail(ctx, 'must name at least one output (e.g. stderr)');
      return [...new Set(outs)];
    }),
    'wal-dir': text,
    'initial-election-tick-advance': bool,
    'max-concurrent-streams': wholeNumber('a count of streams per connection, e.g. 4294967295', 1),
    'grpc-keepalive-interval': goDuration('2h, 30s, or 0 (off)'),
    'grpc-keepalive-timeout': goDuration('20s, or 0 (off)'),
    'enable-v2': bool.refine(
      (on) => !on,
      'xetcd serves only the v3 API (gRPC and the /v3/ gateway), not v2; leave it false or migrate v2 clients to v3',
    ),
    'client-crl-file': fileOrEmpty,
    'client-cert-allowed-hostname': text,
    'auto-tls': bool,
    'cipher-suites': text.transform((s, ctx) => {
      const names = splitList(s);
      const out: string[] = [];
      for (const n of names) {
        const o = opensslCipher(n);
        if (o === undefined)
          ctx.addIssue({
            code: 'custom',
            message: `'${n}' is not a TLS 1.2 cipher suite; use Go's names: ${knownCipherSuites().join(', ')}`,
          });
        else out.push(o);
      }
      return out;
    }),
    'enable-pprof': bool,
    metrics: oneOf(['basic', 'extensive'] as const),
    'listen-metrics-urls': urlList(['http', 'https'], 'http://127.0.0.1:2381', true),
    'experimental-warning-apply-duration': goDuration('100ms or 1s'),
    'experimental-compaction-batch-limit': wholeNumber('revisions per compaction batch, e.g. 1000', 1),
    cors: text.transform((s) => splitList(s)),
    'host-whitelist': text.transform((s) => splitList(s)),
    proxy: refusedUnless(
      (s) => s === 'off',
      "xetcd is never etcd's v2 proxy; only 'off' is accepted (for a v3 proxy use etcd grpc-proxy, or point clients at the members)",
    ),
    discovery: refusedUnless(
      (s) => s === '',
      'discovery bootstraps through a v2 discovery service, which xetcd does not support; list the members with --initial-cluster',
    ),
    'discovery-srv': refusedUnless(
      (s) => s === '',
      'DNS SRV bootstrap is not supported; list the members with --initial-cluster',
    ),
    'experimental-enable-v2v3': refusedUnless(
      (s) => s === '',
      'xetcd serves no v2 API, through v3 or otherwise; leave it empty',
    ),
    ...inertKeys,
    // Inert itself, but it decides what --peer-key-file means.
    'peer-cert-file': text,
    'auth-token': text.transform((s, ctx) => {
      const parsed = parseTokenOptions(s.trim());
      if (typeof parsed === 'string') return fail(ctx, parsed);
      for (const file of [
        parsed.kind === 'jwt' ? parsed.pubKeyFile : undefined,
        parsed.kind === 'jwt' ? parsed.privKeyFile : undefined,
      ])
        if (file !== undefined && !existsSync(file)) return fail(ctx, `file '${file}' does not exist`);
      return parsed;
    }),
    'auth-token-ttl': wholeNumber('seconds a simple token lives after its last use, e.g. 300', 1),
    'bcrypt-cost': wholeNumber(
      `a bcrypt cost from ${MIN_BCRYPT_COST} to ${MAX_BCRYPT_COST}, e.g. 10`,
      MIN_BCRYPT_COST,
    ).refine((n) => n <= MAX_BCRYPT_COST, `must be at most ${MAX_BCRYPT_COST}`),
    'nats-servers': urlList(['nats', 'tls', 'ws', 'wss'], 'nats://127.0.0.1:4222', true),
    'nats-tls-ca-file': fileOrEmpty,
    'nats-tls-cert-file': fileOrEmpty,
    'nats-tls-key-file': fileOrEmpty,
    'nats-creds-file': fileOrEmpty,
    'nats-user': text,
    'nats-password': text,
    'nats-token': text,
    'nats-watch-subjects': bool,
    'nats-watch-jetstream': text.transform((s, ctx) => {
      const name = s.trim();
      if (name !== '' && !/^[A-Za-z0-9_-]{1,64}$/.test(name))
        return fail(ctx, `'${s}' is not a JetStream stream name; use letters, digits, '-' and '_'`);
      return name;
    }),
    'peer-key-file': fileOrEmpty,
    inspect: text.transform((s, ctx): InspectTarget | undefined => {
      if (['', '0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return undefined;
      if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return { kind: 'serve' };
      if (/^wss?:\/\/[^/]+/.test(s)) return { kind: 'url', url: s };
      return fail(
        ctx,
        `'${s}' is not valid; use true (serve /inspect on the client port), false or a ws:// URL such as ws://localhost:8080`,
      ) as undefined;
    }),
  })
  .superRefine((c, ctx) => {
    const at = (flag: string, message: string): void =>
      ctx.addIssue({ code: 'custom', path: [flag], message });

    if (c['election-timeout'] < 5 * c['heartbeat-interval']) {
      at(
        'election-timeout',
        `${c['election-timeout']} must be at least 5 × --heartbeat-interval (${c['heartbeat-interval']}), i.e. ≥ ${5 * c['heartbeat-interval']}`,
      );
    }
    if (c['election-timeout'] > MAX_ELECTION_MS) {
      at(
        'election-timeout',
        `${c['election-timeout']} is too long; it must be at most ${MAX_ELECTION_MS} ms`,
      );
    }

    const self = c['initial-cluster'].find((m) => m.name === c.name);
    if (self === undefined) {
      at(
        'initial-cluster',
        `does not contain --name '${c.name}'; add ${c.name}=${c['initial-advertise-peer-urls'][0] ?? 'http://localhost:2380'}`,
      );
    } else if (!sameUrlSet(self.peerUrls, c['initial-advertise-peer-urls'])) {
      at(
        'initial-cluster',
        `has ${c.name}=${self.peerUrls.join(',')} but --initial-advertise-peer-urls is ${c['initial-advertise-peer-urls'].join(',')}; they must list the same URLs`,
      );
    }

    if (c['initial-cluster'].length > 1 && c['nats-servers'].length === 0) {
      at(
        'nats-servers',
        `must be given when --initial-cluster names ${c['initial-cluster'].length} members (peers talk over NATS), e.g. nats://127.0.0.1:4222`,
      );
    }

    const https = [...c['listen-client-urls'], ...c['listen-metrics-urls']].filter((u) =>
      u.startsWith('https://'),
    );
    if (https.length > 0) {
      if ((c['cert-file'] === '' || c['key-file'] === '') && !c['auto-tls']) {
        at(
          c['cert-file'] === '' ? 'cert-file' : 'key-file',
          `--cert-file and --key-file (or --auto-tls) are required for the https URL ${https[0]}`,
        );
      }
    } else if (c['listen-client-urls'].length > 0 && (c['cert-file'] !== '' || c['key-file'] !== '')) {
      // etcd warns and ignores the files; a certificate nobody uses is almost always a typo'd URL.
      at(
        'listen-client-urls',
        `are all http:// but --cert-file/--key-file are set; use https:// URLs to serve TLS`,
      );
    }
    if (c['client-cert-allowed-hostname'] !== '' && !c['client-cert-auth']) {
      at(
        'client-cert-allowed-hostname',
        'needs --client-cert-auth (without it clients present no certificate to check)',
      );
    }
    if (c['client-crl-file'] !== '' && https.length === 0) {
      at(
        'client-crl-file',
        'needs an https:// --listen-client-urls (revocation applies to client certificates)',
      );
    }
    if ((c['cert-file'] === '') !== (c['key-file'] === '')) {
      at(
        c['cert-file'] === '' ? 'cert-file' : 'key-file',
        'must be given together with --cert-file/--key-file',
      );
    }
    if (c['client-cert-auth'] && c['trusted-ca-file'] === '') {
      at(
        'trusted-ca-file',
        'is required when --client-cert-auth is on (the CA that signs client certificates)',
      );
    }
    if (c['client-cert-auth'] && https.length === 0) {
      at(
        'client-cert-auth',
        'needs an https:// --listen-client-urls (client certificates only exist over TLS)',
      );
    }

    if ((c['nats-tls-cert-file'] === '') !== (c['nats-tls-key-file'] === '')) {
      at(
        c['nats-tls-cert-file'] === '' ? 'nats-tls-cert-file' : 'nats-tls-key-file',
        'must be given together with --nats-tls-cert-file/--nats-tls-key-file',
      );
    }
    if ((c['nats-watch-subjects'] || c['nats-watch-jetstream'] !== '') && c['nats-servers'].length === 0) {
      at(
        c['nats-watch-subjects'] ? 'nats-watch-subjects' : 'nats-watch-jetstream',
        'needs --nats-servers: the changes are published to NATS',
      );
    }
    if (c['nats-password'] !== '' && c['nats-user'] === '') {
      at('nats-user', 'is required with nats-password (XETCD_NATS_USER)');
    }
    const natsAuths = [
      c['nats-creds-file'] !== '' ? '--nats-creds-file' : '',
      c['nats-user'] !== '' ? 'nats-user' : '',
      c['nats-token'] !== '' ? 'nats-token' : '',
    ].filter((a) => a !== '');
    if (natsAuths.length > 1) {
      at('nats-creds-file', `${natsAuths.join(' and ')} are different ways to sign in to NATS; give one`);
    }

    const retention = c['auto-compaction-retention'].trim();
    if (c['auto-compaction-mode'] === 'periodic') {
      if (!/^\d+$/.test(retention) && parseGoDuration(retention) === undefined) {
        at(
          'auto-compaction-retention',
          `'${retention}' is not a duration; in periodic mode use e.g. 1h, 30m, 1h30m, or a bare number of hours (0 disables)`,
        );
      }
    } else if (!/^\d+$/.test(retention)) {
      at(
        'auto-compaction-retention',
        `'${retention}' is not a revision count; in revision mode use a whole number of revisions, e.g. 1000 (0 disables)`,
      );
    }
  });

type Parsed = z.output<typeof schema>;

function toConfig(p: Parsed, configFile: string | undefined): Config {
  const retention = p['auto-compaction-retention'].trim();
  const autoCompaction: AutoCompaction =
    p['auto-compaction-mode'] === 'periodic'
      ? {
          mode: 'periodic',
          retentionMs: /^\d+$/.test(retention)
            ? Number(retention) * 3_600_000
            : (parseGoDuration(retention) as number),
        }
      : { mode: 'revision', retentionRevisions: Number(retention) };
  const quota = p['quota-backend-bytes'];
  const ids = p['initial-cluster'].map((m) => memberId(m.peerUrls, p['initial-cluster-token']));
  const self = p['initial-cluster'].findIndex((m) => m.name === p.name);
  const dataDir = p['data-dir'] !== '' ? p['data-dir'] : `${p.name}.xetcd`;
  const https = [...p['listen-client-urls'], ...p['listen-metrics-urls']].some((u) =>
    u.startsWith('https://'),
  );
  const selfSigned = p['cert-file'] === '' && p['auto-tls'];
  // etcd's --auto-tls writes its pair under <data-dir>/fixtures/client.
  const autoDir = join(dataDir, 'fixtures', 'client');
  const tls: ClientTls | undefined = https
    ? {
        certFile: selfSigned ? join(autoDir, 'cert.pem') : p['cert-file'],
        keyFile: selfSigned ? join(autoDir, 'key.pem') : p['key-file'],
        selfSigned,
        clientCertAuth: p['client-cert-auth'],
        ...(p['trusted-ca-file'] !== '' ? { trustedCaFile: p['trusted-ca-file'] } : {}),
        ...(p['client-crl-file'] !== '' ? { crlFile: p['client-crl-file'] } : {}),
        ...(p['client-cert-allowed-hostname'] !== ''
          ? { allowedHostname: p['client-cert-allowed-hostname'] }
          : {}),
        ciphers: p['cipher-suites'],
      }
    : undefined;
  const logLevel: LogLevel = p.debug ? 'debug' : p['log-level'];
  return {
    name: p.name,
    dataDir,
    listenClientUrls: p['listen-client-urls'],
    advertiseClientUrls: p['advertise-client-urls'],
    listenPeerUrls: p['listen-peer-urls'],
    initialAdvertisePeerUrls: p['initial-advertise-peer-urls'],
    initialCluster: p['initial-cluster'],
    initialClusterState: p['initial-cluster-state'],
    initialClusterToken: p['initial-cluster-token'],
    heartbeatIntervalMs: p['heartbeat-interval'],
    electionTimeoutMs: p['election-timeout'],
    electionTicks: Math.floor(p['election-timeout'] / p['heartbeat-interval']),
    snapshotCount: p['snapshot-count'] === 0 ? DEFAULT_SNAPSHOT_COUNT : p['snapshot-count'],
    autoCompaction,
    quotaBackendBytes: quota === 0 ? DEFAULT_QUOTA_BYTES : quota < 0 ? Infinity : quota,
    maxRequestBytes: p['max-request-bytes'],
    maxTxnOps: p['max-txn-ops'],
    preVote: p['pre-vote'],
    forceNewCluster: p['force-new-cluster'],
    strictReconfigCheck: p['strict-reconfig-check'],
    initialCorruptCheck: p['experimental-initial-corrupt-check'],
    corruptCheckIntervalMs: p['experimental-corrupt-check-time'],
    snapshotCatchUpEntries: p['experimental-snapshot-catchup-entries'],
    watchProgressNotifyIntervalMs: p['experimental-watch-progress-notify-interval'],
    ...(tls !== undefined ? { clientTls: tls } : {}),
    logLevel,
    log: {
      level: logLevel,
      ...(p.logger !== undefined ? { logger: p.logger } : {}),
      outputs: p['log-outputs'],
    },
    ...(p['wal-dir'] !== '' ? { walDir: p['wal-dir'] } : {}),
    electionTickAdvance: p['initial-election-tick-advance'],
    maxConcurrentStreams: p['max-concurrent-streams'],
    grpcKeepaliveIntervalMs: p['grpc-keepalive-interval'],
    grpcKeepaliveTimeoutMs: p['grpc-keepalive-timeout'],
    enablePprof: p['enable-pprof'],
    metricsLevel: p.metrics,
    listenMetricsUrls: p['listen-metrics-urls'],
    warningApplyDurationMs: p['experimental-warning-apply-duration'],
    compactionBatchLimit: p['experimental-compaction-batch-limit'],
    corsOrigins: p.cors,
    hostWhitelist: p['host-whitelist'],
    authToken: p['auth-token'],
    authTokenTtlMs: p['auth-token-ttl'] * 1000,
    bcryptCost: p['bcrypt-cost'],
    natsServers: p['nats-servers'],
    natsSecurity: natsSecurityOf(p),
    ...natsWatchOf(p),
    // With --peer-cert-file, --peer-key-file is etcd's peer TLS key (inert here), not the shared secret.
    ...(p['peer-key-file'] !== '' && p['peer-cert-file'] === '' ? { peerKeyFile: p['peer-key-file'] } : {}),
    ...(p.inspect !== undefined ? { inspect: p.inspect } : {}),
    ...(configFile !== undefined ? { configFile } : {}),
    memberId: ids[self] as bigint,
    clusterId: clusterId(ids),
  };
}

function natsWatchOf(p: Parsed): { natsWatch?: NatsWatchConfig } {
  const stream = p['nats-watch-jetstream'];
  if (!p['nats-watch-subjects'] && stream === '') return {};
  return { natsWatch: stream === '' ? {} : { jetStream: stream } };
}

function natsSecurityOf(p: Parsed): NatsSecurity {
  const tls = {
    ...(p['nats-tls-ca-file'] !== '' ? { caFile: p['nats-tls-ca-file'] } : {}),
    ...(p['nats-tls-cert-file'] !== '' ? { certFile: p['nats-tls-cert-file'] } : {}),
    ...(p['nats-tls-key-file'] !== '' ? { keyFile: p['nats-tls-key-file'] } : {}),
  };
  return {
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(p['nats-creds-file'] !== '' ? { credsFile: p['nats-creds-file'] } : {}),
    ...(p['nats-user'] !== '' ? { user: p['nats-user'], password: p['nats-password'] } : {}),
    ...(p['nats-token'] !== '' ? { token: p['nats-token'] } : {}),
  };
}

/**
 * etcd: a member started with only --name (initial cluster left at its default)
 * bootstraps as a cluster of itself, `<name>=<advertised peer URLs>`.
 */
function withInitialClusterFromName(raw: RawSettings): RawSettings {
  const ic = raw['initial-cluster'];
  const name = raw['name'];
  const peers = raw['initial-advertise-peer-urls'];
  if (ic === undefined || name === undefined || peers === undefined || ic.origin !== 'default') return raw;
  if (name.text === 'default') return raw;
  const entries = splitList(peers.text).map((u) => `${name.text}=${u}`);
  return { ...raw, 'initial-cluster': { text: entries.join(','), origin: 'default' } };
}

function warningsFor(p: Parsed): string[] {
  const w: string[] = [];
  if (p['quota-backend-bytes'] > MAX_QUOTA_BYTES) {
    w.push(
      `--quota-backend-bytes ${p['quota-backend-bytes']} exceeds the maximum recommended ${MAX_QUOTA_BYTES} (8 GiB); the backend may perform poorly`,
    );
  }
  if (p['quota-backend-bytes'] < 0)
    w.push('--quota-backend-bytes is negative: the backend quota is disabled');
  if (p['peer-key-file'] !== '' && p['peer-cert-file'] !== '')
    w.push(
      "--peer-key-file is read as etcd's peer TLS key because --peer-cert-file is set, so peer messages are not authenticated; xetcd's peers talk over NATS, and a --peer-key-file alone names the secret they share",
    );
  if (p['auto-tls'] && p['cert-file'] !== '')
    w.push('--auto-tls is ignored: --cert-file and --key-file are given (as etcd does)');
  if (p['auto-compaction-mode'] === 'periodic') {
    const r = p['auto-compaction-retention'].trim();
    const ms = /^\d+$/.test(r) ? Number(r) * 3_600_000 : parseGoDuration(r);
    if (ms !== undefined && ms > 0 && ms < 1000)
      w.push(`--auto-compaction-retention ${formatDuration(ms)} is under a second`);
  }
  return w;
}

/** Resolve and validate; never throws for bad input, returns the problem lines instead. */
export function loadConfig(input: SourceInput): ConfigResult {
  const gathered = gatherSources(input);
  const warnings = [...gathered.warnings];
  if (gathered.problems.length > 0) return { ok: false, problems: gathered.problems, warnings };
  const raw = withInitialClusterFromName(gathered.raw);
  const texts = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.text]));
  const parsed = schema.safeParse(texts);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const flag = String(issue.path[0] ?? '');
        const origin = raw[flag]?.origin ?? 'flag';
        return `${settingLabel(flag, origin)}: ${issue.message}`;
      });
  // etcd: a member listening on chosen addresses must say which of them clients can reach.
  if (raw['listen-client-urls']?.origin !== 'default' && raw['advertise-client-urls']?.origin === 'default') {
    problems.push(
      '--advertise-client-urls: is required when --listen-client-urls is set explicitly (list the URLs clients should use, e.g. the listen URLs)',
    );
  }
  if (!parsed.success || problems.length > 0) {
    return { ok: false, problems: [...new Set(problems)], warnings };
  }
  warnings.push(...warningsFor(parsed.data));
  return { ok: true, config: toConfig(parsed.data, gathered.configFile), warnings };
}

/** The process's own sources: its flags, its environment and the real file system. */
export function loadConfigFromProcess(flags: SourceInput['flags']): ConfigResult {
  return loadConfig({ flags, env: process.env, readFile: (p) => readFileSync(p, 'utf8') });
}

/** Config fields with etcd's log field names, for the "starting an etcd server" line. */
export function configLogFields(c: Config): Record<string, unknown> {
  return {
    name: c.name,
    'data-dir': c.dataDir,
    'listen-client-urls': c.listenClientUrls,
    'advertise-client-urls': c.advertiseClientUrls,
    'listen-peer-urls': c.listenPeerUrls,
    'initial-advertise-peer-urls': c.initialAdvertisePeerUrls,
    'initial-cluster': c.initialCluster.flatMap((m) => m.peerUrls.map((u) => `${m.name}=${u}`)).join(','),
    'initial-cluster-state': c.initialClusterState,
    'initial-cluster-token': c.initialClusterToken,
    'heartbeat-interval': `${c.heartbeatIntervalMs}ms`,
    'election-timeout': `${c.electionTimeoutMs}ms`,
    'snapshot-count': c.snapshotCount,
    'quota-backend-bytes': Number.isFinite(c.quotaBackendBytes) ? c.quotaBackendBytes : -1,
    'max-request-bytes': c.maxRequestBytes,
    'auth-token': c.authToken.kind,
    'auth-token-ttl': c.authTokenTtlMs / 1000,
    'bcrypt-cost': c.bcryptCost,
    'peer-key-file': c.peerKeyFile !== undefined,
    'pre-vote': c.preVote,
    'force-new-cluster': c.forceNewCluster,
    'strict-reconfig-check': c.strictReconfigCheck,
    'experimental-initial-corrupt-check': c.initialCorruptCheck,
    'experimental-corrupt-check-time': formatDuration(c.corruptCheckIntervalMs),
    'experimental-snapshot-catchup-entries': c.snapshotCatchUpEntries,
    'experimental-watch-progress-notify-interval': formatDuration(c.watchProgressNotifyIntervalMs),
    'auto-compaction-mode': c.autoCompaction.mode,
    'auto-compaction-retention':
      c.autoCompaction.mode === 'periodic'
        ? formatDuration(c.autoCompaction.retentionMs)
        : c.autoCompaction.retentionRevisions,
  };
}
