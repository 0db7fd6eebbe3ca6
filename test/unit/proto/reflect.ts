/**
 * Test support for the proto round trips: walks protobufjs's reflection of our
 * .proto files to make seeded random values in the generated modules' shape,
 * and converts between that shape and protobufjs's (the oracle).
 */
import { seededRandom } from '../../../src/raft/rng.js';
import protobuf from 'protobufjs';
import { fieldName, loadRoot, moduleName, packageOf, tsTypeName } from '../../../scripts/genProto.js';
import * as raftpb from '../../../src/proto/raftpb.js';
import * as mvccpb from '../../../src/proto/mvccpb.js';
import * as authpb from '../../../src/proto/authpb.js';
import * as etcdserverpb from '../../../src/proto/etcdserverpb.js';
import * as v3electionpb from '../../../src/proto/v3electionpb.js';
import * as v3lockpb from '../../../src/proto/v3lockpb.js';
import * as grpc_health_v1 from '../../../src/proto/grpc_health_v1.js';
import * as xetcdpb from '../../../src/proto/xetcdpb.js';

/** The generated codec of a message, as the tests use it. */
export interface Codec {
  create(init?: Record<string, unknown>): Record<string, unknown>;
  encode(m: Record<string, unknown>): Uint8Array;
  decode(b: Uint8Array): Record<string, unknown>;
  toJSON(m: Record<string, unknown>): Record<string, unknown>;
  fromJSON(j: unknown): Record<string, unknown>;
}

const modules: Record<string, Record<string, unknown>> = {
  raftpb,
  mvccpb,
  authpb,
  etcdserverpb,
  v3electionpb,
  v3lockpb,
  grpc_health_v1,
  xetcdpb,
};

export type Value = Record<string, unknown>;

export const { root } = loadRoot();

/** Every message type of every generated package. */
export function allMessageTypes(): protobuf.Type[] {
  const out: protobuf.Type[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        if (packageOf(obj) !== 'xetcd' && !obj.fullName.startsWith('.google.')) out.push(obj);
        walk(obj);
      } else if (obj instanceof protobuf.Namespace) {
        walk(obj);
      }
    }
  };
  walk(root);
  return out;
}

export function codecOf(t: protobuf.Type): Codec {
  const mod = modules[moduleName(packageOf(t))];
  if (mod === undefined) throw new Error(`no generated module for ${t.fullName}`);
  const codec = mod[tsTypeName(t)];
  if (codec === undefined) throw new Error(`no export ${tsTypeName(t)} for ${t.fullName}`);
  return codec as Codec;
}

const SIXTY_FOUR = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const UNSIGNED = new Set(['uint64', 'fixed64']);

export function isBig(f: protobuf.Field): boolean {
  return (f.options as Record<string, unknown> | undefined)?.['(xetcd.big)'] === true;
}

