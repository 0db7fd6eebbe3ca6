// The fault proxy against a real nats-server: client A goes through the proxy, client B
// talks to the server directly, so what A and B see is what a member behind a bad network
// and a healthy peer would see.
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsInstance } from './nats.js';
import { isPortOpen } from './ports.js';
import { ResourceScope } from './scope.js';
import { startTcpProxy, type TcpProxy } from './tcpProxy.js';

const scope = new ResourceScope();
let nats: NatsInstance;

beforeAll(async () => {
  nats = scope.add(await startNats(), 'nats-server', (n) => n.stop());
});
afterAll(() => scope.close());

interface Received {
  readonly data: string;
  readonly at: number;
}

interface Inbox {
  readonly got: Received[];
  /** Waits until `n` messages have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

function inbox(nc: NatsConnection, subject: string): Inbox {
  const got: Received[] = [];
  nc.subscribe(subject, {
    callback: (_err, m) => {
      got.push({ data: m.string(), at: performance.now() });
    },
  });
  return {
    got,
    waitFor: (n, timeoutMs = 5_000) =>
      vi.waitFor(() => expect(got.length).toBeGreaterThanOrEqual(n), { timeout: timeoutMs, interval: 10 }),
  };
}

/** Every status event of a connection (disconnect, reconnect, error, ...), in order. */
function statusLog(nc: NatsConnection): string[] {
  const events: string[] = [];
  void (async () => {
    for await (const s of nc.status()) events.push(s.type);
  })();
  return events;
}

interface Pair {
  readonly proxy: TcpProxy;
  /** Through the proxy. */
  readonly a: NatsConnection;
  /** Straight to the server. */
  readonly b: NatsConnection;
  readonly toA: Inbox;
  readonly toB: Inbox;
  readonly aStatus: string[];
}

async function pair(seed = 1): Promise<Pair> {
  const proxy = scope.add(await startTcpProxy({ target: { port: nats.port }, seed }), 'proxy', (p) =>
    p.close(),
  );
  const a = scope.add(
    await connect({ servers: proxy.url, name: 'a', reconnectTimeWait: 50, maxReconnectAttempts: -1 }),
    'client a',
    (c) => c.close(),
  );
  const b = scope.add(await connect({ servers: nats.url, name: 'b' }), 'client b', (c) => c.close());
  const toA = inbox(a, 'to.a');
  const toB = inbox(b, 'to.b');
  await Promise.all([a.flush(), b.flush()]);
  return { proxy, a, b, toA, toB, aStatus: statusLog(a) };
}

/** True when `p` is still pending after `ms`. */
async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => false), sleep(ms).then(() => true)]);
}

