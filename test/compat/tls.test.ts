// Client TLS as etcd does it: https:// client URLs with --cert-file/--key-file, and
// --client-cert-auth with --trusted-ca-file. gRPC and HTTPS share the TLS port.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { httpsGet } from '../helpers/probes.js';
import { describeTargets } from './targets.js';

describeTargets(
  'TLS (server certificate)',
  (ctx) => {
    it('etcdctl with --cacert writes and reads; without it the certificate is refused', async () => {
      const pki = ctx.pki();
      const ep = ctx.endpoint();
      expect(ep).toMatch(/^https:\/\//);
      const put = await runEtcdctl(['--cacert', pki.caFile, 'put', '/tls/k', 'secure'], { endpoints: ep });
      expect(put.code, put.stderr).toBe(0);
      expect(put.stdout).toBe('OK\n');
      const get = await runEtcdctl(['--cacert', pki.caFile, 'get', '/tls/k', '--print-value-only'], {
        endpoints: ep,
      });
      expect(get.stdout).toBe('secure\n');
      const health = await runEtcdctl(['--cacert', pki.caFile, 'endpoint', 'health'], { endpoints: ep });
      expect(health.code, health.stderr).toBe(0);

      const untrusted = await runEtcdctl(['get', '/tls/k', '--dial-timeout=2s', '--command-timeout=3s'], {
        endpoints: ep,
        timeoutMs: 10_000,
      });
      expect(untrusted.code).not.toBe(0);
    });

    it('the etcd3 client with the CA as root certificate', async () => {
      const pki = ctx.pki();
      const c = ctx.scope.add(
        new Etcd3({ hosts: ctx.endpoint(), credentials: { rootCertificate: readFileSync(pki.caFile) } }),
        'etcd3',
        (x) => x.close(),
      );
      await c.put('/tls/e3').value('v');
      expect(await c.get('/tls/e3').string()).toBe('v');
    });

    it('HTTPS on the same port: /health and /version', async () => {
      const files = { caFile: ctx.pki().caFile };
      const health = await httpsGet(`${ctx.endpoint()}/health`, files);
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ health: 'true' });
      const version = await httpsGet(`${ctx.endpoint()}/version`, files);
      expect(JSON.parse(version.body)).toMatchObject({ etcdserver: expect.stringMatching(/^3\.4\./) });
    });
  },
  { tls: 'server' },
);

describeTargets(
  'TLS (client certificates required)',
  (ctx) => {
    it('etcdctl with a client certificate is served; without one it is refused', async () => {
      const pki = ctx.pki();
      const ep = ctx.endpoint();
      const withCert = await runEtcdctl(
        [
          '--cacert',
          pki.caFile,
          '--cert',
          pki.clientCertFile,
          '--key',
          pki.clientKeyFile,
          'put',
          '/mtls/k',
          'v',
        ],
        {
          endpoints: ep,
        },
      );
      expect(withCert.code, withCert.stderr).toBe(0);
      expect(withCert.stdout).toBe('OK\n');

      const noCert = await runEtcdctl(
        ['--cacert', pki.caFile, 'get', '/mtls/k', '--dial-timeout=2s', '--command-timeout=3s'],
        {
          endpoints: ep,
          timeoutMs: 10_000,
        },
      );
      expect(noCert.code).not.toBe(0);
      expect(noCert.stdout).toBe('');
    });

    it('the etcd3 client with a client certificate', async () => {
      const pki = ctx.pki();
      const c = ctx.scope.add(
        new Etcd3({
          hosts: ctx.endpoint(),
          credentials: {
            rootCertificate: readFileSync(pki.caFile),
            certChain: readFileSync(pki.clientCertFile),
            privateKey: readFileSync(pki.clientKeyFile),
          },
        }),
        'etcd3',
        (x) => x.close(),
      );
      await c.put('/mtls/e3').value('v');
      expect(await c.get('/mtls/e3').string()).toBe('v');
    });

    it('HTTPS without a client certificate is refused', async () => {
      const err = await httpsGet(`${ctx.endpoint()}/health`, { caFile: ctx.pki().caFile }).then(
        (r) => r,
        (e: unknown) => e,
      );
      // etcd refuses in the TLS handshake (no answer at all) or, at worst, with an HTTP error.
      if (err instanceof Error) expect(err.message).toBeTruthy();
      else expect((err as { status: number }).status).not.toBe(200);
    });
  },
  { tls: 'mutual' },
);
