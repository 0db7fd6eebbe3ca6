// --auto-tls: a self-signed certificate for the client port, as etcd's
// transport.SelfCert makes one (ECDSA P-256, one year, the listen hosts as
// subject alternative names, kept under <data-dir>/fixtures/client and reused
// on restart). Node can sign but not build an X.509 certificate, so the few
// DER structures one needs are written here.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

function positiveInteger(bytes: Buffer): Buffer {
  return tlv(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

/** UTCTime, which X.509 uses for dates before 2050. */
function utcTime(d: Date): Buffer {
  const two = (n: number): string => String(n).padStart(2, '0');
  const s = `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'latin1'));
}

function name(commonName: string): Buffer {
  const rdn = (type: string, value: string): Buffer =>
    tlv(0x31, seq(oid(type), tlv(0x0c, Buffer.from(value, 'utf8'))));
  return seq(rdn('2.5.4.10', 'xetcd'), rdn('2.5.4.3', commonName));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

export interface SelfSignedPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A self-signed server (and client) certificate for `hosts` (names or IP addresses). */
export function selfSignedCertificate(hosts: readonly string[], now = new Date()): SelfSignedPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const altNames = hosts.map((h) =>
    isIP(h) !== 0 ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'latin1')),
  );
  const notAfter = new Date(now.getTime() + 365 * 24 * 3600 * 1000);
  const tbs = seq(
    tlv(0xa0, positiveInteger(Buffer.from([2]))),
    positiveInteger(randomBytes(16)),
    ecdsaWithSha256,
    name('xetcd auto-tls'),
    seq(utcTime(now), utcTime(notAfter)),
    name('xetcd auto-tls'),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(
      0xa3,
      seq(
        // keyUsage: digitalSignature, keyEncipherment.
        extension('2.5.29.15', true, tlv(0x03, Buffer.from([5, 0xa0]))),
        // extKeyUsage: serverAuth, clientAuth.
        extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))),
        extension('2.5.29.19', true, seq()),
        extension('2.5.29.17', false, seq(...altNames)),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.from([0]), signature));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Writes a pair for `hosts` unless one is already there (etcd keeps its fixtures across restarts). */
export async function ensureSelfSigned(
  certFile: string,
  keyFile: string,
  hosts: readonly string[],
): Promise<void> {
  if (existsSync(certFile) && existsSync(keyFile)) return;
  const pair = selfSignedCertificate(hosts);
  await mkdir(dirname(certFile), { recursive: true, mode: 0o700 });
  await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
  await writeFile(certFile, pair.certPem, { mode: 0o644 });
}
