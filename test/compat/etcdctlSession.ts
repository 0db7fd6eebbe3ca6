// etcdctl bound to one target's endpoint, plus the parsing the suites share: etcdctl's JSON
// output prints 64-bit IDs as bare numbers beyond 2^53, so they are read back as strings.
import { expect } from 'vitest';
import { runEtcdctl, spawnEtcdctl, type EtcdctlResult } from '../helpers/etcdctl.js';
import type { ManagedProcess } from '../helpers/process.js';
import type { TargetContext } from './targets.js';

/** JSON.parse that keeps integers of 16+ digits as strings (member, cluster and lease IDs). */
export function parseJson<T>(text: string): T {
  const safe = text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
  return JSON.parse(safe) as T;
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function unb64(text: string | undefined): string {
  return Buffer.from(text ?? '', 'base64').toString('utf8');
}

/** The header and kvs of `etcdctl get -w json`, as etcdctl prints them (zero values omitted). */
export interface JsonHeader {
  cluster_id?: string | number;
  member_id?: string | number;
  revision?: number;
  raft_term?: number;
}

export interface JsonKv {
  key: string;
  value?: string;
  create_revision?: number;
  mod_revision?: number;
  version?: number;
  lease?: string | number;
}

export interface JsonRange {
  header: JsonHeader;
  kvs?: JsonKv[];
  count?: number;
  more?: boolean;
}

export interface Etcdctl {
  run(args: readonly string[], input?: string, timeoutMs?: number): Promise<EtcdctlResult>;
  /** Runs and expects exit 0; returns stdout. */
  ok(args: readonly string[], input?: string): Promise<string>;
  /** Runs with `-w json` and parses stdout. */
  json<T>(args: readonly string[], input?: string): Promise<T>;
  spawn(args: readonly string[], opts?: { keepStdinOpen?: boolean }): Promise<ManagedProcess>;
  /** Current store revision, from a Range's header. */
  revision(): Promise<number>;
  /** Expects failure with etcdctl's `Error: <message>` line (and the gRPC code where etcdctl logs it). */
  fails(
    args: readonly string[],
    message: string,
    opts?: { code?: string; input?: string; exit?: number },
  ): Promise<EtcdctlResult>;
}

export function etcdctl(ctx: TargetContext): Etcdctl {
  const self: Etcdctl = {
    run: (args, input, timeoutMs) => {
      const opts = {
        endpoints: ctx.endpoint(),
        ...(input !== undefined ? { input } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      };
      return runEtcdctl(args, opts);
    },
    async ok(args, input) {
      const r = await self.run(args, input);
      if (r.code !== 0) {
        throw new Error(
          `etcdctl ${args.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
        );
      }
      return r.stdout;
    },
    async json<T>(args: readonly string[], input?: string) {
      return parseJson<T>(await self.ok([...args, '-w', 'json'], input));
    },
    spawn: (args, opts = {}) => spawnEtcdctl(args, { endpoints: ctx.endpoint(), ...opts }),
    async revision() {
      const r = await self.json<JsonRange>(['get', '__revision_probe__']);
      return r.header.revision ?? 0;
    },
    async fails(args, message, opts = {}) {
      const r = await self.run(args, opts.input);
      const label = `etcdctl ${args.join(' ').slice(0, 200)} (stdout: ${r.stdout.slice(0, 300)})`;
      expect(r.timedOut, `${label} timed out`).toBe(false);
      if (opts.exit !== undefined) expect(r.code, label).toBe(opts.exit);
      else expect(r.code, `${label} should fail`).not.toBe(0);
      expect(r.stderr, label).toContain(`Error: ${message}`);
      if (opts.code !== undefined)
        expect(r.stderr, label).toContain(
          `code = ${opts.code} desc = ${message.replace(/^.*\((etcdserver: .*)\)$/, '$1')}`,
        );
      return r;
    },
  };
  return self;
}