class Gen {
  constructor(readonly r: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  u32(): number {
    return Math.floor(this.r() * 4294967296);
  }
  big64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

const STR_POOL = ['a', 'key', 'é', '日本', '🙂', 'z', '/', '\u0000', 'x'.repeat(20)];

function randomScalar(g: Gen, f: protobuf.Field): unknown {
  const type = f.type;
  if (SIXTY_FOUR.has(type)) {
    const unsigned = UNSIGNED.has(type);
    if (isBig(f)) {
      const edges = unsigned
        ? [1n, (1n << 64n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n]
        : [1n, -1n, (1n << 63n) - 1n, -(1n << 63n), (1n << 53n) + 1n, -(1n << 53n) - 1n];
      if (g.chance(0.3)) return g.pick(edges);
      const v = g.big64();
      return unsigned ? v : BigInt.asIntN(64, v);
    }
    const edges = unsigned
      ? [1, 127, 128, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]
      : [1, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];
    if (g.chance(0.3)) return g.pick(edges);
    const mag = g.pick([2 ** 7, 2 ** 14, 2 ** 31, 2 ** 40, 2 ** 53]);
    const v = Math.floor(g.r() * mag);
    return unsigned || v === 0 || g.chance(0.6) ? v : -v;
  }
  switch (type) {
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return g.chance(0.2) ? g.pick([-1, -(2 ** 31), 2 ** 31 - 1]) : g.u32() | 0;
    case 'uint32':
    case 'fixed32':
      return g.chance(0.2) ? g.pick([1, 2 ** 32 - 1]) : g.u32();
    case 'double':
      return (g.r() - 0.5) * 1e6;
    case 'float':
      return Math.fround((g.r() - 0.5) * 1e3);
    case 'bool':
      return true;
    case 'string': {
      const n = g.pick([1, 3, 10, 50]);
      let s = '';
      for (let i = 0; i < n; i++) s += g.pick(STR_POOL);
      return s;
    }
    case 'bytes': {
      const n = g.pick([1, 5, 127, 128, 300]);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = g.int(0, 255);
      return b;
    }
  }
  throw new Error(`unexpected scalar ${type}`);
}

function zeroScalar(f: protobuf.Field): unknown {
  if (SIXTY_FOUR.has(f.type)) return isBig(f) ? 0n : 0;
  switch (f.type) {
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return new Uint8Array(0);
    default:
      return 0;
  }
}

function randomSingle(g: Gen, f: protobuf.Field, depth: number, zeroOk: boolean): unknown {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) return randomMessage(g, rt, depth + 1);
  if (zeroOk && g.chance(0.25)) return rt instanceof protobuf.Enum ? 0 : zeroScalar(f);
  if (rt instanceof protobuf.Enum) return g.pick(Object.values(rt.values));
  return randomScalar(g, f);
}

/** A random value of type t in the generated shape (optional fields set or absent). */
export function randomMessage(g: Gen, t: protobuf.Type, depth = 0): Value {
  const m: Value = {};
  const oneofChoice = new Map<string, string | undefined>();
  for (const o of t.oneofsArray) {
    oneofChoice.set(o.name, g.chance(0.75) ? g.pick(o.oneof) : undefined);
  }
  for (const f of t.fieldsArray) {
    const name = fieldName(f.name);
    const isMsg = f.resolvedType instanceof protobuf.Type;
    if (f.repeated) {
      const n = depth > 2 ? 0 : g.pick([0, 1, 2, 4]);
      const arr: unknown[] = [];
      for (let i = 0; i < n; i++) arr.push(randomSingle(g, f, depth, !isMsg));
      m[name] = arr;
      continue;
    }
    if (f.partOf) {
      // A set oneof member may hold its zero value: it is still written.
      if (oneofChoice.get(f.partOf.name) === f.name && !(isMsg && depth > 3)) {
        m[name] = randomSingle(g, f, depth, true);
      }
      continue;
    }
    if (isMsg) {
      if (depth <= 3 && g.chance(0.6)) m[name] = randomSingle(g, f, depth, false);
      continue;
    }
    m[name] = randomSingle(g, f, depth, true);
  }
  return m;
}

export function generator(seed: number): Gen {
  return new Gen(seededRandom(seed));
}

/**
 * A canonical, comparable form of a value in the generated shape: every field
 * present (absent optional → null), bytes as hex, bigints tagged.
 */
export function canon(t: protobuf.Type, v: Value): unknown {
  const out: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    const name = fieldName(f.name);
    const x = v[name];
    const rt = f.resolvedType;
    const one = (y: unknown): unknown => {
      if (rt instanceof protobuf.Type) return canon(rt, y as Value);
      if (y instanceof Uint8Array) return 'hex:' + Buffer.from(y).toString('hex');
      if (typeof y === 'bigint') return 'big:' + y.toString();
      return y;
    };
    if (f.repeated) out[name] = ((x as unknown[] | undefined) ?? []).map(one);
    else if (x === undefined) out[name] = f.partOf || rt instanceof protobuf.Type ? null : one(zeroScalar(f));
    else out[name] = one(x);
  }
  return out;
}

/** protobufjs's decoded object (toObject with longs as strings) → the generated shape. */
export function fromPbjs(t: protobuf.Type, o: Record<string, unknown>): Value {
  const m: Value = {};
  for (const f of t.fieldsArray) {
    const name = fieldName(f.name);
    const rt = f.resolvedType;
    const conv = (y: unknown): unknown => {
      if (rt instanceof protobuf.Type) return fromPbjs(rt, y as Record<string, unknown>);
      if (SIXTY_FOUR.has(f.type)) return isBig(f) ? BigInt(y as string) : Number(y as string);
      if (f.type === 'bytes') {
        const b = y as Uint8Array;
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      }
      return y;
    };
    const x = o[f.name];
    if (f.repeated) m[name] = ((x as unknown[] | undefined) ?? []).map(conv);
    else if (x !== undefined && x !== null) m[name] = conv(x);
  }
  return m;
}

/** The generated shape → an object for protobufjs's fromObject (proto names, 64-bit as strings). */
export function toPbjs(t: protobuf.Type, v: Value): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    const x = v[fieldName(f.name)];
    if (x === undefined) continue;
    const rt = f.resolvedType;
    const conv = (y: unknown): unknown => {
      if (rt instanceof protobuf.Type) return toPbjs(rt, y as Value);
      if (typeof y === 'bigint' || (SIXTY_FOUR.has(f.type) && typeof y === 'number')) return String(y);
      return y;
    };
    o[f.name] = f.repeated ? (x as unknown[]).map(conv) : conv(x);
  }
  return o;
}

/** Decodes with protobufjs into the generated shape. */
export function pbjsDecode(t: protobuf.Type, b: Uint8Array): Value {
  const msg = t.decode(b);
  return fromPbjs(t, t.toObject(msg, { longs: String }) as Record<string, unknown>);
}

/** Encodes the generated shape with protobufjs. */
export function pbjsEncode(t: protobuf.Type, v: Value): Uint8Array {
  return t.encode(t.fromObject(toPbjs(t, v))).finish();
}

/** Renames the keys of a toJSON object to protoc's lowerCamel JSON names, recursively. */
export function camelKeys(t: protobuf.Type, o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    if (!(f.name in o)) continue;
    const camel = f.name.replace(/_([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
    const rt = f.resolvedType;
    const x = o[f.name];
    if (rt instanceof protobuf.Type) {
      out[camel] = f.repeated
        ? (x as Record<string, unknown>[]).map((y) => camelKeys(rt, y))
        : camelKeys(rt, x as Record<string, unknown>);
    } else {
      out[camel] = x;
    }
  }
  return out;
}
