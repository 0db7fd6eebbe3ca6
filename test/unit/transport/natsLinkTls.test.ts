// The NATS connection's own security reaches the NATS client: TLS with a CA, a client
// certificate and key (--nats-tls-*), against a nats-server that requires and verifies them.
import pino from 'pino';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsLink } from '../../../src/transport/natsLink.js';
import { startNats, type NatsInstance } from '../../helpers/nats.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { makeTestPki, type TestPki } from '../../helpers/tls.js';

describe('NATS over TLS with client certificates', () => {
  let dir: TempDir;
  let pki: TestPki;
  let nats: NatsInstance;
  beforeAll(async () => {
    dir = await makeTempDir('xetcd-nats-tls-');
    pki = await makeTestPki(dir.path);
    nats = await startNats([
      '--tlsverify',
      '--tlscert',
      pki.serverCertFile,
      '--tlskey',
      pki.serverKeyFile,
      '--tlscacert',
      pki.caFile,
    ]);
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
    await dir?.remove();
  });

  const link = (tls: { caFile: string; certFile?: string; keyFile?: string }): NatsLink =>
    new NatsLink({
      servers: [nats.url],
      name: 'tls test',
      pingIntervalMs: 1_000,
      reconnectWaitMs: 100,
      awayLogEveryMs: 60_000,
      // A refused handshake fails the attempt at once; a short timeout bounds any other wait.
      connection: { tls, timeout: 2_000 },
      logger: pino({ level: 'silent' }),
    });

  it('connects with the CA and a client certificate; is refused without the certificate', async () => {
    const good = link({ caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile });
    good.start([]);
    await firstValueFrom(good.connected$.pipe(filter(Boolean), timeout(10_000)));
    await good.stop();

    const noCert = link({ caFile: pki.caFile });
    noCert.start([]);
    const connected = await firstValueFrom(noCert.connected$.pipe(filter(Boolean), timeout(2_000))).catch(
      () => false,
    );
    expect(connected).toBe(false);
    await noCert.stop();
  }, 30_000);
});
