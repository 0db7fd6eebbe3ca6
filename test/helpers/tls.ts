// A throw-away PKI for TLS tests, made with the openssl command line: a CA, a server
// certificate for 127.0.0.1 (and localhost) and a client certificate, all signed by the CA.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

/** Server-side TLS settings, named after etcd's flags. */
export interface ServerTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** --client-cert-auth with --trusted-ca-file: clients must present a certificate from this CA. */
  readonly clientCertAuth?: boolean;
  readonly trustedCaFile?: string;
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { timeout: 30_000 });
}

export async function makeTestPki(dir: string): Promise<TestPki> {
  const p = (name: string): string => join(dir, name);
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=xetcd-test-ca',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
  ]);
  await writeFile(
    p('server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  await writeFile(
    p('client.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  for (const who of ['server', 'client']) {
    await openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=xetcd-test-${who}`,
      '-keyout',
      p(`${who}.key`),
      '-out',
      p(`${who}.csr`),
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      p(`${who}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`${who}.ext`),
      '-out',
      p(`${who}.crt`),
    ]);
  }
  return {
    caFile: p('ca.crt'),
    serverCertFile: p('server.crt'),
    serverKeyFile: p('server.key'),
    clientCertFile: p('client.crt'),
    clientKeyFile: p('client.key'),
  };
}

/** etcd's TLS flags for a server using the test PKI (the same flags for etcd and xetcd). */
export function serverTlsFlags(tls: { pki: TestPki; clientCertAuth: boolean }): string[] {
  return tlsFlags({
    certFile: tls.pki.serverCertFile,
    keyFile: tls.pki.serverKeyFile,
    ...(tls.clientCertAuth ? { clientCertAuth: true, trustedCaFile: tls.pki.caFile } : {}),
  });
}

/** What a client (readiness probe, etcdctl) needs to talk to that server. */
export function probeFiles(tls: { pki: TestPki; clientCertAuth: boolean }): {
  caFile: string;
  certFile?: string;
  keyFile?: string;
} {
  return tls.clientCertAuth
    ? { caFile: tls.pki.caFile, certFile: tls.pki.clientCertFile, keyFile: tls.pki.clientKeyFile }
    : { caFile: tls.pki.caFile };
}

/** etcd's flags for `tls`, the same for etcd and xetcd. */
export function tlsFlags(tls: ServerTls): string[] {
  return [
    '--cert-file',
    tls.certFile,
    '--key-file',
    tls.keyFile,
    ...(tls.clientCertAuth ? ['--client-cert-auth'] : []),
    ...(tls.trustedCaFile ? ['--trusted-ca-file', tls.trustedCaFile] : []),
  ];
}
