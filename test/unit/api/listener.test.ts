// One client port, two protocols: a real grpc-js client and plain HTTP/1.1 clients
// against the same port, in plaintext and over TLS (certificates made with openssl).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientListeners, grpcServerOptions, type ClientTlsMaterial } from '../../../src/api/listener.js';
import { createHttpRoutes } from '../../../src/api/http.js';
import { createMetrics, type EtcdMetrics } from '../../../src/embed/metrics.js';
import type { HealthSource } from '../../../src/api/httpHealth.js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthService,
} from '../../../src/proto/grpc_health_v1.js';

const HealthClient = grpc.makeGenericClientConstructor(HealthService, 'Health');

function grpcServer(metrics?: EtcdMetrics): grpc.Server {
  const server = new grpc.Server(grpcServerOptions(1.5 * 1024 * 1024, metrics));
  server.addService(HealthService, {
    Check: (
      call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
      cb: grpc.sendUnaryData<HealthCheckResponse>,
    ) => {
      cb(null, HealthCheckResponse.create({ status: call.request.service === '' ? 1 : 3 }));
    },
    // A server stream that never ends by itself: shutdown must end it.
    Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
      call.write(HealthCheckResponse.create({ status: 1 }));
    },
  });
  return server;
}

const healthy: HealthSource = {
  hasLeader: () => true,
  activeAlarms: () => [],
  linearizableRead: async () => undefined,
};

function routes() {
  return createHttpRoutes({
    metrics: createMetrics(undefined, { processMetrics: false }),
    health: () => healthy,
  }).listener();
}

function check(client: grpc.Client, service = ''): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) => {
    (
      client as unknown as {
        Check(
          r: HealthCheckRequest,
          cb: (e: grpc.ServiceError | null, v?: HealthCheckResponse) => void,
        ): void;
      }
    ).Check(HealthCheckRequest.create({ service }), (e, v) =>
      e ? reject(e) : resolve(v as HealthCheckResponse),
    );
  });
}

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  httpVersion: string;
}

function get(url: string, options: https.RequestOptions = {}): Promise<Reply> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers, httpVersion: res.httpVersion }),
      );
    });
    req.on('error', reject);
  });
}

let open: ClientListeners[] = [];
let clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await Promise.all(open.map((l) => l.close(200)));
  open = [];
});

async function listen(urls: string[], tlsMaterial?: ClientTlsMaterial): Promise<ClientListeners> {
  const l = await ClientListeners.listen({
    urls,
    grpcServer: grpcServer(),
    httpHandler: routes(),
    ...(tlsMaterial !== undefined ? { tls: tlsMaterial } : {}),
  });
  open.push(l);
  return l;
}

function client(
  address: string,
  creds = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
) {
  const c = new HealthClient(address, creds, options);
  clients.push(c);
  return c;
}

