import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { root } from './reflect.js';

// The npm etcd3 client ships its own copy of etcd's (3.5) protos. Every field it
// knows must have the same number, type and label in ours: that is the wire contract.
const require = createRequire(import.meta.url);
const etcd3Proto = join(dirname(require.resolve('etcd3/package.json')), 'proto');

function messages(ns: protobuf.NamespaceBase, out: protobuf.Type[] = []): protobuf.Type[] {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type) {
      out.push(obj);
      messages(obj, out);
    } else if (obj instanceof protobuf.Namespace) messages(obj, out);
  }
  return out;
}

function services(ns: protobuf.NamespaceBase, out: protobuf.Service[] = []): protobuf.Service[] {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Service) out.push(obj);
    else if (obj instanceof protobuf.Namespace) services(obj, out);
  }
  return out;
}

describe('wire compatibility with the npm etcd3 protos', () => {
  const theirs = new protobuf.Root();
  theirs.resolvePath = (_o: string, target: string) => join(etcd3Proto, target.replace(/^\.\//, ''));
  theirs.loadSync(['rpc.proto', 'kv.proto', 'auth.proto'], { keepCase: true });
  theirs.resolveAll();

  it('has every message and field of etcd3 with the same number, type and label', () => {
    const theirTypes = messages(theirs);
    expect(theirTypes.length).toBeGreaterThan(80);
    const problems: string[] = [];
    for (const t of theirTypes) {
      const ours = root.lookup(t.fullName);
      if (!(ours instanceof protobuf.Type)) {
        problems.push(`missing message ${t.fullName}`);
        continue;
      }
      for (const f of t.fieldsArray) {
        const o = ours.fieldsById[f.id];
        if (!o) {
          problems.push(`${t.fullName}: missing field ${f.id} (${f.name})`);
          continue;
        }
        const theirType = f.resolvedType ? f.resolvedType.fullName : f.type;
        const ourType = o.resolvedType ? o.resolvedType.fullName : o.type;
        if (theirType !== ourType || f.repeated !== o.repeated || o.name !== f.name) {
          problems.push(
            `${t.fullName}.${f.name}=${f.id}: ${f.type}/${f.repeated} vs ${o.name} ${o.type}/${o.repeated}`,
          );
        }
        if (o.repeated && f.packed !== o.packed) problems.push(`${t.fullName}.${f.name}: packed differs`);
      }
      for (const o of ours.oneofsArray) {
        const their = t.oneofs?.[o.name];
        if (!their) problems.push(`${t.fullName}: oneof ${o.name} unknown to etcd3`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has every service method of etcd3 with the same path and streaming', () => {
    const problems: string[] = [];
    for (const s of services(theirs)) {
      const ours = root.lookup(s.fullName);
      if (!(ours instanceof protobuf.Service)) {
        problems.push(`missing service ${s.fullName}`);
        continue;
      }
      for (const m of s.methodsArray) {
        const o = ours.methods[m.name];
        if (!o) problems.push(`missing ${s.fullName}/${m.name}`);
        else if (
          !!o.requestStream !== !!m.requestStream ||
          !!o.responseStream !== !!m.responseStream ||
          o.requestType.replace(/^.*\./, '') !== m.requestType.replace(/^.*\./, '') ||
          o.responseType.replace(/^.*\./, '') !== m.responseType.replace(/^.*\./, '')
        ) {
          problems.push(`${s.fullName}/${m.name} differs`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
