import { describe, expect, it } from 'vitest';
import { allMessageTypes, camelKeys, canon, codecOf, generator, randomMessage } from './reflect.js';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  LeaseGrantRequest,
  Member,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeResponse,
  TxnRequest,
  HashResponse,
} from '../../../src/proto/etcdserverpb.js';
import { Event, Event_EventType, KeyValue } from '../../../src/proto/mvccpb.js';
import { JsonFieldError, goBase64ErrorAt } from '../../../src/proto/json.js';

const SAMPLES = 25;
const types = allMessageTypes();
const enc = new TextEncoder();

describe('JSON of every message', () => {
  for (const t of types) {
    it(`${t.fullName.slice(1)}`, () => {
      const codec = codecOf(t);
      const g = generator(t.fullName.length * 31 + 5);
      for (let i = 0; i < SAMPLES; i++) {
        const v = randomMessage(g, t);
        const json = codec.toJSON(v);
        const text = JSON.stringify(json);
        // Same text as protobufjs's proto3 JSON of the same bytes (orig names, longs as strings,
        // enums by name, base64 bytes, defaults omitted).
        const oracle = t.toObject(t.decode(codec.encode(v)), { longs: String, enums: String, bytes: String });
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(oracle)));
        // Back from the .proto names and from protoc's lowerCamel names.
        expect(canon(t, codec.fromJSON(JSON.parse(text)))).toEqual(canon(t, v));
        expect(canon(t, codec.fromJSON(camelKeys(t, JSON.parse(text))))).toEqual(canon(t, v));
      }
    });
  }
});

