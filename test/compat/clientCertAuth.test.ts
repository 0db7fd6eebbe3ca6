// --client-cert-auth with auth on: a client certificate's common name is the user when no
// token is sent, as etcd does it; a token, when sent, wins. Checked against etcd 3.4 first.
import { expect, it } from 'vitest';
import { runEtcdctl, type EtcdctlResult } from '../helpers/etcdctl.js';
import { describeTargets, type TargetContext } from './targets.js';

/** The test PKI's client certificate is issued to this common name. */
const CN = 'xetcd-test-client';

function withCert(ctx: TargetContext, args: string[]): Promise<EtcdctlResult> {
  const pki = ctx.pki();
  return runEtcdctl(
    ['--cacert', pki.caFile, '--cert', pki.clientCertFile, '--key', pki.clientKeyFile, ...args],
    {
      endpoints: ctx.endpoint(),
    },
  );
}

async function ok(ctx: TargetContext, args: string[]): Promise<string> {
  const r = await withCert(ctx, args);
  expect(r.code, `etcdctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describeTargets(
  'client certificate common name as the user',
  (ctx) => {
    it('the CN user gets its role, no more; a token sent with the certificate wins', async () => {
      await ok(ctx, ['user', 'add', 'root:rootpw']);
      await ok(ctx, ['user', 'add', `${CN}:unused`]);
      await ok(ctx, ['role', 'add', 'certs']);
      await ok(ctx, ['role', 'grant-permission', 'certs', 'readwrite', '--prefix', 'cert/']);
      await ok(ctx, ['user', 'grant-role', CN, 'certs']);
      await ok(ctx, ['auth', 'enable']);

      expect(await ok(ctx, ['put', 'cert/a', '1'])).toBe('OK\n');
      expect(await ok(ctx, ['get', 'cert/a', '--print-value-only'])).toBe('1\n');
      const denied = await withCert(ctx, ['put', 'other', '1']);
      expect(denied.stderr).toContain('Error: etcdserver: permission denied');
      const notRoot = await withCert(ctx, ['user', 'list']);
      expect(notRoot.stderr).toContain('Error: etcdserver: permission denied');
      // etcdctl dials defrag per endpoint with the scheme in :authority; the CN is still known.
      const defrag = await withCert(ctx, ['defrag']);
      expect(defrag.stderr).toContain('auth: permission denied');
      expect(await ok(ctx, ['--user', 'root:rootpw', 'put', 'other', '1'])).toBe('OK\n');
      expect(await ok(ctx, ['--user', 'root:rootpw', 'user', 'list'])).toBe(`root\n${CN}\n`);
    });
  },
  { tls: 'mutual', serverArgs: { etcd: ['--bcrypt-cost=4'], xetcd: ['--bcrypt-cost=4'] } },
);
