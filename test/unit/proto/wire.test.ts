import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { Reader, WireError, Writer } from '../../../src/proto/wire.js';

// The runtime against protobufjs's Writer/Reader for every scalar kind, including
// those no etcd message uses today (sint*, fixed*, float, double, int32).

const U64_MAX = (1n << 64n) - 1n;

function ours(write: (w: Writer) => void): Uint8Array {
  const w = new Writer(8);
  write(w);
  return w.buf.subarray(0, w.pos);
}

function theirs(write: (w: protobuf.Writer) => void): Uint8Array {
  const w = protobuf.Writer.create();
  write(w);
  return w.finish();
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** A protobufjs 64-bit result (a Long, or a number without long.js) as a decimal string. */
const longStr = (l: unknown, unsigned: boolean): string => {
  if (typeof l === 'number') return String(l);
  const x = l as { low: number; high: number };
  const v = (BigInt(x.high >>> 0) << 32n) | BigInt(x.low >>> 0);
  return (unsigned ? v : BigInt.asIntN(64, v)).toString();
};

const safeInt = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.maxSafeInteger(),
  fc.constantFrom(0, 1, -1, 127, 128, 2 ** 32, -(2 ** 32), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
);
const safeUint = fc.oneof(
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, 127, 128, 2 ** 32),
);
const big64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const bigU64 = fc.bigInt({ min: 0n, max: U64_MAX });

describe('Writer/Reader agree with protobufjs', () => {
  it('32-bit kinds', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.nat({ max: 2 ** 32 - 1 }), (i, u) => {
        const a = ours((w) => {
          w.int32(i);
          w.uint32(u);
          w.sint32(i);
          w.fixed32(u);
          w.sfixed32(i);
        });
        const b = theirs((w) => w.int32(i).uint32(u).sint32(i).fixed32(u).sfixed32(i));
        expect(hex(a)).toBe(hex(b));
        const r = new Reader(b);
        expect([r.int32(), r.uint32(), r.sint32(), r.fixed32(), r.sfixed32()]).toEqual([i, u, i, u, i]);
        expect(r.pos).toBe(b.length);
      }),
    );
  });

  it('64-bit kinds held in numbers', () => {
    fc.assert(
      fc.property(safeInt, safeUint, (i, u) => {
        const a = ours((w) => {
          w.int64(i);
          w.int64(u);
          w.sint64(i);
          w.fixed64(u);
          w.fixed64(i);
        });
        const b = theirs((w) => w.int64(i).uint64(u).sint64(i).fixed64(u).sfixed64(i));
        expect(hex(a)).toBe(hex(b));
        const r = new Reader(b);
        expect([r.int64(), r.uint64(), r.sint64(), r.fixed64(), r.sfixed64()]).toEqual([i, u, i, u, i]);
      }),
    );
  });

  it('64-bit kinds held in bigints', () => {
    fc.assert(
      fc.property(big64, bigU64, (i, u) => {
        const a = ours((w) => {
          w.int64Big(i);
          w.int64Big(u);
          w.sint64Big(i);
          w.fixed64Big(u);
          w.fixed64Big(i);
        });
        const b = theirs((w) =>
          w
            .int64(i.toString())
            .uint64(u.toString())
            .sint64(i.toString())
            .fixed64(u.toString())
            .sfixed64(i.toString()),
        );
        expect(hex(a)).toBe(hex(b));
        const r = new Reader(b);
        expect([r.int64Big(), r.uint64Big(), r.sint64Big(), r.fixed64Big(), r.sfixed64Big()]).toEqual([
          i,
          u,
          i,
          u,
          i,
        ]);
        // And protobufjs reads ours back.
        const pr = protobuf.Reader.create(a);
        expect(longStr(pr.int64(), false)).toBe(i.toString());
        expect(longStr(pr.uint64(), true)).toBe(u.toString());
      }),
    );
  });

  it('bool, float, double, string and bytes', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.float({ noNaN: true }),
        fc.double({ noNaN: true }),
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.uint8Array({ maxLength: 300 }),
        (bo, f, d, s, by) => {
          const a = ours((w) => {
            w.bool(bo);
            w.float(f);
            w.double(d);
            w.string(s);
            w.bytes(by);
          });
          const b = theirs((w) => w.bool(bo).float(f).double(d).string(s).bytes(by));
          expect(hex(a)).toBe(hex(b));
          const r = new Reader(b);
          expect(r.bool()).toBe(bo);
          expect(Object.is(r.float(), f) || f === 0).toBe(true);
          expect(Object.is(r.double(), d) || d === 0).toBe(true);
          expect(r.string()).toBe(s);
          expect(hex(r.bytes())).toBe(hex(by));
        },
      ),
    );
  });

  it('length-delimited bodies of any size, nested', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20000 }), { minLength: 1, maxLength: 4 }), (sizes) => {
        const a = ours((w) => {
          const outer = w.fork();
          for (const n of sizes) {
            const at = w.fork();
            w.ensure(n);
            w.buf.fill(n & 255, w.pos, w.pos + n);
            w.pos += n;
            w.ldelim(at);
          }
          w.ldelim(outer);
        });
        const b = theirs((w) => {
          w.fork();
          for (const n of sizes) w.bytes(new Uint8Array(n).fill(n & 255));
          w.ldelim();
        });
        expect(hex(a)).toBe(hex(b));
      }),
      { numRuns: 50 },
    );
  });
});

describe('Reader edge cases', () => {
  it('skips every wire type, including groups', () => {
    const b = theirs((w) => {
      w.uint32((1 << 3) | 0).uint64('18446744073709551615');
      w.uint32((2 << 3) | 1).fixed64(1);
      w.uint32((3 << 3) | 2).string('x');
      w.uint32((4 << 3) | 3);
      w.uint32((5 << 3) | 3);
      w.uint32((6 << 3) | 5).fixed32(1);
      w.uint32((5 << 3) | 4);
      w.uint32((4 << 3) | 4);
      w.uint32((7 << 3) | 5).fixed32(9);
    });
    const r = new Reader(b);
    for (let i = 0; i < 5; i++) {
      const tag = r.uint32();
      r.skip(tag & 7, tag >>> 3);
    }
    expect(r.pos).toBe(b.length);
  });

  it('rejects bad input', () => {
    expect(() => new Reader(new Uint8Array([0x80, 0x80])).uint32()).toThrow(WireError);
    expect(() => new Reader(new Uint8Array(11).fill(0xff)).uint64()).toThrow(/varint too long/);
    expect(() => new Reader(new Uint8Array([5, 1, 2])).bytes()).toThrow(/truncated/);
    expect(() => new Reader(new Uint8Array([0])).skip(6, 1)).toThrow(/invalid wire type 6/);
    expect(() => new Reader(new Uint8Array([])).skip(0, 0)).toThrow(/field number 0/);
    expect(() => new Reader(new Uint8Array([(9 << 3) | 4])).skip(3, 8)).toThrow(/end-group/);
  });

  it('returns bytes as views of the input with the right offset', () => {
    const backing = new Uint8Array([9, 9, 3, 1, 2, 3, 9]);
    const r = new Reader(backing.subarray(2, 6));
    const v = r.bytes();
    expect([...v]).toEqual([1, 2, 3]);
    expect(v.buffer).toBe(backing.buffer);
    expect(v.byteOffset).toBe(3);
  });
});
