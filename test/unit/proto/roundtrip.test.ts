import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { loadRoot } from '../../../scripts/genProto.js';
import {
  allMessageTypes,
  canon,
  codecOf,
  generator,
  pbjsDecode,
  pbjsEncode,
  randomMessage,
} from './reflect.js';

const SAMPLES = 40;
const types = allMessageTypes();

/** Unknown fields of every wire type, numbered above anything our protos use. */
function unknownFields(): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((9001 << 3) | 0).uint64('18446744073709551615');
  w.uint32((9002 << 3) | 1).fixed64(123456789);
  w.uint32((9003 << 3) | 2).bytes(new Uint8Array([1, 2, 3, 4, 5]));
  w.uint32((9004 << 3) | 3);
  w.uint32((1 << 3) | 0).uint32(7);
  w.uint32((2 << 3) | 2).string('inside a group');
  w.uint32((9004 << 3) | 4);
  w.uint32((9005 << 3) | 5).fixed32(42);
  return w.finish();
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A copy of our root where every repeated scalar field uses the other encoding (packed ↔ unpacked). */
function flippedRoot(): protobuf.Root {
  const { root } = loadRoot();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        for (const f of obj.fieldsArray) {
          if (
            f.repeated &&
            !(f.resolvedType instanceof protobuf.Type) &&
            f.type !== 'string' &&
            f.type !== 'bytes'
          ) {
            // protobufjs resolves packedness into its features; flip it before any encoder is built.
            const features = (f as unknown as { _features: Record<string, string> })._features;
            features.repeated_field_encoding = f.packed ? 'EXPANDED' : 'PACKED';
          }
        }
        visit(obj);
      } else if (obj instanceof protobuf.Namespace) {
        visit(obj);
      }
    }
  };
  visit(root);
  return root;
}

describe('every message round-trips against protobufjs', () => {
  it('covers every package', () => {
    const pkgs = new Set(types.map((t) => t.fullName.split('.').slice(1, -1).join('.')));
    expect([...pkgs].sort()).toEqual(
      expect.arrayContaining([
        'authpb',
        'etcdserverpb',
        'grpc.health.v1',
        'mvccpb',
        'raftpb',
        'v3electionpb',
        'v3lockpb',
      ]),
    );
    expect(types.length).toBeGreaterThan(100);
  });

  for (const t of types) {
    it(`${t.fullName.slice(1)}`, () => {
      const codec = codecOf(t);
      const g = generator(t.fullName.length * 7919 + 17);
      for (let i = 0; i < SAMPLES; i++) {
        const v = randomMessage(g, t);
        const ours = codec.encode(v);
        // ours → protobufjs
        expect(canon(t, pbjsDecode(t, ours))).toEqual(canon(t, v));
        // protobufjs → ours
        const theirs = pbjsEncode(t, v);
        expect(canon(t, codec.decode(theirs))).toEqual(canon(t, v));
        // unknown fields before and after are skipped
        expect(canon(t, codec.decode(concat(unknownFields(), theirs, unknownFields())))).toEqual(canon(t, v));
        // ours → ours
        expect(canon(t, codec.decode(ours))).toEqual(canon(t, v));
      }
    });
  }
});

describe('repeated scalars decode packed and unpacked alike', () => {
  const flipped = flippedRoot();
  const withRepeatedScalars = types.filter((t) =>
    t.fieldsArray.some(
      (f) =>
        f.repeated && !(f.resolvedType instanceof protobuf.Type) && f.type !== 'string' && f.type !== 'bytes',
    ),
  );

  it('has messages to check', () => {
    const names = withRepeatedScalars.map((t) => t.fullName.slice(1));
    expect(names).toEqual(expect.arrayContaining(['raftpb.ConfState', 'etcdserverpb.WatchCreateRequest']));
  });

  for (const t of withRepeatedScalars) {
    it(`${t.fullName.slice(1)}`, () => {
      const other = flipped.lookupType(t.fullName);
      const codec = codecOf(t);
      const g = generator(99);
      for (let i = 0; i < SAMPLES; i++) {
        const v = randomMessage(g, t);
        const a = pbjsEncode(t, v);
        const b = pbjsEncode(other, v);
        expect(canon(t, codec.decode(a))).toEqual(canon(t, v));
        expect(canon(t, codec.decode(b))).toEqual(canon(t, v));
      }
    });
  }
});

describe('wire details', () => {
  it('keeps raft IDs above 2^53 and negative int64 exact', async () => {
    const { Message, MessageType, ConfState } = await import('../../../src/proto/raftpb.js');
    const { PutRequest, LeaseTimeToLiveResponse } = await import('../../../src/proto/etcdserverpb.js');
    const id = 0xfedcba9876543210n;
    const m = Message.decode(
      Message.encode(Message.create({ type: MessageType.MsgVote, to: id, from: 1n, term: 7 })),
    );
    expect(m.to).toBe(id);
    expect(m.type).toBe(MessageType.MsgVote);
    const cs = ConfState.decode(ConfState.encode(ConfState.create({ voters: [id, 1n, (1n << 64n) - 1n] })));
    expect(cs.voters).toEqual([id, 1n, (1n << 64n) - 1n]);
    const lease = -(1n << 62n);
    expect(PutRequest.decode(PutRequest.encode(PutRequest.create({ lease }))).lease).toBe(lease);
    const ttl = LeaseTimeToLiveResponse.decode(
      LeaseTimeToLiveResponse.encode(LeaseTimeToLiveResponse.create({ ttl: -1 })),
    );
    expect(ttl.ttl).toBe(-1);
  });

  it('omits zero scalars but writes a set oneof member even when zero', async () => {
    const { Compare, Compare_CompareTarget, ResponseHeader } =
      await import('../../../src/proto/etcdserverpb.js');
    expect(ResponseHeader.encode(ResponseHeader.create()).length).toBe(0);
    const c = Compare.create({
      target: Compare_CompareTarget.VERSION,
      key: new Uint8Array([0x61]),
      version: 0,
    });
    const bytes = Compare.encode(c);
    // key (tag 0x1a, len 1, 'a') then version (tag 0x20, 0)
    expect([...bytes]).toEqual([0x1a, 1, 0x61, 0x20, 0]);
    expect(Compare.decode(bytes).version).toBe(0);
    expect(
      Compare.decode(Compare.encode(Compare.create({ key: new Uint8Array([1]) }))).version,
    ).toBeUndefined();
  });

  it('length-prefixes nested messages of every size class', async () => {
    const { Entry, Message } = await import('../../../src/proto/raftpb.js');
    for (const n of [0, 1, 120, 127, 128, 16383, 16384, 2_000_000]) {
      const data = new Uint8Array(n).fill(n & 255);
      const m = Message.create({ entries: [Entry.create({ index: 1, data })], context: data });
      const d = Message.decode(Message.encode(m));
      expect(d.entries[0]!.data.length).toBe(n);
      expect(d.context.length).toBe(n);
      expect(Buffer.from(d.entries[0]!.data).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('rejects truncated input with a WireError', async () => {
    const { RangeRequest } = await import('../../../src/proto/etcdserverpb.js');
    const { WireError } = await import('../../../src/proto/wire.js');
    const b = RangeRequest.encode(RangeRequest.create({ key: new Uint8Array(10), limit: 300 }));
    // b is key (12 bytes: tag, length, 10 bytes) then limit (3 bytes); a cut after key is a valid message.
    expect(b.length).toBe(15);
    for (let cut = 1; cut < b.length; cut++) {
      if (cut === 12) continue;
      expect(() => RangeRequest.decode(b.subarray(0, cut))).toThrow(WireError);
    }
  });
});