describe('plaintext: gRPC and HTTP/1.1 on one port', () => {
  it('serves grpc.health.v1 and /version, /health, /metrics on the same port', async () => {
    const l = await listen(['http://127.0.0.1:0']);
    const { port } = l.addresses()[0]!;
    expect(port).toBeGreaterThan(0);
    const c = client(`127.0.0.1:${port}`);
    expect((await check(c)).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await check(c, 'nope')).status).toBe(HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN);

    const v = await get(`http://127.0.0.1:${port}/version`);
    expect(v.status).toBe(200);
    expect(JSON.parse(v.body)).toEqual({ etcdserver: '3.4.23', etcdcluster: '3.4.0' });
    const h = await get(`http://127.0.0.1:${port}/health`);
    expect([h.status, h.body]).toEqual([200, '{"health":"true"}']);
    const m = await get(`http://127.0.0.1:${port}/metrics`);
    expect(m.body).toContain('# TYPE etcd_server_has_leader gauge');
    const nf = await get(`http://127.0.0.1:${port}/nope`);
    expect([nf.status, nf.body]).toEqual([404, '404 page not found\n']);
  });

  it('keeps both working under interleaved load, with keep-alive HTTP and many gRPC calls', async () => {
    const l = await listen(['http://127.0.0.1:0']);
    const { port } = l.addresses()[0]!;
    const c = client(`127.0.0.1:${port}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      work.push(check(c).then((r) => expect(r.status).toBe(1)));
      work.push(get(`http://127.0.0.1:${port}/version`, { agent }).then((r) => expect(r.status).toBe(200)));
    }
    await Promise.all(work);
    agent.destroy();
  });

  it('handles a preface that arrives one byte at a time, and HTTP that starts like it', async () => {
    const l = await listen(['http://127.0.0.1:0']);
    const { port } = l.addresses()[0]!;
    // "PR" then a non-preface byte: HTTP/1.x (here an unknown method, answered 400 by node's parser,
    // which proves the sniffed bytes reached it).
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.write('PR');
      setTimeout(() => s.write('X / HTTP/1.1\r\nHost: x\r\n\r\n'), 50);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);

    // A GET split across writes still reaches the router.
    const slow = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      const text = 'GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
      let i = 0;
      const tick = setInterval(() => {
        s.write(text.slice(i, i + 3));
        i += 3;
        if (i >= text.length) clearInterval(tick);
      }, 2);
    });
    expect(slow).toMatch(/^HTTP\/1\.1 200/);
    expect(slow).toContain('"etcdserver":"3.4.23"');
  });

  it('listens on several URLs; localhost means 127.0.0.1', async () => {
    const l = await listen(['http://127.0.0.1:0', 'http://localhost:0']);
    const [a, b] = l.addresses();
    expect(b!.host).toBe('127.0.0.1');
    expect(b!.boundUrl).toBe(`http://localhost:${b!.port}`);
    for (const { port } of [a!, b!]) {
      expect((await check(client(`127.0.0.1:${port}`))).status).toBe(1);
      expect((await get(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    }
  });

  it('fails with the URL when a port is taken, closing what it had bound', async () => {
    const l = await listen(['http://127.0.0.1:0']);
    const { port } = l.addresses()[0]!;
    await expect(listen(['http://127.0.0.1:0', `http://127.0.0.1:${port}`])).rejects.toThrow(
      `cannot listen on http://127.0.0.1:${port}: listen EADDRINUSE`,
    );
  });

  it('closes cleanly: refuses new connections, ends open streams within the grace period', async () => {
    const l = await ClientListeners.listen({
      urls: ['http://127.0.0.1:0'],
      grpcServer: grpcServer(),
      httpHandler: routes(),
    });
    const { port } = l.addresses()[0]!;
    const c = client(`127.0.0.1:${port}`);
    const stream = (
      c as unknown as { Watch(r: HealthCheckRequest): grpc.ClientReadableStream<HealthCheckResponse> }
    ).Watch(HealthCheckRequest.create());
    await new Promise((resolve) => stream.once('data', resolve));
    const ended = new Promise<string>((resolve) => {
      stream.on('error', (e: grpc.ServiceError) => resolve(`error ${e.code}`));
      stream.on('end', () => resolve('end'));
    });
    const agent = new http.Agent({ keepAlive: true });
    expect((await get(`http://127.0.0.1:${port}/version`, { agent })).status).toBe(200);

    const started = Date.now();
    await l.close(300);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await ended).toMatch(/end|error/);
    await expect(get(`http://127.0.0.1:${port}/version`)).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });
});

