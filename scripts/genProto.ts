/**
 * xetcd's protobuf code generator: `npm run proto`.
 *
 * Parses every proto/**\/*.proto with protobufjs (as a parser only) and writes
 * one TypeScript module per proto package to src/proto/<package>.ts (dots
 * become underscores). The modules depend only on the hand-written runtime in
 * src/proto/wire.ts and src/proto/json.ts.
 *
 * Naming rules (documented in docs/proto.md):
 * - Field names are lowerCamelCase of the .proto name. A run of capitals is one
 *   word (an acronym) and is lowered like any other word, and an acronym's
 *   plural "s" stays with it: `Term`→`term`, `conf_state`→`confState`,
 *   `ID`→`id`, `memberID`→`memberId`, `member_ID`→`memberId`, `TTL`→`ttl`,
 *   `grantedTTL`→`grantedTtl`, `clientURLs`→`clientUrls`, `dbSizeInUse`→`dbSizeInUse`.
 * - Nested messages and enums are flattened as `Outer_Inner`.
 * - 64-bit integers are `number`, unless the field carries `(xetcd.big) = true`,
 *   then `bigint` (signed for int64/sint64/sfixed64, unsigned for uint64/fixed64).
 * - Services are exported as `<Service>Service` objects usable directly by
 *   @grpc/grpc-js `server.addService` and `makeGenericClientConstructor`.
 *
 * test/unit/proto/generator.test.ts fails when a committed module differs from
 * what this writes.
 */
