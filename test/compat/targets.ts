// The servers the compat suite runs against. XETCD_COMPAT_TARGETS (comma-separated, default
// `xetcd`) picks them; `etcd` is Debian's etcd 3.4 and is how every test here was validated.
// The xetcd target is skipped only while src/server/ does not exist yet.
import { afterAll, beforeAll, describe } from 'vitest';
import { startEtcd, type ServerInstance } from '../helpers/etcd.js';
import { startXetcd, xetcdServerExists } from '../helpers/xetcd.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';

export type TargetName = 'etcd' | 'xetcd';

export function selectedTargets(): TargetName[] {
  const raw = process.env['XETCD_COMPAT_TARGETS'] ?? 'xetcd';
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const n of names) {
    if (n !== 'etcd' && n !== 'xetcd')
      throw new Error(`XETCD_COMPAT_TARGETS: unknown target "${n}" (valid: etcd, xetcd)`);
  }
  return [...new Set(names)] as TargetName[];
}

export function targetAvailable(name: TargetName): boolean {
  return name === 'etcd' || xetcdServerExists();
}

export async function startTarget(
  name: TargetName,
  dataDir: string,
  args: readonly string[] = [],
  tls?: { pki: TestPki; clientCertAuth: boolean },
): Promise<ServerInstance> {
  const opts = { dataDir, args, ...(tls ? { tls } : {}) };
  return name === 'etcd' ? startEtcd(opts) : startXetcd(opts);
}

/** What a suite body sees: the target's name, and (inside tests) its running server. */
export interface TargetContext {
  readonly target: TargetName;
  /** The server, valid inside tests (started in beforeAll). */
  server(): ServerInstance;
  endpoint(): string;
  /** Resources the suite adds; released in reverse order in afterAll (before the server stops). */
  readonly scope: ResourceScope;
  /** A fresh temp dir, removed in afterAll. */
  tempDir(): Promise<string>;
  /** The test PKI, when the suite asked for TLS. */
  pki(): TestPki;
}

export interface TargetSuiteOptions {
  /** Extra server flags, passed the same to etcd and xetcd (etcd's flag names). */
  readonly serverArgs?: Partial<Record<TargetName, readonly string[]>>;
  /** Serve clients over TLS: `server` (clients verify the server) or `mutual` (--client-cert-auth too). */
  readonly tls?: 'server' | 'mutual';
}

/**
 * Declares `body` once per selected target, each with its own server on its own data dir.
 * The server and everything the body adds to `scope` are released in afterAll, pass or fail.
 */
export function describeTargets(
  title: string,
  body: (ctx: TargetContext) => void,
  opts: TargetSuiteOptions = {},
): void {
  for (const target of selectedTargets()) {
    const available = targetAvailable(target);
    describe.skipIf(!available)(`${title} [${target}]`, () => {
      const scope = new ResourceScope();
      let server: ServerInstance | null = null;
      let pki: TestPki | null = null;
      const ctx: TargetContext = {
        target,
        scope,
        server: () => {
          if (server === null) throw new Error(`${target} is not running (did beforeAll fail?)`);
          return server;
        },
        endpoint: () => ctx.server().endpoint,
        pki: () => {
          if (pki === null) throw new Error('this suite did not ask for TLS');
          return pki;
        },
        tempDir: async () => {
          const d = await makeTempDir(`xetcd-compat-${target}-`);
          scope.defer(`remove ${d.path}`, () => d.remove());
          return d.path;
        },
      };
      beforeAll(async () => {
        const dataDir = await ctx.tempDir();
        if (opts.tls) pki = await makeTestPki(await ctx.tempDir());
        const tls = pki ? { pki, clientCertAuth: opts.tls === 'mutual' } : undefined;
        server = await startTarget(target, dataDir, opts.serverArgs?.[target] ?? [], tls);
        const s = server;
        scope.defer(`stop ${target}`, () => s.stop());
      });
      afterAll(async () => {
        await scope.close();
      });
      body(ctx);
    });
  }
}