describe('gRPC metrics on the client port', () => {
  it('counts RPCs started/handled/messages (go-grpc-prometheus names) and bytes on gRPC connections', async () => {
    const metrics = createMetrics(undefined, { processMetrics: false });
    const l = await ClientListeners.listen({
      urls: ['http://127.0.0.1:0'],
      grpcServer: grpcServer(metrics),
      httpHandler: createHttpRoutes({ metrics, health: () => healthy }).listener(),
    });
    open.push(l);
    metrics.grpcBytes = l;
    const { port } = l.addresses()[0]!;
    const c = client(`127.0.0.1:${port}`);
    for (let i = 0; i < 3; i++) await check(c);
    const text = (await get(`http://127.0.0.1:${port}/metrics`)).body;
    const labels = 'grpc_type="unary",grpc_service="grpc.health.v1.Health",grpc_method="Check"';
    expect(text).toContain(`grpc_server_started_total{${labels}} 3`);
    expect(text).toContain(`grpc_server_handled_total{${labels},grpc_code="OK"} 3`);
    expect(text).toContain(`grpc_server_msg_received_total{${labels}} 3`);
    expect(text).toContain(`grpc_server_msg_sent_total{${labels}} 3`);
    const bytes = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect(bytes('etcd_network_client_grpc_received_bytes_total')).toBeGreaterThan(24);
    expect(bytes('etcd_network_client_grpc_sent_bytes_total')).toBeGreaterThan(0);
  });
});

describe('TLS: ALPN routes gRPC (h2) and HTTPS (http/1.1) on one port', () => {
  let dir: string;
  let ca: Buffer;
  let server: ClientTlsMaterial;
  let clientCert: Buffer;
  let clientKey: Buffer;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'xetcd-tls-'));
    const sh = (args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    };
    sh([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=xetcd test CA',
    ]);
    writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const who of ['server', 'client']) {
      sh([
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${who}.key`,
        '-out',
        `${who}.csr`,
        '-subj',
        `/CN=${who}`,
      ]);
      sh([
        'x509',
        '-req',
        '-in',
        `${who}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${who}.pem`,
        '-days',
        '1',
        '-extfile',
        'san.cnf',
      ]);
    }
    ca = readFileSync(join(dir, 'ca.pem'));
    server = {
      cert: readFileSync(join(dir, 'server.pem')),
      key: readFileSync(join(dir, 'server.key')),
      requireClientCert: false,
    };
    clientCert = readFileSync(join(dir, 'client.pem'));
    clientKey = readFileSync(join(dir, 'client.key'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves gRPC over TLS and HTTPS on the same port', async () => {
    const l = await listen(['https://127.0.0.1:0'], server);
    const { port } = l.addresses()[0]!;
    expect((await check(client(`127.0.0.1:${port}`, grpc.credentials.createSsl(ca)))).status).toBe(1);
    const v = await get(`https://127.0.0.1:${port}/version`, { ca });
    expect([v.status, v.httpVersion]).toEqual([200, '1.1']);
    // A TLS client that offers no ALPN at all is sniffed like plaintext.
    const raw = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }, () =>
        s.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
  });

  it('with --client-cert-auth refuses clients without a certificate from the trusted CA', async () => {
    const l = await listen(['https://127.0.0.1:0'], { ...server, ca, requireClientCert: true });
    const { port } = l.addresses()[0]!;
    await expect(get(`https://127.0.0.1:${port}/version`, { ca })).rejects.toThrow();
    const ok = await get(`https://127.0.0.1:${port}/version`, { ca, cert: clientCert, key: clientKey });
    expect(ok.status).toBe(200);

    const anon = client(`127.0.0.1:${port}`, grpc.credentials.createSsl(ca), {
      'grpc.initial_reconnect_backoff_ms': 50,
    });
    await expect(
      Promise.race([check(anon), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 3000))]),
    ).rejects.toBeTruthy();
    const withCert = client(`127.0.0.1:${port}`, grpc.credentials.createSsl(ca, clientKey, clientCert));
    expect((await check(withCert)).status).toBe(1);
  });

  it('refuses to bind an https URL without certificates', async () => {
    await expect(listen(['https://127.0.0.1:0'])).rejects.toThrow(/is https but no TLS certificate/);
  });
});