describe('TcpProxy between a NATS client and nats-server', () => {
  it('a blackhole stops delivery both ways, keeps the connection, and heal() delivers what it held', async () => {
    const { proxy, a, b, toA, toB, aStatus } = await pair();
    a.publish('to.b', 'before');
    b.publish('to.a', 'before');
    await Promise.all([toA.waitFor(1), toB.waitFor(1)]);

    proxy.blackhole();
    a.publish('to.b', 'held-a');
    b.publish('to.a', 'held-b');
    expect(await stillPending(a.flush(), 400)).toBe(true);
    expect(toB.got.map((m) => m.data)).toEqual(['before']);
    expect(toA.got.map((m) => m.data)).toEqual(['before']);

    proxy.heal();
    await Promise.all([toA.waitFor(2), toB.waitFor(2), a.flush()]);
    a.publish('to.b', 'after');
    b.publish('to.a', 'after');
    await Promise.all([toA.waitFor(3), toB.waitFor(3)]);
    expect(toB.got.map((m) => m.data)).toEqual(['before', 'held-a', 'after']);
    expect(toA.got.map((m) => m.data)).toEqual(['before', 'held-b', 'after']);
    expect(aStatus).toEqual([]);
    expect(proxy.stats().accepted).toBe(1);
  });

  it('a connection opened during a blackhole gets no INFO until heal()', async () => {
    const { proxy } = await pair();
    proxy.blackhole('serverToClient');
    const late = connect({ servers: proxy.url, name: 'late', timeout: 10_000 });
    expect(await stillPending(late, 500)).toBe(true);
    proxy.heal();
    const nc = scope.add(await late, 'client late', (c) => c.close());
    await nc.flush();
  });

  it('a one-way cut stops one direction only', async () => {
    const { proxy, a, b, toA, toB } = await pair();

    proxy.blackhole('clientToServer');
    a.publish('to.b', 'lost-while-cut');
    b.publish('to.a', 'passes');
    await toA.waitFor(1);
    await sleep(300);
    expect(toB.got).toHaveLength(0);
    proxy.heal();
    await toB.waitFor(1);

    proxy.blackhole('serverToClient');
    a.publish('to.b', 'passes');
    b.publish('to.a', 'held');
    await toB.waitFor(2);
    await sleep(300);
    expect(toA.got.map((m) => m.data)).toEqual(['passes']);
    proxy.heal();
    await toA.waitFor(2);
    expect(proxy.faults()).toEqual({
      clientToServer: { blackhole: false, delay: undefined, dropProbability: 0 },
      serverToClient: { blackhole: false, delay: undefined, dropProbability: 0 },
    });
  });

  it('a fixed delay delays each direction; a random delay keeps the order', async () => {
    const { proxy, a, b, toA, toB } = await pair();
    proxy.delay({ ms: 250 }, 'clientToServer');
    const sent = performance.now();
    a.publish('to.b', 'slow');
    b.publish('to.a', 'fast');
    await Promise.all([toA.waitFor(1), toB.waitFor(1)]);
    expect(toB.got[0]!.at - sent).toBeGreaterThanOrEqual(250);
    expect(toB.got[0]!.at - sent).toBeLessThan(1_250);
    expect(toA.got[0]!.at - sent).toBeLessThan(250);

    proxy.heal();
    proxy.delay({ ms: 5, jitterMs: 40 });
    const n = 300;
    for (let i = 0; i < n; i++) {
      a.publish('to.b', String(i));
      b.publish('to.a', String(i));
      if (i % 10 === 0) await sleep(1); // many chunks, each with its own random delay
    }
    await Promise.all([toA.waitFor(n + 1), toB.waitFor(n + 1)]);
    const order = Array.from({ length: n }, (_, i) => String(i));
    expect(toB.got.slice(1).map((m) => m.data)).toEqual(order);
    expect(toA.got.slice(1).map((m) => m.data)).toEqual(order);
  });

  it('dropping half the messages drops about half, whole, and never breaks the protocol', async () => {
    const { proxy, a, b, aStatus } = await pair(7);
    const n = 1_000;
    // Payloads that look like protocol, some larger than a socket read, some with headers.
    const payload = (i: number): string =>
      `${i}:` + (i % 50 === 0 ? `\r\nMSG to.a 1 5\r\n`.repeat(5_000) : `PUB x 1\r\n${'z'.repeat(i % 300)}`);
    const check = (box: Inbox): number[] => {
      const seqs = box.got.map((m) => Number(m.data.slice(0, m.data.indexOf(':'))));
      box.got.forEach((m, k) => expect(m.data).toBe(payload(seqs[k]!)));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      return seqs;
    };
    const send = (nc: NatsConnection, subject: string): void => {
      for (let i = 0; i < n; i++) {
        const h = headers();
        h.set('seq', String(i));
        nc.publish(subject, payload(i), i % 2 === 0 ? { headers: h } : undefined);
      }
    };

    proxy.dropMessages(0.5, 'clientToServer');
    const toB = inbox(b, 'drop.b');
    await b.flush();
    send(a, 'drop.b');
    await a.flush();
    await b.flush();
    const outbound = check(toB);
    expect(outbound.length).toBeGreaterThan(400);
    expect(outbound.length).toBeLessThan(600);
    expect(proxy.stats().clientToServer.messagesDropped).toBe(n - outbound.length);

    proxy.heal();
    proxy.dropMessages(0.5, 'serverToClient');
    const toA = inbox(a, 'drop.a');
    await a.flush();
    send(b, 'drop.a');
    await b.flush();
    await a.flush();
    const inbound = check(toA);
    expect(inbound.length).toBeGreaterThan(400);
    expect(inbound.length).toBeLessThan(600);

    proxy.heal();
    a.publish('drop.b', payload(n));
    b.publish('drop.a', payload(n));
    await Promise.all([a.flush(), b.flush()]);
    await vi.waitFor(() => expect(check(toA).at(-1)).toBe(n));
    await vi.waitFor(() => expect(check(toB).at(-1)).toBe(n));
    expect(aStatus).toEqual([]);
    expect(a.isClosed()).toBe(false);
    const stats = proxy.stats();
    expect(stats.serverToClient.messagesDropped).toBe(n - inbound.length);
    expect(stats.clientToServer.bytesIn).toBeGreaterThan(stats.clientToServer.bytesOut);
    expect(stats.clientToServer.frames).toBeGreaterThan(stats.clientToServer.messages);
  });

  it('reset() closes connections with a RST; the client reconnects through the proxy', async () => {
    const { proxy, a, toA, b, aStatus } = await pair();
    proxy.reset();
    await vi.waitFor(() => expect(aStatus).toContain('reconnect'), { timeout: 5_000 });
    expect(aStatus[0]).toBe('disconnect');
    b.publish('to.a', 'after reset');
    await toA.waitFor(1);
    await a.flush();
    expect(proxy.stats().accepted).toBe(2);
  });

  it('retarget() sends new connections to another server, e.g. a restarted nats-server', async () => {
    const { proxy, a, aStatus } = await pair();
    const other = scope.add(await startNats(), 'second nats-server', (n) => n.stop());
    const c = scope.add(await connect({ servers: other.url, name: 'c' }), 'client c', (x) => x.close());
    const toC = inbox(c, 'to.c');
    await c.flush();
    proxy.retarget({ port: other.port });
    proxy.reset();
    await vi.waitFor(() => expect(aStatus).toContain('reconnect'), { timeout: 5_000 });
    a.publish('to.c', 'via the proxy');
    await toC.waitFor(1);
    expect(toC.got[0]!.data).toBe('via the proxy');
  });

  it('close() ends every connection and the listener', async () => {
    const { proxy, aStatus } = await pair();
    proxy.blackhole();
    await proxy.close();
    expect(proxy.stats().open).toBe(0);
    expect(await isPortOpen(proxy.port)).toBe(false);
    await vi.waitFor(() => expect(aStatus).toContain('disconnect'));
  });
});

describe('TcpProxy as a plain TCP proxy', () => {
  it('forwards bytes and delays them, without parsing', async () => {
    const echo = createTcpServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    scope.defer('echo server', () => new Promise((resolve) => echo.close(resolve)));
    const addr = echo.address();
    if (addr === null || typeof addr === 'string') throw new Error('no echo port');
    const proxy = scope.add(
      await startTcpProxy({ target: { port: addr.port }, protocol: 'tcp' }),
      'proxy',
      (p) => p.close(),
    );
    expect(() => proxy.dropMessages(0.5)).toThrow(/frames/);
    proxy.delay({ ms: 100 });
    const sock = tcpConnect({ port: proxy.port, host: '127.0.0.1' });
    scope.defer('echo client', () => sock.destroy());
    const sent = performance.now();
    sock.write('no frames here');
    const back = await new Promise<string>((resolve) => sock.once('data', (d) => resolve(d.toString())));
    expect(back).toBe('no frames here');
    expect(performance.now() - sent).toBeGreaterThanOrEqual(200);
    expect(proxy.stats().clientToServer).toMatchObject({ bytesIn: 14, bytesOut: 14, frames: 0 });
  });
});
