// The gateway's framing pieces: the splitter that reads a body of JSON messages written one
// after another (as Go's json.Decoder does), HTTP statuses by gRPC code, and the stream error chunk.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  JsonObjectSplitter,
  httpStatusOf,
  parseJsonBody,
  streamErrorChunk,
} from '../../../src/api/gatewayFraming.js';
import {
  ErrCompacted,
  ErrLeaseNotFound,
  ErrNoLeader,
  GrpcCode,
  RpcError,
} from '../../../src/api/rpcErrors.js';

describe('JsonObjectSplitter', () => {
  it('splits back-to-back objects with or without whitespace between them', () => {
    const s = new JsonObjectSplitter();
    expect(s.push('{"a":1}{"b":2}\n  {"c":{"d":[1,{"e":3}]}}\r\n')).toEqual([
      '{"a":1}',
      '{"b":2}',
      '{"c":{"d":[1,{"e":3}]}}',
    ]);
    expect(s.hasPartial).toBe(false);
  });

  it('is not fooled by braces, brackets and escaped quotes inside strings', () => {
    const s = new JsonObjectSplitter();
    const text = '{"k":"}{\\"]["}{"k":"\\\\"}';
    expect(s.push(text).map((t) => JSON.parse(t))).toEqual([{ k: '}{"][' }, { k: '\\' }]);
  });

  it('keeps an unfinished object until the rest arrives', () => {
    const s = new JsonObjectSplitter();
    expect(s.push('{"create_request":{"key":')).toEqual([]);
    expect(s.hasPartial).toBe(true);
    expect(s.push('"YQ=="}}{"x"')).toEqual(['{"create_request":{"key":"YQ=="}}']);
    expect(s.push(':1}')).toEqual(['{"x":1}']);
    expect(s.hasPartial).toBe(false);
  });

  it('stops at anything but an object at the top level, after giving out what came before', () => {
    const bad = new JsonObjectSplitter();
    expect(bad.push('nonsense')).toEqual([]);
    expect(bad.failure?.message).toMatch(/invalid character 'n'/);
    const late = new JsonObjectSplitter();
    expect(late.push('{"a":1} 7 {"b":2}')).toEqual(['{"a":1}']);
    expect(late.failure?.message).toMatch(/invalid character '7'/);
    expect(late.push('{"c":3}')).toEqual([]);
  });

  it('stops at an object larger than its limit', () => {
    const s = new JsonObjectSplitter(16);
    expect(s.push('{"a":"' + 'x'.repeat(32))).toEqual([]);
    expect(s.failure).toBeInstanceOf(RangeError);
  });

  it('gives back exactly the objects written, however the text is cut into chunks', () => {
    const value = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, fc.constantFrom('', ' ', '\n', '\r\n\t ')), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (objects, cuts) => {
          const text = objects.map(([o, ws]) => JSON.stringify(o) + ws).join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const s = new JsonObjectSplitter();
          const out: unknown[] = [];
          let from = 0;
          for (const p of [...points, text.length]) {
            out.push(...s.push(text.slice(from, p)).map((t) => JSON.parse(t)));
            from = p;
          }
          expect(out).toEqual(objects.map(([o]) => JSON.parse(JSON.stringify(o))));
          expect(s.hasPartial).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('gateway statuses and stream errors', () => {
  it('maps gRPC codes to HTTP statuses as grpc-gateway v1 does', () => {
    expect(httpStatusOf(GrpcCode.OK)).toBe(200);
    expect(httpStatusOf(GrpcCode.Canceled)).toBe(408);
    expect(httpStatusOf(GrpcCode.Unknown)).toBe(500);
    expect(httpStatusOf(GrpcCode.InvalidArgument)).toBe(400);
    expect(httpStatusOf(GrpcCode.FailedPrecondition)).toBe(400);
    expect(httpStatusOf(GrpcCode.OutOfRange)).toBe(400);
    expect(httpStatusOf(GrpcCode.NotFound)).toBe(404);
    expect(httpStatusOf(GrpcCode.Aborted)).toBe(409);
    expect(httpStatusOf(GrpcCode.ResourceExhausted)).toBe(429);
    expect(httpStatusOf(GrpcCode.Unavailable)).toBe(503);
    expect(httpStatusOf(GrpcCode.DataLoss)).toBe(500);
  });

  it('frames a mid-stream error as grpc-gateway internal.StreamError with proto names', () => {
    expect(JSON.parse(streamErrorChunk(ErrNoLeader))).toEqual({
      error: {
        grpc_code: 14,
        http_code: 503,
        message: 'etcdserver: no leader',
        http_status: 'Service Unavailable',
      },
    });
    expect(JSON.parse(streamErrorChunk(ErrLeaseNotFound)).error.http_status).toBe('Not Found');
    expect(JSON.parse(streamErrorChunk(ErrCompacted)).error).toMatchObject({ grpc_code: 11, http_code: 400 });
    // Key order is part of what a line-oriented client sees.
    expect(streamErrorChunk(new RpcError(GrpcCode.Unknown, 'x'))).toBe(
      '{"error":{"grpc_code":2,"http_code":500,"message":"x","http_status":"Internal Server Error"}}',
    );
  });
});

describe('JSON request bodies', () => {
  it('keep 64-bit integers sent as bare numbers exact, and leave strings and small numbers alone', () => {
    expect(
      parseJsonBody('{"ID": 3777009695278928712, "TTL": 60, "key": "MTIzNDU2Nzg5MDEyMzQ1Njc4"}'),
    ).toEqual({
      ID: '3777009695278928712',
      TTL: 60,
      key: 'MTIzNDU2Nzg5MDEyMzQ1Njc4',
    });
    expect(parseJsonBody('[-9223372036854775808, "a\\"1234567890123456789", 1.5e3]')).toEqual([
      '-9223372036854775808',
      'a"1234567890123456789',
      1500,
    ]);
  });
});
