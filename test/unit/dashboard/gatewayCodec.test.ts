import { describe, expect, it } from 'vitest';
import {
  GatewayError,
  LineSplitter,
  fromBase64,
  keyValueOf,
  needsLogin,
  prefixEnd,
  prefixRange,
  toBase64,
  unaryError,
  watchMessage,
} from '../../../web/dashboard/gatewayCodec.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('gateway codec', () => {
  it('encodes text as base64 of its UTF-8 bytes, and back', () => {
    for (const text of ['', 'foo', 'clé/ü', '鍵', 'emoji 🚀']) {
      expect(toBase64(text)).toBe(b64(text));
      expect(fromBase64(b64(text))).toBe(text);
    }
    expect(fromBase64(undefined)).toBe('');
  });

  it("ranges a prefix up to etcd's prefix end", () => {
    expect(Buffer.from(prefixEnd('a/'), 'base64').toString('latin1')).toBe('a0');
    expect([...Buffer.from(prefixEnd('a\u00ff'), 'base64')]).toEqual([0x61, 0xc3, 0xc0]);
    expect(prefixRange('')).toEqual({ key: 'AA==', range_end: 'AA==' });
    expect(prefixRange('x')).toEqual({ key: b64('x'), range_end: b64('y') });
  });

  it('reads a key-value with 64-bit numbers as strings and the lease in hex', () => {
    expect(
      keyValueOf({
        key: b64('k'),
        value: b64('v'),
        create_revision: '2',
        mod_revision: '5',
        version: '3',
        lease: '7587869402371556616',
      }),
    ).toEqual({
      key: 'k',
      value: 'v',
      createRevision: 2,
      modRevision: 5,
      version: 3,
      lease: '694d8704ea698508',
    });
    expect(keyValueOf({ key: b64('k') })).toMatchObject({ value: '', version: 0, lease: '0' });
  });

  it("reads the gateway's unary failures and tells login from permission", () => {
    expect(unaryError(200, {})).toBeUndefined();
    const empty = unaryError(400, {
      error: 'etcdserver: user name is empty',
      message: 'etcdserver: user name is empty',
      code: 3,
    });
    expect(empty).toBeInstanceOf(GatewayError);
    expect(needsLogin(empty!)).toBe(true);
    const denied = unaryError(403, { message: 'etcdserver: permission denied', code: 7 })!;
    expect(denied.code).toBe(7);
    expect(needsLogin(denied)).toBe(false);
    expect(needsLogin(unaryError(401, { message: 'etcdserver: invalid auth token', code: 16 })!)).toBe(true);
    expect(unaryError(502, 'not json')?.message).toBe('HTTP 502');
  });

  it('reads the lines of a watch', () => {
    expect(watchMessage({ result: { header: { revision: '4' }, created: true, watch_id: '0' } })).toEqual({
      kind: 'created',
      watchId: '0',
      revision: 4,
    });
    const events = watchMessage({
      result: {
        header: { revision: '6' },
        events: [
          { kv: { key: b64('a'), value: b64('1'), mod_revision: '6' } },
          { type: 'DELETE', kv: { key: b64('b') } },
        ],
      },
    });
    expect(events.kind).toBe('events');
    if (events.kind === 'events') {
      expect(events.events.map((e) => `${e.type} ${e.kv.key}`)).toEqual(['PUT a', 'DELETE b']);
      expect(events.revision).toBe(6);
    }
    expect(
      watchMessage({ result: { canceled: true, compact_revision: '9', cancel_reason: 'compacted' } }),
    ).toEqual({
      kind: 'canceled',
      reason: 'compacted',
      compactRevision: 9,
    });
    const failed = watchMessage({
      error: { grpc_code: 7, http_code: 403, message: 'etcdserver: permission denied' },
    });
    expect(failed.kind === 'error' && failed.error.code).toBe(7);
  });

  it('cuts a stream into lines wherever its chunks end', () => {
    const lines = new LineSplitter();
    expect(lines.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(lines.push(':2}')).toEqual([]);
    expect(lines.push('\n\n{"c":3}\n')).toEqual(['{"b":2}', '{"c":3}']);
  });
});