import { readdirSync, readFileSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import * as prettier from 'prettier';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(repoRoot, 'proto');
const outDir = join(repoRoot, 'src', 'proto');
const require = createRequire(import.meta.url);
const protobufjsDir = dirname(require.resolve('protobufjs/package.json'));

// ---------------------------------------------------------------- naming

/** Splits a .proto identifier into words; capital runs are acronyms. */
function words(name: string): string[] {
  const out: string[] = [];
  for (const seg of name.split('_')) {
    let i = 0;
    while (i < seg.length) {
      const c = seg[i]!;
      if (c >= 'A' && c <= 'Z') {
        let j = i;
        while (j < seg.length && seg[j]! >= 'A' && seg[j]! <= 'Z') j++;
        if (j - i === 1) {
          // One capital: a normal word (`Term`, `Size`).
          let k = j;
          while (k < seg.length && !(seg[k]! >= 'A' && seg[k]! <= 'Z')) k++;
          out.push(seg.slice(i, k));
          i = k;
        } else if (j < seg.length && seg[j]! >= 'a' && seg[j]! <= 'z') {
          // `URLs`: an acronym plural; `HTTPServer`: acronym then a word.
          const pluralEnd = j + 1;
          const isPlural =
            seg[j] === 's' &&
            (pluralEnd === seg.length || !(seg[pluralEnd]! >= 'a' && seg[pluralEnd]! <= 'z'));
          if (isPlural) {
            out.push(seg.slice(i, pluralEnd));
            i = pluralEnd;
          } else {
            out.push(seg.slice(i, j - 1));
            i = j - 1;
          }
        } else {
          out.push(seg.slice(i, j));
          i = j;
        }
      } else {
        let k = i;
        while (k < seg.length && !(seg[k]! >= 'A' && seg[k]! <= 'Z')) k++;
        out.push(seg.slice(i, k));
        i = k;
      }
    }
  }
  return out.filter((w) => w.length > 0);
}

/** The TypeScript property name of a .proto field name. */
export function fieldName(protoName: string): string {
  return words(protoName)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

/** protoc's json_name: drop underscores, capitalize the letter after each. */
export function protocJsonName(protoName: string): string {
  return protoName.replace(/_([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');
}

function lowerFirst(s: string): string {
  return s[0]!.toLowerCase() + s.slice(1);
}

// ---------------------------------------------------------------- model

type Scalar =
  | 'double'
  | 'float'
  | 'int32'
  | 'uint32'
  | 'sint32'
  | 'fixed32'
  | 'sfixed32'
  | 'int64'
  | 'uint64'
  | 'sint64'
  | 'fixed64'
  | 'sfixed64'
  | 'bool'
  | 'string'
  | 'bytes';

interface ScalarInfo {
  ts: string;
  wt: number;
  write: string;
  read: string;
  zero: string;
  /** Expression testing whether `v` (a non-repeated value) is not the default. */
  nonZero: (v: string) => string;
  packable: boolean;
}

/** Integers, bigints, booleans and strings are at their zero value exactly when falsy. */
const truthy = (v: string): string => v;

function scalarInfo(type: Scalar, big: boolean): ScalarInfo {
  const num = (write: string, read: string, wt: number): ScalarInfo => ({
    ts: 'number',
    wt,
    write,
    read,
    zero: '0',
    nonZero: truthy,
    packable: true,
  });
  const bigI = (write: string, read: string, wt: number): ScalarInfo => ({
    ts: 'bigint',
    wt,
    write,
    read,
    zero: '0n',
    nonZero: truthy,
    packable: true,
  });
  switch (type) {
    case 'double':
      return { ...num('double', 'double', 1), nonZero: (v) => `${v} !== 0 && ${v} !== undefined` };
    case 'float':
      return { ...num('float', 'float', 5), nonZero: (v) => `${v} !== 0 && ${v} !== undefined` };
    case 'int32':
      return num('int32', 'int32', 0);
    case 'uint32':
      return num('uint32', 'uint32', 0);
    case 'sint32':
      return num('sint32', 'sint32', 0);
    case 'fixed32':
      return num('fixed32', 'fixed32', 5);
    case 'sfixed32':
      return num('sfixed32', 'sfixed32', 5);
    case 'int64':
      return big ? bigI('int64Big', 'int64Big', 0) : num('int64', 'int64', 0);
    case 'uint64':
      return big ? bigI('int64Big', 'uint64Big', 0) : num('int64', 'uint64', 0);
    case 'sint64':
      return big ? bigI('sint64Big', 'sint64Big', 0) : num('sint64', 'sint64', 0);
    case 'fixed64':
      return big ? bigI('fixed64Big', 'fixed64Big', 1) : num('fixed64', 'fixed64', 1);
    case 'sfixed64':
      return big ? bigI('fixed64Big', 'sfixed64Big', 1) : num('fixed64', 'sfixed64', 1);
    case 'bool':
      return {
        ts: 'boolean',
        wt: 0,
        write: 'bool',
        read: 'bool',
        zero: 'false',
        nonZero: truthy,
        packable: true,
      };
    case 'string':
      return {
        ts: 'string',
        wt: 2,
        write: 'string',
        read: 'string',
        zero: "''",
        nonZero: truthy,
        packable: false,
      };
    case 'bytes':
      return {
        ts: 'Uint8Array',
        wt: 2,
        write: 'bytes',
        read: 'bytes',
        zero: '$EMPTY_BYTES',
        nonZero: (v) => `${v} !== undefined && ${v}.length !== 0`,
        packable: false,
      };
  }
}

const SCALARS = new Set<string>([
  'double',
  'float',
  'int32',
  'uint32',
  'sint32',
  'fixed32',
  'sfixed32',
  'int64',
  'uint64',
  'sint64',
  'fixed64',
  'sfixed64',
  'bool',
  'string',
  'bytes',
]);

const BIG_CAPABLE = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** Package of a reflection object (the namespace chain above its outermost type). */
export function packageOf(obj: protobuf.ReflectionObject): string {
  const parts: string[] = [];
  let p: protobuf.ReflectionObject | null = obj.parent;
  // Skip enclosing types (nested declarations), keep namespaces.
  while (p && !(p instanceof protobuf.Root)) {
    if (!(p instanceof protobuf.Type)) parts.unshift(p.name);
    p = p.parent;
  }
  return parts.join('.');
}

/** Flattened TypeScript name of a type or enum: `Outer_Inner`. */
export function tsTypeName(obj: protobuf.ReflectionObject): string {
  const parts = [obj.name];
  let p = obj.parent;
  while (p && p instanceof protobuf.Type) {
    parts.unshift(p.name);
    p = p.parent;
  }
  return parts.join('_');
}

export function moduleName(pkg: string): string {
  return pkg.replace(/\./g, '_');
}

// ---------------------------------------------------------------- emitter

class ModuleEmitter {
  private readonly out: string[] = [];
  private readonly imports = new Map<string, Set<string>>();
  private readonly wireImports = new Set<string>();
  private readonly jsonImports = new Set<string>();

  constructor(
    readonly pkg: string,
    readonly files: string[],
  ) {}

  /** A reference to a type/enum from this module (importing it when foreign). */
  ref(obj: protobuf.ReflectionObject): string {
    const name = tsTypeName(obj);
    const pkg = packageOf(obj);
    if (pkg === this.pkg) return name;
    const mod = moduleName(pkg);
    let set = this.imports.get(mod);
    if (!set) this.imports.set(mod, (set = new Set()));
    set.add(name);
    return `${mod}_${name}`;
  }

  wire(name: string): string {
    this.wireImports.add(name);
    return `$${name}`;
  }

  json(name: string): string {
    this.jsonImports.add(name);
    return name;
  }

  /** A .proto comment as a doc comment. */
  doc(comment: string | null | undefined, indent: string): void {
    if (!comment) return;
    const lines = comment.replace(/\*\//g, '*\\/').split('\n');
    if (lines.length === 1) {
      this.line(`${indent}/** ${lines[0]} */`);
      return;
    }
    this.line(`${indent}/**`);
    for (const l of lines) this.line(`${indent} *${l.length > 0 ? ' ' + l : ''}`);
    this.line(`${indent} */`);
  }

  line(s = ''): void {
    this.out.push(s);
  }

  emitEnum(e: protobuf.Enum): void {
    const name = tsTypeName(e);
    this.doc(e.comment, '');
    this.line(`export enum ${name} {`);
    for (const [k, v] of Object.entries(e.values)) {
      const c = e.comments[k];
      this.doc(c, '  ');
      this.line(`  ${k} = ${v},`);
    }
    this.line('}');
    this.line();
  }

  emitMessage(t: protobuf.Type): void {
    const name = tsTypeName(t);
    const W = this.wire('Writer');
    const R = this.wire('Reader');
    if (Object.keys(t.fields).some((k) => t.fields[k] instanceof protobuf.MapField)) {
      throw new Error(`${t.fullName}: map fields are not supported by genProto`);
    }
    const fields = t.fieldsArray.map((f) => this.describeField(t, f));
    const seen = new Set<string>();
    for (const f of fields) {
      if (seen.has(f.ts)) throw new Error(`${t.fullName}: two fields map to the TypeScript name ${f.ts}`);
      seen.add(f.ts);
    }

    // interface
    this.doc(t.comment, '');
    // An empty message is an empty interface: the lint rule against those does not apply here.
    if (fields.length === 0) this.line('// eslint-disable-next-line @typescript-eslint/no-empty-object-type');
    this.line(`export interface ${name} {`);
    for (const f of fields) {
      this.doc(f.comment, '  ');
      this.line(`  ${f.ts}${f.optional ? '?' : ''}: ${f.tsType};`);
    }
    this.line('}');
    this.line();

    // encoder (fields in number order, as other encoders write them)
    const sorted = [...fields].sort((a, b) => a.id - b.id);
    const mUsed = fields.length > 0 ? 'm' : '_m';
    const wUsed = fields.length > 0 ? 'w' : '_w';
    this.line(`function encode${name}(${mUsed}: ${name}, ${wUsed}: ${W}): void {`);
    for (const f of sorted) this.emitEncodeField(f);
    this.line('}');
    this.line();

    // decoder
    this.line(`function decode${name}(r: ${R}, end: number): ${name} {`);
    this.line(`  const m: ${name} = ${this.defaultsLiteral(fields)};`);
    this.line('  while (r.pos < end) {');
    this.line('    const tag = r.uint32();');
    this.line('    switch (tag) {');
    for (const f of sorted) this.emitDecodeField(f);
    this.line('      default:');
    this.line('        r.skip(tag & 7, tag >>> 3);');
    this.line('    }');
    this.line('  }');
    this.line(
      `  if (r.pos !== end) throw new ${this.wire('WireError')}('${t.fullName.slice(1)}: field overruns its message');`,
    );
    this.line('  return m;');
    this.line('}');
    this.line();

    // value
    this.line(`export const ${name} = {`);
    this.line(`  create(${fields.length > 0 ? 'init' : '_init'}?: Partial<${name}>): ${name} {`);
    this.emitCreate(name, fields);
    this.line('  },');
    this.line(`  encode(m: ${name}): Uint8Array {`);
    this.line(`    return ${this.wire('encodeWith')}(m, encode${name});`);
    this.line('  },');
    this.line(`  decode(b: Uint8Array): ${name} {`);
    this.line(`    return decode${name}(new ${R}(b), b.length);`);
    this.line('  },');
    this.line('  /** Low level: writes the fields of m (not length-prefixed) into w. */');
    this.line(`  write: encode${name},`);
    this.line('  /** Low level: reads fields from r up to end. */');
    this.line(`  read: decode${name},`);
    this.line(`  toJSON(${fields.length > 0 ? 'm' : '_m'}: ${name}): Record<string, unknown> {`);
    this.line('    const o: Record<string, unknown> = {};');
    for (const f of fields) this.emitToJSON(f);
    this.line('    return o;');
    this.line('  },');
    this.line(`  fromJSON(j: unknown): ${name} {`);
    const jo = this.json('jsonObject');
    // An empty message still checks that it was given an object.
    this.line(`    ${fields.length > 0 ? 'const o = ' : ''}${jo}(j, '${t.fullName.slice(1)}');`);
    this.line(`    const m: ${name} = ${this.defaultsLiteral(fields)};`);
    for (const f of fields) this.emitFromJSON(f);
    this.line('    return m;');
    this.line('  },');
    this.line('};');
    this.line();

    for (const nested of t.nestedArray) {
      if (nested instanceof protobuf.Enum) this.emitEnum(nested);
      else if (nested instanceof protobuf.Type) this.emitMessage(nested);
    }
  }

  private describeField(t: protobuf.Type, f: protobuf.Field): FieldDesc {
    const ts = fieldName(f.name);
    const opts = (f.options ?? {}) as Record<string, unknown>;
    const big = opts['(xetcd.big)'] === true;
    const repeated = f.repeated;
    const inOneof = f.partOf !== null && f.partOf !== undefined;
    const base = {
      id: f.id,
      proto: f.name,
      ts,
      jsonNames: [...new Set([f.name, protocJsonName(f.name), ts])],
      repeated,
      comment: f.comment ?? undefined,
      full: `${t.fullName.slice(1)}.${f.name}`,
    };
    if (big && !BIG_CAPABLE.has(f.type)) throw new Error(`${base.full}: (xetcd.big) on a ${f.type} field`);
    if (SCALARS.has(f.type)) {
      const info = scalarInfo(f.type as Scalar, big);
      return {
        ...base,
        kind: 'scalar',
        scalar: f.type as Scalar,
        info,
        packed: repeated && info.packable && f.packed,
        optional: inOneof && !repeated,
        tsType: repeated ? `${info.ts}[]` : info.ts,
      };
    }
    const resolved = f.resolvedType;
    if (resolved instanceof protobuf.Enum) {
      const enumRef = this.ref(resolved);
      return {
        ...base,
        kind: 'enum',
        enumRef,
        goName: goEnumName(resolved),
        info: scalarInfo('int32', false),
        packed: repeated && f.packed,
        optional: inOneof && !repeated,
        tsType: repeated ? `${enumRef}[]` : enumRef,
      };
    }
    if (resolved instanceof protobuf.Type) {
      const msgRef = this.ref(resolved);
      return {
        ...base,
        kind: 'message',
        msgRef,
        local: packageOf(resolved) === this.pkg,
        msgName: tsTypeName(resolved),
        optional: !repeated,
        tsType: repeated ? `${msgRef}[]` : msgRef,
      };
    }
    throw new Error(`${base.full}: unresolved type ${f.type}`);
  }

  private zeroOf(f: ScalarDesc): string {
    if (f.info.zero === '$EMPTY_BYTES') return this.wire('EMPTY_BYTES');
    return f.info.zero;
  }

  private defaultsLiteral(fields: FieldDesc[]): string {
    const parts: string[] = [];
    for (const f of fields) {
      if (f.repeated) parts.push(`${f.ts}: []`);
      else if (f.optional) continue;
      else if (f.kind === 'scalar') parts.push(`${f.ts}: ${this.zeroOf(f)}`);
      else if (f.kind === 'enum') parts.push(`${f.ts}: 0`);
    }
    return `{ ${parts.join(', ')} }`;
  }

  private emitCreate(name: string, fields: FieldDesc[]): void {
    const parts: string[] = [];
    for (const f of fields) {
      if (f.repeated) parts.push(`${f.ts}: init?.${f.ts} ?? []`);
      else if (f.optional) continue;
      else if (f.kind === 'scalar') parts.push(`${f.ts}: init?.${f.ts} ?? ${this.zeroOf(f)}`);
      else if (f.kind === 'enum') parts.push(`${f.ts}: init?.${f.ts} ?? 0`);
    }
    const opt = fields.filter((f) => f.optional);
    if (opt.length === 0) {
      this.line(`    return { ${parts.join(', ')} };`);
      return;
    }
    // Optional fields (messages, oneof members) are copied only when present.
    this.line(`    const m: ${name} = { ${parts.join(', ')} };`);
    this.line('    if (init !== undefined) {');
    for (const f of opt) this.line(`      if (init.${f.ts} !== undefined) m.${f.ts} = init.${f.ts};`);
    this.line('    }');
    this.line('    return m;');
  }

  private emitEncodeField(f: FieldDesc): void {
    const acc = `m.${f.ts}`;
    if (f.kind === 'message') {
      const tag = (f.id << 3) | 2;
      const enc = f.local ? `encode${f.msgName}` : `${f.msgRef}.write`;
      if (f.repeated) {
        this.line(`  for (const v of ${acc}) {`);
        this.line(`    w.uint32(${tag});`);
        this.line('    const at = w.fork();');
        this.line(`    ${enc}(v, w);`);
        this.line('    w.ldelim(at);');
        this.line('  }');
      } else {
        this.line(`  if (${acc} !== undefined) {`);
        this.line(`    w.uint32(${tag});`);
        this.line('    const at = w.fork();');
        this.line(`    ${enc}(${acc}, w);`);
        this.line('    w.ldelim(at);');
        this.line('  }');
      }
      return;
    }
    const info = f.info;
    if (f.repeated) {
      if (f.packed) {
        this.line(`  if (${acc}.length !== 0) {`);
        this.line(`    w.uint32(${(f.id << 3) | 2});`);
        this.line('    const at = w.fork();');
        this.line(`    for (const v of ${acc}) w.${info.write}(v);`);
        this.line('    w.ldelim(at);');
        this.line('  }');
      } else {
        this.line(`  for (const v of ${acc}) {`);
        this.line(`    w.uint32(${(f.id << 3) | info.wt});`);
        this.line(`    w.${info.write}(v);`);
        this.line('  }');
      }
      return;
    }
    // A oneof member is written whenever it is set, even to its zero value.
    const cond = f.optional ? `${acc} !== undefined` : info.nonZero(acc);
    this.line(`  if (${cond}) {`);
    this.line(`    w.uint32(${(f.id << 3) | info.wt});`);
    this.line(`    w.${info.write}(${acc});`);
    this.line('  }');
  }

  private emitDecodeField(f: FieldDesc): void {
    const acc = `m.${f.ts}`;
    if (f.kind === 'message') {
      const dec = f.local ? `decode${f.msgName}` : `${f.msgRef}.read`;
      this.line(`      case ${(f.id << 3) | 2}: {`);
      this.line('        const e = r.delimited();');
      if (f.repeated) this.line(`        ${acc}.push(${dec}(r, e));`);
      else this.line(`        ${acc} = ${dec}(r, e);`);
      this.line('        break;');
      this.line('      }');
      return;
    }
    const info = f.info;
    const cast = f.kind === 'enum' ? ` as ${f.enumRef}` : '';
    const read = `r.${info.read}()${cast}`;
    if (f.repeated) {
      this.line(`      case ${(f.id << 3) | info.wt}:`);
      this.line(`        ${acc}.push(${read});`);
      this.line('        break;');
      if (info.packable) {
        // Accept packed and unpacked encodings alike, as the spec requires.
        this.line(`      case ${(f.id << 3) | 2}: {`);
        this.line('        const e = r.delimited();');
        this.line(`        while (r.pos < e) ${acc}.push(${read});`);
        this.line('        break;');
        this.line('      }');
      }
      return;
    }
    this.line(`      case ${(f.id << 3) | info.wt}:`);
    this.line(`        ${acc} = ${read};`);
    this.line('        break;');
  }

  private scalarToJSON(f: ScalarDesc | EnumDesc, v: string): string {
    if (f.kind === 'enum') return `${this.json('enumToJSON')}(${v}, ${f.enumRef})`;
    switch (f.scalar) {
      case 'int64':
      case 'uint64':
      case 'sint64':
      case 'fixed64':
      case 'sfixed64':
        return `String(${v})`;
      case 'bytes':
        return `${this.json('bytesToJSON')}(${v})`;
      case 'double':
      case 'float':
        return `${this.json('floatToJSON')}(${v})`;
      default:
        return v;
    }
  }

  private emitToJSON(f: FieldDesc): void {
    const acc = `m.${f.ts}`;
    const key = JSON.stringify(f.proto);
    if (f.kind === 'message') {
      const tj = `${f.msgRef}.toJSON`;
      if (f.repeated) {
        this.line(
          `    if (${acc} !== undefined && ${acc}.length !== 0) o[${key}] = ${acc}.map((x) => ${tj}(x));`,
        );
      } else {
        this.line(`    if (${acc} !== undefined) o[${key}] = ${tj}(${acc});`);
      }
      return;
    }
    if (f.repeated) {
      const conv = this.scalarToJSON(f, 'x');
      const mapped = conv === 'x' ? `[...${acc}]` : `${acc}.map((x) => ${conv})`;
      this.line(`    if (${acc} !== undefined && ${acc}.length !== 0) o[${key}] = ${mapped};`);
      return;
    }
    const cond = f.optional ? `${acc} !== undefined` : f.info.nonZero(acc);
    this.line(`    if (${cond}) o[${key}] = ${this.scalarToJSON(f, acc)};`);
  }

  private scalarFromJSON(f: ScalarDesc | EnumDesc, v: string, field: string): string {
    const name = `'${field}'`;
    if (f.kind === 'enum')
      return `${this.json('jsonEnum')}(${v}, ${f.enumRef}, ${name}, '${f.goName}') as ${f.enumRef}`;
    const big = f.info.ts === 'bigint';
    switch (f.scalar) {
      case 'int64':
      case 'sint64':
      case 'sfixed64':
        return big
          ? `${this.json('jsonBig')}(${v}, ${name}, false)`
          : `${this.json('jsonInt64')}(${v}, ${name}, false)`;
      case 'uint64':
      case 'fixed64':
        return big
          ? `${this.json('jsonBig')}(${v}, ${name}, true)`
          : `${this.json('jsonInt64')}(${v}, ${name}, true)`;
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return `${this.json('jsonInt32')}(${v}, ${name}, false)`;
      case 'uint32':
      case 'fixed32':
        return `${this.json('jsonInt32')}(${v}, ${name}, true)`;
      case 'double':
      case 'float':
        return `${this.json('jsonFloat')}(${v}, ${name})`;
      case 'bool':
        return `${this.json('jsonBool')}(${v}, ${name})`;
      case 'string':
        return `${this.json('jsonString')}(${v}, ${name})`;
      case 'bytes':
        return `${this.json('jsonBytes')}(${v}, ${name})`;
    }
  }

  private emitFromJSON(f: FieldDesc): void {
    const acc = `m.${f.ts}`;
    const lookup = f.jsonNames.map((n) => `o[${JSON.stringify(n)}]`).join(' ?? ');
    this.line('    {');
    this.line(`      const v = ${lookup};`);
    if (f.kind === 'message') {
      if (f.repeated) {
        const arr = this.json('jsonArray');
        this.line(
          `    if (v !== undefined && v !== null) ${acc} = ${arr}(v, '${f.full}').map((x) => ${f.msgRef}.fromJSON(x));`,
        );
      } else {
        this.line(`    if (v !== undefined && v !== null) ${acc} = ${f.msgRef}.fromJSON(v);`);
      }
      this.line('    }');
      return;
    }
    if (f.repeated) {
      const arr = this.json('jsonArray');
      this.line(
        `    if (v !== undefined && v !== null) ${acc} = ${arr}(v, '${f.full}').map((x) => ${this.scalarFromJSON(f, 'x', f.full)});`,
      );
      this.line('    }');
      return;
    }
    this.line(`    if (v !== undefined && v !== null) ${acc} = ${this.scalarFromJSON(f, 'v', f.full)};`);
    this.line('    }');
  }

  emitService(s: protobuf.Service): void {
    const svcName = `${s.name}Service`;
    const fullService = s.fullName.slice(1);
    const asBuffer = this.wire('asBuffer');
    this.doc(s.comment, '');
    this.line(`export const ${svcName} = {`);
    for (const m of s.methodsArray) {
      m.resolve();
      const req = m.resolvedRequestType;
      const res = m.resolvedResponseType;
      if (!req || !res) throw new Error(`${m.fullName}: unresolved request/response type`);
      const reqRef = this.ref(req);
      const resRef = this.ref(res);
      this.doc(m.comment, '  ');
      this.line(`  ${m.name}: {`);
      this.line(`    path: '/${fullService}/${m.name}',`);
      this.line(`    requestStream: ${m.requestStream === true},`);
      this.line(`    responseStream: ${m.responseStream === true},`);
      this.line(`    requestSerialize: (m: ${reqRef}): Buffer => ${asBuffer}(${reqRef}.encode(m)),`);
      this.line(`    requestDeserialize: (b: Buffer): ${reqRef} => ${reqRef}.decode(b),`);
      this.line(`    responseSerialize: (m: ${resRef}): Buffer => ${asBuffer}(${resRef}.encode(m)),`);
      this.line(`    responseDeserialize: (b: Buffer): ${resRef} => ${resRef}.decode(b),`);
      this.line(`    originalName: '${lowerFirst(m.name)}',`);
      this.line('  },');
    }
    this.line('};');
    this.line();
  }

  render(): string {
    const head: string[] = [];
    head.push(`// Generated by scripts/genProto.ts (npm run proto) from ${this.files.join(', ')}.`);
    head.push('// Do not edit: change the .proto file and regenerate.');
    if (this.wireImports.size > 0) {
      const names = [...this.wireImports].sort().map((n) => `${n} as $${n}`);
      head.push(`import { ${names.join(', ')} } from './wire.js';`);
    }
    if (this.jsonImports.size > 0) {
      head.push(`import { ${[...this.jsonImports].sort().join(', ')} } from './json.js';`);
    }
    for (const [mod, names] of [...this.imports.entries()].sort()) {
      const list = [...names].sort().map((n) => `${n} as ${mod}_${n}`);
      head.push(`import { ${list.join(', ')} } from './${mod}.js';`);
    }
    head.push('');
    return head.join('\n') + '\n' + this.out.join('\n');
  }
}

interface BaseDesc {
  id: number;
  proto: string;
  ts: string;
  jsonNames: string[];
  repeated: boolean;
  optional: boolean;
  tsType: string;
  comment: string | undefined;
  full: string;
}
interface ScalarDesc extends BaseDesc {
  kind: 'scalar';
  scalar: Scalar;
  info: ScalarInfo;
  packed: boolean;
}
/** protoc-gen-go's name of an enum: its package, then the enclosing messages and itself joined by '_'. */
function goEnumName(e: protobuf.Enum): string {
  const parts = [e.name];
  let p = e.parent;
  while (p instanceof protobuf.Type) {
    parts.unshift(p.name);
    p = p.parent;
  }
  return `${p?.fullName.replace(/^\./, '') ?? ''}.${parts.join('_')}`;
}

interface EnumDesc extends BaseDesc {
  kind: 'enum';
  enumRef: string;
  /** The enum's Go type name (etcdserverpb.RangeRequest_SortTarget), which etcd's gateway errors name. */
  goName: string;
  info: ScalarInfo;
  packed: boolean;
}
interface MessageDesc extends BaseDesc {
  kind: 'message';
  msgRef: string;
  msgName: string;
  local: boolean;
}
type FieldDesc = ScalarDesc | EnumDesc | MessageDesc;

// ---------------------------------------------------------------- driver

function listProtos(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listProtos(p));
    else if (name.endsWith('.proto')) out.push(p);
  }
  return out;
}

/** Loads every .proto under proto/ into one root; google/* from protobufjs's bundled copies. */
export function loadRoot(): { root: protobuf.Root; files: string[] } {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (target.startsWith('/')) return target;
    if (target.startsWith('google/protobuf/')) return join(protobufjsDir, target);
    return join(protoDir, target);
  };
  const files = listProtos(protoDir).map((p) => relative(protoDir, p));
  root.loadSync(files, { keepCase: true, alternateCommentMode: true });
  root.resolveAll();
  return { root, files };
}

/** Source files of each package (for the header). */
function packageFiles(files: string[]): Map<string, string[]> {
  const byPkg = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(protoDir, file), 'utf8');
    const m = /^\s*package\s+([\w.]+)\s*;/m.exec(text);
    if (!m) throw new Error(`proto/${file}: no package statement`);
    const pkg = m[1]!;
    if (pkg === 'xetcd') continue; // options only: nothing to generate
    const list = byPkg.get(pkg) ?? [];
    list.push(`proto/${file}`);
    byPkg.set(pkg, list);
  }
  return byPkg;
}

function lookupNamespace(root: protobuf.Root, pkg: string): protobuf.Namespace {
  const ns = root.lookup(pkg);
  if (!(ns instanceof protobuf.Namespace)) throw new Error(`package ${pkg} not found`);
  return ns;
}

/** Generates every module; returns file path → contents. */
export async function generate(): Promise<Map<string, string>> {
  const { root, files } = loadRoot();
  const prettierConfig = (await prettier.resolveConfig(join(outDir, 'x.ts'))) ?? {};
  const out = new Map<string, string>();
  for (const [pkg, pkgFiles] of [...packageFiles(files).entries()].sort()) {
    const ns = lookupNamespace(root, pkg);
    const em = new ModuleEmitter(pkg, pkgFiles);
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Enum) em.emitEnum(obj);
    }
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) em.emitMessage(obj);
    }
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) em.emitService(obj);
    }
    const code = await prettier.format(em.render(), { ...prettierConfig, parser: 'typescript' });
    out.set(join(outDir, `${moduleName(pkg)}.ts`), code);
  }
  return out;
}

async function main(): Promise<void> {
  for (const [path, code] of await generate()) {
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === code) continue;
    writeFileSync(path, code);
    console.log(`wrote ${relative(repoRoot, path)}`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
