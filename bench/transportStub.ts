// A KV server that does nothing but answer: Put with a header, Range with one
// 256-byte KeyValue, always the same. Run by bench/transportFloor.ts as its own
// process, so that process's CPU time is what the transport alone costs per
// request. Two ways to serve the same bytes:
//   grpc-js  @grpc/grpc-js's server, as xetcd serves the client port
//   http2    node:http2 directly: the gRPC framing written by hand (5-byte
//            prefix, trailers), no grpc-js
// Prints "listening" once it accepts connections.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { grpcServerOptions } from '../src/api/listener.js';
import { KVService, PutResponse, RangeResponse } from '../src/proto/etcdserverpb.js';

const header = { clusterId: 1n, memberId: 2n, revision: 100, raftTerm: 2 };
const rangeBody = RangeResponse.encode({
  header,
  kvs: [
    {
      key: Buffer.from('00000000'),
      createRevision: 5,
      modRevision: 90,
      version: 3,
      value: Buffer.alloc(256, 1),
      lease: 0n,
    },
  ],
  more: false,
  count: 1,
});
const putBody = PutResponse.encode({ header });

function grpcFrame(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = 0; // not compressed
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return frame;
}

function serveGrpcJs(port: number): Promise<void> {
  // xetcd's own server options (etcd's default request limit), without its metrics interceptor.
  const server = new grpc.Server(grpcServerOptions(1.5 * 1024 * 1024));
  const answer =
    (body: Uint8Array) =>
    (_call: unknown, callback: (err: null, res: Uint8Array) => void): void =>
      callback(null, body);
  // The responses are encoded once: grpc-js is handed bytes, as a member hands it a message to encode.
  const service = {
    Range: { ...KVService.Range, responseSerialize: (b: Uint8Array) => Buffer.from(b) },
    Put: { ...KVService.Put, responseSerialize: (b: Uint8Array) => Buffer.from(b) },
  };
  server.addService(service as unknown as grpc.ServiceDefinition, {
    range: answer(rangeBody),
    put: answer(putBody),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

function serveHttp2(port: number): Promise<void> {
  const range = grpcFrame(rangeBody);
  const put = grpcFrame(putBody);
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const reply = headers[':path'] === KVService.Put.path ? put : range;
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(reply);
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
}

const [mode, port] = [process.argv[2], Number(process.argv[3])];
if (mode !== 'grpc-js' && mode !== 'http2') throw new Error('usage: transportStub.ts grpc-js|http2 PORT');
await (mode === 'grpc-js' ? serveGrpcJs(port) : serveHttp2(port));
console.log('listening');