describe('JSON as etcd gateway prints it', () => {
  it('matches the documented range response shape', () => {
    const res = RangeResponse.create({
      header: { clusterId: 14841639068965178418n, memberId: 10276657743932975437n, revision: 2, raftTerm: 3 },
      kvs: [
        {
          key: enc.encode('foo'),
          value: enc.encode('bar'),
          createRevision: 2,
          modRevision: 2,
          version: 1,
          lease: 0n,
        },
      ],
      count: 1,
    });
    expect(JSON.stringify(RangeResponse.toJSON(res))).toBe(
      '{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"3"},' +
        '"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}',
    );
  });

  it('prints enums by name, omits the zero enum, keeps uint32 as a number', () => {
    expect(
      Event.toJSON(
        Event.create({ type: Event_EventType.PUT, kv: KeyValue.create({ key: enc.encode('a') }) }),
      ),
    ).toEqual({
      kv: { key: 'YQ==' },
    });
    expect(Event.toJSON(Event.create({ type: Event_EventType.DELETE }))).toEqual({ type: 'DELETE' });
    expect(HashResponse.toJSON(HashResponse.create({ hash: 4294967295 }))).toEqual({ hash: 4294967295 });
    expect(
      Member.toJSON(Member.create({ id: 1n, peerUrls: ['http://127.0.0.1:2380'], isLearner: true })),
    ).toEqual({
      ID: '1',
      peerURLs: ['http://127.0.0.1:2380'],
      isLearner: true,
    });
  });

  it('accepts lenient input: camelCase names, numbers for int64, enum names or numbers', () => {
    const r = RangeRequest.fromJSON({
      key: 'Zm9v',
      rangeEnd: 'Zm9w',
      limit: 10,
      revision: '5',
      sort_order: 'DESCEND',
    });
    expect(Buffer.from(r.key).toString()).toBe('foo');
    expect(Buffer.from(r.rangeEnd).toString()).toBe('fop');
    expect(r.limit).toBe(10);
    expect(r.revision).toBe(5);
    expect(r.sortOrder).toBe(RangeRequest_SortOrder.DESCEND);
    expect(RangeRequest.fromJSON({ sortOrder: 2 }).sortOrder).toBe(RangeRequest_SortOrder.DESCEND);
    expect(LeaseGrantRequest.fromJSON({ TTL: 60, ID: '18446744' }).id).toBe(18446744n);
    expect(PutRequest.fromJSON({ key: 'Zm9v', lease: '-9223372036854775808' }).lease).toBe(-(1n << 63n));
    expect(PutRequest.fromJSON({ key: 'Zm9v', value: null }).value.length).toBe(0);
    // unknown keys are ignored
    expect(PutRequest.fromJSON({ key: 'Zm9v', nonsense: 1 }).key.length).toBe(3);
  });

  it('reads a txn with oneof members and a zero-valued compare target', () => {
    const t = TxnRequest.fromJSON({
      compare: [{ key: 'Zm9v', target: 'VERSION', result: 'EQUAL', version: '0' }],
      success: [{ request_put: { key: 'Zm9v', value: 'YmFy' } }],
      failure: [{ requestRange: { key: 'Zm9v' } }],
    });
    expect(t.compare[0]!.version).toBe(0);
    expect(t.compare[0]!.target).toBe(Compare_CompareTarget.VERSION);
    expect(t.compare[0]!.result).toBe(Compare_CompareResult.EQUAL);
    expect(t.success[0]!.requestPut?.value).toEqual(new Uint8Array(enc.encode('bar')));
    expect(t.failure[0]!.requestRange?.key).toEqual(new Uint8Array(enc.encode('foo')));
    expect(Compare.toJSON(t.compare[0]!)).toEqual({ key: 'Zm9v', version: '0' });
  });

  it('names the field on a bad value', () => {
    expect(() => RangeRequest.fromJSON({ limit: 'ten' })).toThrow(JsonFieldError);
    expect(() => RangeRequest.fromJSON({ limit: 'ten' })).toThrow(/etcdserverpb\.RangeRequest\.limit/);
    expect(() => RangeRequest.fromJSON({ key: 42 })).toThrow(/etcdserverpb\.RangeRequest\.key/);
    // Enum names and base64 are refused in etcd's gateway's words, which name the enum type, not the field.
    expect(() => RangeRequest.fromJSON({ sort_order: 'SIDEWAYS' })).toThrow(
      'unknown value "SIDEWAYS" for enum etcdserverpb.RangeRequest_SortOrder',
    );
    expect(() => RangeRequest.fromJSON({ sort_order: 9 })).toThrow(
      /^unknown value 9 for enum etcdserverpb.RangeRequest_SortOrder \(field etcdserverpb.RangeRequest.sort_order\); valid: NONE \(0\), ASCEND \(1\), DESCEND \(2\)$/,
    );
    expect(() => RangeRequest.fromJSON({ serializable: 'yes' })).toThrow(/serializable/);
    expect(() => LeaseGrantRequest.fromJSON({ ID: '99999999999999999999' })).toThrow(/LeaseGrantRequest\.ID/);
    expect(() => Member.fromJSON({ peerURLs: 'http://x' })).toThrow(/Member\.peerURLs/);
    expect(() => TxnRequest.fromJSON({ success: [{ request_put: { key: '!!' } }] })).toThrow(
      'illegal base64 data at input byte 0',
    );
    expect(() => RangeRequest.fromJSON('nope')).toThrow(/etcdserverpb\.RangeRequest/);
  });

  it("finds bad base64 where Go's StdEncoding does", () => {
    const cases: Array<[string, number | undefined]> = [
      ['', undefined],
      ['Zm9v', undefined],
      ['Zm8=', undefined],
      ['Zg==', undefined],
      ['Zm9v\nYmFy', undefined],
      ['!!!', 0],
      ['Zm9', 0],
      ['Zm9=v', 4],
      ['Zg=', 3],
      ['Z===', 1],
      ['Zm9v-_', 4],
      ['Zg==Zg==', 4],
    ];
    for (const [text, at] of cases) expect(goBase64ErrorAt(text), JSON.stringify(text)).toBe(at);
  });
});
