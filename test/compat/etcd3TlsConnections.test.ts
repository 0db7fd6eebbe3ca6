// Client connections over TLS as the etcd3 client (1.1.2) uses them: an election sequence
// repeated many times (three clients observe, two campaign, one resigns, two close), after
// which the first client's next request must be served, and the same over a link that
// delays what the client sends, where the HTTP/2 SETTINGS ACK reaches the server late.
// A member that handed a connection to its HTTP/2 server before reading that ACK had the
// connection closed ("SETTINGS: unexpected ACK") under the client's feet; etcd 3.4 keeps it.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy.js';
import { describeTargets, type TargetContext } from './targets.js';

const ROUNDS = 40;
/** Longer than the member's wait for a first request before it hands a quiet connection over. */
const LATE_MS = 300;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const ACK = 0x1;

function frame(type: number, flags: number): Buffer {
  const h = Buffer.alloc(9);
  h[3] = type;
  h[4] = flags;
  return h;
}

interface Round {
  readonly put: 'ok' | string;
  /** Errors the first client's observer reported (it stays open through the round). */
  readonly observerErrors: string[];
}

/** One round of the sequence on fresh clients; returns how the first client fared. */
async function electionRound(hosts: string, ca: Buffer, name: string): Promise<Round> {
  const clients = [0, 1, 2].map(() => new Etcd3({ hosts, credentials: { rootCertificate: ca } }));
  const [c1, c2, c3] = clients as [Etcd3, Etcd3, Etcd3];
  const observerErrors: string[] = [];
  try {
    const observers = await Promise.all(clients.map((c) => c.election(name).observe()));
    observers[0]!.on('error', (e: Error) => observerErrors.push(e.message));
    // The other clients' observers die with their clients: that is theirs, not the member's.
    for (const o of observers.slice(1)) o.on('error', () => undefined);
    const first = c2.election(name).campaign('two');
    first.on('error', () => undefined);
    await first.wait();
    const second = c3.election(name).campaign('three');
    second.on('error', () => undefined);
    await sleep(50);
    await first.resign();
    c2.close();
    c3.close();
    let put: Round['put'] = 'ok';
    try {
      await c1.put(`${name}/after`).value('x');
    } catch (err) {
      put = (err as Error).message;
    }
    await observers[0]!.cancel();
    return { put, observerErrors };
  } finally {
    for (const c of clients) c.close();
  }
}

/** A TLS HTTP/2 connection that acknowledges the server's first SETTINGS only after `lateMs`. */
async function lateAckConnection(
  port: number,
  ca: Buffer,
  lateMs: number,
): Promise<{ goaways: number; openAfter: boolean }> {
  const sock = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2'], servername: 'localhost' });
  sock.on('error', () => undefined);
  await new Promise((resolve) => sock.once('secureConnect', resolve));
  sock.write(Buffer.concat([PREFACE, frame(SETTINGS, 0)]));
  let settingsSeen = 0;
  let goaways = 0;
  let buffered: Buffer = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9 && buffered.length >= 9 + buffered.readUIntBE(0, 3)) {
      const type = buffered[3]!;
      const flags = buffered[4]!;
      buffered = buffered.subarray(9 + buffered.readUIntBE(0, 3));
      if (type === GOAWAY) goaways++;
      if (type === SETTINGS && (flags & ACK) === 0) {
        settingsSeen++;
        const wait = settingsSeen === 1 ? lateMs : 0;
        setTimeout(() => sock.write(frame(SETTINGS, ACK)), wait);
      }
    }
  });
  await sleep(lateMs + 700);
  const openAfter = !sock.destroyed && !sock.readableEnded;
  sock.destroy();
  return { goaways, openAfter };
}

function ca(ctx: TargetContext): Buffer {
  return readFileSync(ctx.pki().caFile);
}

describeTargets(
  'etcd3 over TLS: connections outlive other clients and slow links',
  (ctx) => {
    it(`the election sequence ${ROUNDS} times: the first client's next request is always served`, async () => {
      const failures: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const r = await electionRound(ctx.endpoint(), ca(ctx), `/tls-seq/${round}`);
        if (r.put !== 'ok') failures.push(`round ${round}: put: ${r.put}`);
        for (const e of r.observerErrors) failures.push(`round ${round}: observer: ${e}`);
      }
      expect(failures).toEqual([]);
      const c = ctx.scope.add(
        new Etcd3({ hosts: ctx.endpoint(), credentials: { rootCertificate: ca(ctx) } }),
        'etcd3',
        (x) => x.close(),
      );
      expect(await c.getAll().prefix('/tls-seq/').keys()).toHaveLength(ROUNDS);
    }, 120_000);

    it('a SETTINGS ACK that arrives late keeps its connection (no GOAWAY)', async () => {
      const r = await lateAckConnection(ctx.server().port, ca(ctx), LATE_MS);
      expect(r).toEqual({ goaways: 0, openAfter: true });
    });

    it('over a link that delays the client’s bytes: one connection serves every call, and the sequence holds', async () => {
      const proxy: TcpProxy = ctx.scope.add(
        await startTcpProxy({ target: { port: ctx.server().port }, protocol: 'tcp' }),
        'tcp proxy',
        (p) => p.close(),
      );
      proxy.delay({ ms: LATE_MS }, 'clientToServer');
      const hosts = `https://127.0.0.1:${proxy.port}`;
      const c = new Etcd3({ hosts, credentials: { rootCertificate: ca(ctx) } });
      try {
        for (let i = 0; i < 3; i++) await c.put(`/tls-slow/${i}`).value('v');
      } finally {
        c.close();
      }
      expect(proxy.stats().accepted).toBe(1);
      expect(await electionRound(hosts, ca(ctx), '/tls-slow-seq')).toEqual({ put: 'ok', observerErrors: [] });
    }, 60_000);
  },
  { tls: 'server' },
);
