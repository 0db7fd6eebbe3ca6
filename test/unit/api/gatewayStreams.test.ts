// The streaming gateway routes over a real HTTP server with a stand-in server and election:
// one `{"result": ...}` line per message, the stream error chunk mid-stream and before any
// output (then the HTTP status is the error's), body EOF ending a keep-alive stream.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayStreams } from '../../../src/api/gatewayStreams.js';
import { HttpRoutes } from '../../../src/api/http.js';
import { ErrLeaseNotFound, ErrNoLeader } from '../../../src/api/rpcErrors.js';
import type { Election } from '../../../src/api/recipes/election.js';
import { ResponseHeader } from '../../../src/proto/etcdserverpb.js';
import { LeaderResponse } from '../../../src/proto/v3electionpb.js';
import type { EtcdServer } from '../../../src/server/etcdServer.js';

let servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
  servers = [];
});

const header = (): ResponseHeader =>
  ResponseHeader.create({ clusterId: 1n, memberId: 2n, revision: 7, raftTerm: 3 });

/** Only what the keep-alive and observe routes touch; the watch route is covered by the compat suite. */
function stubServer(renew: (id: bigint) => Promise<number>): EtcdServer {
  return { leaseRenew: renew, header } as unknown as EtcdServer;
}

function stubElection(observe: () => Observable<LeaderResponse>): Election {
  return { observe } as unknown as Election;
}

async function serve(server: EtcdServer, election: Election): Promise<string> {
  const routes = new HttpRoutes();
  createGatewayStreams(routes, server, election, pino({ level: 'silent' }));
  const s = http.createServer(routes.listener());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function send(
  url: string,
  body: string,
  method = 'POST',
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('gateway streams', () => {
  it('keep-alive: one line per request in order, TTL 0 for an unknown lease, end with the body', async () => {
    const base = await serve(
      stubServer(async (id) => {
        if (id === 9n) throw ErrLeaseNotFound;
        return Number(id) * 10;
      }),
      stubElection(() => new Observable()),
    );
    const res = await send(`${base}/v3/lease/keepalive`, '{"ID":"1"} {"ID":2}\n{"ID":"9"}');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.text.split('\n')).toEqual([
      '{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"3"},"ID":"1","TTL":"10"}}',
      '{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"3"},"ID":"2","TTL":"20"}}',
      '{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"3"},"ID":"9"}}',
      '',
    ]);
  });

  it('an error after some output ends the stream with the error chunk (no newline), status stays 200', async () => {
    const base = await serve(
      stubServer(async (id) => {
        if (id === 2n) throw ErrNoLeader;
        return 5;
      }),
      stubElection(() => new Observable()),
    );
    const res = await send(`${base}/v3/lease/keepalive`, '{"ID":"1"}{"ID":"2"}{"ID":"3"}');
    expect(res.status).toBe(200);
    const [first, last, ...rest] = res.text.split('\n');
    expect(JSON.parse(first!).result.TTL).toBe('5');
    expect(rest).toEqual([]);
    expect(JSON.parse(last!)).toEqual({
      error: {
        grpc_code: 14,
        http_code: 503,
        message: 'etcdserver: no leader',
        http_status: 'Service Unavailable',
      },
    });
  });

  it('an error before any output sets the HTTP status from the gRPC code', async () => {
    const base = await serve(
      stubServer(async () => {
        throw ErrNoLeader;
      }),
      stubElection(() => new Observable()),
    );
    const res = await send(`${base}/v3beta/lease/keepalive`, '{"ID":"1"}');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text).error.grpc_code).toBe(14);
  });

  it('a bad later message half-closes the stream: what came before is still answered', async () => {
    const base = await serve(
      stubServer(async () => 4),
      stubElection(() => new Observable()),
    );
    const res = await send(`${base}/v3/lease/keepalive`, '{"ID":"1"} oops {"ID":"2"}');
    expect(res.status).toBe(200);
    expect(res.text.trim().split('\n')).toHaveLength(1);
  });

  it('a body cut off inside its first message is a 500 with code 2; inside a later one, a half-close', async () => {
    const base = await serve(
      stubServer(async () => 4),
      stubElection(() => new Observable()),
    );
    const cut = await send(`${base}/v3/lease/keepalive`, '{"ID":"1"');
    expect(cut.status).toBe(500);
    expect(JSON.parse(cut.text)).toEqual({ error: 'unexpected EOF', message: 'unexpected EOF', code: 2 });
    const later = await send(`${base}/v3/lease/keepalive`, '{"ID":"1"}{"ID":');
    expect(later.status).toBe(200);
    expect(JSON.parse(later.text.trim()).result.TTL).toBe('4');
  });

  it('observe: the body is one request; each announcement is a line; completion ends the response', async () => {
    let asked = '';
    const base = await serve(
      stubServer(async () => 0),
      stubElection(
        () =>
          new Observable<LeaderResponse>((sub) => {
            sub.next(
              LeaderResponse.create({
                header: header(),
                kv: {
                  key: Buffer.from('e/1'),
                  value: Buffer.from('a'),
                  createRevision: 5,
                  modRevision: 5,
                  version: 1,
                  lease: 1n,
                },
              }),
            );
            sub.next(
              LeaderResponse.create({
                header: header(),
                kv: {
                  key: Buffer.from('e/1'),
                  value: Buffer.from('b'),
                  createRevision: 5,
                  modRevision: 7,
                  version: 2,
                  lease: 1n,
                },
              }),
            );
            sub.complete();
          }),
      ),
    );
    const res = await send(`${base}/v3/election/observe`, '{"name":"ZQ=="}');
    asked = res.text;
    const lines = asked
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => Buffer.from(l.result.kv.value, 'base64').toString())).toEqual(['a', 'b']);
    expect(lines[1].result.kv).toMatchObject({
      create_revision: '5',
      mod_revision: '7',
      version: '2',
      lease: '1',
    });
  });

  it('observe with a body that is not JSON is a 400 with code 3; GET is 405', async () => {
    const base = await serve(
      stubServer(async () => 0),
      stubElection(() => new Observable()),
    );
    const bad = await send(`${base}/v3/election/observe`, '{"name":');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).code).toBe(3);
    const get = await send(`${base}/v3/watch`, '', 'GET');
    expect(get.status).toBe(405);
  });
});
