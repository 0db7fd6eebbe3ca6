/**
 * proto3 JSON mapping helpers for the generated modules, matching what etcd's
 * grpc-gateway (v1, jsonpb with OrigName) prints and accepts: 64-bit integers
 * as decimal strings, bytes as padded standard base64, enums by name, zero
 * values omitted on output; on input both the .proto names and the lowerCamel
 * JSON names, 64-bit integers as strings or numbers, enums by name or number.
 */

/** A JSON value that is not what the field needs; the message names the field. */
export class JsonFieldError extends Error {
  constructor(field: string, expected: string, got: unknown) {
    super(`invalid JSON for ${field}: expected ${expected}, got ${describe(got)}`);
    this.name = 'JsonFieldError';
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint')
    return `${typeof v} ${String(v)}`;
  return typeof v;
}

/** The object of a message; null/undefined read as an empty message. */
export function jsonObject(j: unknown, type: string): Record<string, unknown> {
  if (j === null || j === undefined) return {};
  if (typeof j !== 'object' || Array.isArray(j)) throw new JsonFieldError(type, 'object', j);
  return j as Record<string, unknown>;
}

/** A repeated field: null reads as empty. */
export function jsonArray(v: unknown, field: string): unknown[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new JsonFieldError(field, 'array', v);
  return v;
}

const INT_RE = /^-?\d+$/;

/** A 64-bit integer held in a number: JSON string or number. */
export function jsonInt64(v: unknown, field: string, unsigned: boolean): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && INT_RE.test(v.trim())) n = Number(v.trim());
  else throw new JsonFieldError(field, 'an integer (number or decimal string)', v);
  if (!Number.isInteger(n) || (unsigned && n < 0)) {
    throw new JsonFieldError(field, unsigned ? 'an unsigned integer' : 'an integer', v);
  }
  return n;
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** A 64-bit integer held in a bigint: JSON string or (safe) number. */
export function jsonBig(v: unknown, field: string, unsigned: boolean): bigint {
  let b: bigint;
  if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else if (typeof v === 'string' && INT_RE.test(v.trim())) b = BigInt(v.trim());
  else if (typeof v === 'bigint') b = v;
  else throw new JsonFieldError(field, 'a 64-bit integer (decimal string)', v);
  if (unsigned ? b < 0n || b > UINT64_MAX : b < INT64_MIN || b > INT64_MAX) {
    throw new JsonFieldError(field, unsigned ? 'a uint64' : 'an int64', v);
  }
  return b;
}

/** A 32-bit integer: JSON number (or a decimal string, as jsonpb accepts). */
export function jsonInt32(v: unknown, field: string, unsigned: boolean): number {
  const n = typeof v === 'string' && INT_RE.test(v.trim()) ? Number(v.trim()) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new JsonFieldError(field, 'an integer', v);
  if (unsigned ? n < 0 || n > 0xffffffff : n < -0x80000000 || n > 0x7fffffff) {
    throw new JsonFieldError(field, unsigned ? 'a uint32' : 'an int32', v);
  }
  return n;
}

export function jsonFloat(v: unknown, field: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  throw new JsonFieldError(field, 'a number', v);
}

export function floatToJSON(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

export function jsonBool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  throw new JsonFieldError(field, 'a boolean', v);
}

export function jsonString(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  throw new JsonFieldError(field, 'a string', v);
}

/** A value the proto JSON mapping refuses, in the words etcd's gateway (Go) uses. */
export class JsonValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonValueError';
  }
}

const BASE64_ALPHABET = /[A-Za-z0-9+/]/;

/**
 * Where Go's base64.StdEncoding stops reading `s`, or undefined when it reads
 * all of it: padded standard base64, with CR and LF skipped, as etcd's gateway
 * decodes bytes fields.
 */
export function goBase64ErrorAt(s: string): number | undefined {
  let si = 0;
  const skipNewlines = (): void => {
    while (si < s.length && (s[si] === '\n' || s[si] === '\r')) si++;
  };
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return undefined;
        return si - j;
      }
      const c = s[si++] ?? '';
      if (BASE64_ALPHABET.test(c)) continue;
      if (c === '\n' || c === '\r') {
        j--;
        continue;
      }
      if (c !== '=' || j < 2) return si - 1;
      if (j === 2) {
        skipNewlines();
        if (si === s.length) return s.length;
        if (s[si] !== '=') return si - 1;
        si++;
      }
      skipNewlines();
      return si < s.length ? si : undefined;
    }
  }
}

/** bytes: padded standard base64, as Go reads it. */
export function jsonBytes(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string') throw new JsonFieldError(field, 'base64 bytes', v);
  const at = goBase64ErrorAt(v);
  if (at !== undefined) throw new JsonValueError(`illegal base64 data at input byte ${at}`);
  const b = Buffer.from(v, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function bytesToJSON(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/**
 * An enum value by name or number. A name the enum does not have is refused
 * in etcd's words; so is a number it does not have, which etcd 3.4 passes on
 * (and, for a range's sort_target, crashes on): no request means anything by one.
 */
export function jsonEnum(
  v: unknown,
  values: Record<string, string | number>,
  field: string,
  goType: string,
): number {
  const names = Object.keys(values).filter((k) => !INT_RE.test(k));
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (typeof values[v] === 'string') return v;
    throw new JsonValueError(
      `unknown value ${v} for enum ${goType} (field ${field}); valid: ${names.map((n) => `${n} (${String(values[n])})`).join(', ')}`,
    );
  }
  if (typeof v === 'string') {
    const n = values[v];
    if (typeof n === 'number') return n;
    throw new JsonValueError(`unknown value ${JSON.stringify(v)} for enum ${goType}`);
  }
  throw new JsonFieldError(field, `one of ${names.join(', ')}`, v);
}

/** An enum value's name, or its number when the enum does not know it. */
export function enumToJSON(n: number, values: Record<number, string>): string | number {
  return values[n] ?? n;
}
