/**
 * `npx tsx bench/proto.ts [filter]`: the generated protobuf code on the messages that carry the load.
 *
 *   messages   encode and decode ops/s and bytes allocated per call, toJSON and fromJSON ops/s, for
 *              raftpb.Entry, a MsgApp with 100 entries, InternalRaftRequest{put}, RangeResponse with
 *              100 kvs, WatchResponse with 10 events (kv + prev_kv), mvccpb.KeyValue
 *   requests   the codec work of one put and one single-key range on a one-member xetcd, in the
 *              order it happens, in µs and bytes allocated per request
 *
 * docs/proto.md compares these figures with ts-proto and protobuf-ts. Ops/s are the best of
 * several rounds (the machine is shared); allocation is the JS heap plus ArrayBuffer stores grown
 * over a run short enough that no GC runs in it.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Entry, EntryType, Message, MessageType } from '../src/proto/raftpb.js';
import {
  InternalRaftRequest,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  WatchResponse,
} from '../src/proto/etcdserverpb.js';
import { Event, KeyValue } from '../src/proto/mvccpb.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let gcRuns = 0;
new PerformanceObserver((list) => (gcRuns += list.getEntries().length)).observe({ entryTypes: ['gc'] });

const ID = 0x8e9e05c52164694dn;
const PEER = 0xfd422379fda50e48n;
const CLUSTER = 0xcdf818194e3a8c32n;
const text = new TextEncoder();
const bytes = (n: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => 97 + ((i * 7 + seed) % 26));
const key = (i: number): Uint8Array => text.encode(`/registry/k${String(i).padStart(6, '0')}`);

const header = ResponseHeader.create({ clusterId: CLUSTER, memberId: ID, revision: 123456, raftTerm: 5 });
const kv = (i: number): KeyValue =>
  KeyValue.create({
    key: key(i),
    createRevision: 1000 + i,
    modRevision: 2000 + i,
    version: 3,
    value: bytes(100, i),
  });
const proposal = InternalRaftRequest.create({
  header: { id: ID, username: '', authRevision: 0 },
  id: ID,
  put: PutRequest.create({ key: key(1), value: bytes(100, 1) }),
});
const entry = (i: number): Entry =>
  Entry.create({
    term: 5,
    index: 1000 + i,
    type: EntryType.EntryNormal,
    data: InternalRaftRequest.encode(proposal),
  });

interface Codec<T> {
  encode(m: T): Uint8Array;
  decode(b: Uint8Array): T;
  toJSON(m: T): Record<string, unknown>;
  fromJSON(j: unknown): T;
}
interface Sample<T> {
  name: string;
  codec: Codec<T>;
  value: T;
}
const sample = <T>(name: string, codec: Codec<T>, value: T): Sample<unknown> => ({
  name,
  codec: codec as Codec<unknown>,
  value,
});

const samples = [
  sample('raftpb.Entry', Entry, entry(0)),
  sample(
    'raftpb.Message (MsgApp, 100 entries)',
    Message,
    Message.create({
      type: MessageType.MsgApp,
      to: PEER,
      from: ID,
      term: 5,
      logTerm: 5,
      index: 999,
      commit: 1099,
      entries: Array.from({ length: 100 }, (_, i) => entry(i)),
    }),
  ),
  sample('InternalRaftRequest{put}', InternalRaftRequest, proposal),
  sample(
    'RangeResponse (100 kvs)',
    RangeResponse,
    RangeResponse.create({ header, kvs: Array.from({ length: 100 }, (_, i) => kv(i)), count: 100 }),
  ),
  sample(
    'WatchResponse (10 events)',
    WatchResponse,
    WatchResponse.create({
      header,
      watchId: 7,
      events: Array.from({ length: 10 }, (_, i) =>
        Event.create({ kv: kv(i), prevKv: { ...kv(i), modRevision: 1500 + i, version: 2 } }),
      ),
    }),
  ),
  sample('mvccpb.KeyValue', KeyValue, kv(1)),
];

// The codec calls of one request, as the server makes them (8-byte key, 256-byte value).
const k8 = text.encode('key00001');
const v256 = bytes(256, 3);
const putRequest = PutRequest.encode(PutRequest.create({ key: k8, value: v256 }));
const rangeRequest = RangeRequest.encode(RangeRequest.create({ key: k8 }));
const record = KeyValue.encode(
  KeyValue.create({ key: k8, value: v256, createRevision: 9, modRevision: 9, version: 1 }),
);
const requests: [string, () => unknown][] = [
  [
    'put: PutRequest decode, InternalRaftRequest encode, Entry encode, InternalRaftRequest decode, KeyValue encode, PutResponse encode',
    () => {
      const put = PutRequest.decode(putRequest);
      const data = InternalRaftRequest.encode(
        InternalRaftRequest.create({ put, id: ID, header: { id: ID, username: '', authRevision: 0 } }),
      );
      keep(Entry.encode({ term: 5, index: 1000, type: EntryType.EntryNormal, data }));
      const applied = InternalRaftRequest.decode(data).put!;
      keep(
        KeyValue.encode(
          KeyValue.create({
            key: applied.key,
            value: applied.value,
            createRevision: 9,
            modRevision: 9,
            version: 1,
          }),
        ),
      );
      return PutResponse.encode(PutResponse.create({ header }));
    },
  ],
  [
    'range: RangeRequest decode, KeyValue decode, RangeResponse{1 kv} encode',
    () => {
      keep(RangeRequest.decode(rangeRequest));
      return RangeResponse.encode(RangeResponse.create({ header, kvs: [KeyValue.decode(record)], count: 1 }));
    },
  ],
];

/** Keeps results observable so that the optimizer cannot drop the work. */
let kept = 0;
function keep(x: unknown): void {
  kept += x instanceof Uint8Array ? x.length : 1;
}

function opsPerSecond(fn: () => unknown, rounds = 5): number {
  for (let i = 0; i < 3000; i++) keep(fn());
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let now = start;
    while (now - start < 200_000_000n) {
      for (let i = 0; i < 50; i++) keep(fn());
      n += 50;
      now = process.hrtime.bigint();
    }
    best = Math.max(best, n / (Number(now - start) / 1e9));
  }
  return best;
}

/** Bytes allocated per call: the least of several GC-free runs (NaN when every run saw a GC). */
async function bytesPerCall(fn: () => unknown, sizeHint: number): Promise<number> {
  const n = Math.max(20, Math.min(1000, Math.floor(1e6 / sizeHint)));
  const held: unknown[] = new Array(n);
  let least = NaN;
  for (let attempt = 0; attempt < 8; attempt++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
    const runsBefore = gcRuns;
    const before = process.memoryUsage();
    for (let i = 0; i < n; i++) held[i] = fn();
    const after = process.memoryUsage();
    await new Promise((r) => setTimeout(r, 10));
    held.fill(undefined);
    const grown = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / n;
    if (gcRuns === runsBefore && grown >= 0 && !(grown >= least)) least = grown;
  }
  return least;
}

const filter = process.argv[2];
const fmt = (n: number): string => (Number.isNaN(n) ? 'n/a' : Math.round(n).toLocaleString('en'));

console.log(
  '| message | bytes | encode ops/s | encode B/op | decode ops/s | decode B/op | toJSON ops/s | fromJSON ops/s |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const { name, codec, value } of samples) {
  if (filter !== undefined && !name.includes(filter)) continue;
  const wire = codec.encode(value);
  const json = codec.toJSON(value);
  const cells = [
    String(wire.length),
    fmt(opsPerSecond(() => codec.encode(value))),
    fmt(await bytesPerCall(() => codec.encode(value), wire.length)),
    fmt(opsPerSecond(() => codec.decode(wire))),
    fmt(await bytesPerCall(() => codec.decode(wire), wire.length)),
    fmt(opsPerSecond(() => codec.toJSON(value), 3)),
    fmt(opsPerSecond(() => codec.fromJSON(json), 3)),
  ];
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}

console.log('\n| request (codec calls only) | µs/request | B/request |');
console.log('| --- | ---: | ---: |');
for (const [name, fn] of requests) {
  if (filter !== undefined && !name.includes(filter)) continue;
  console.log(`| ${name} | ${(1e6 / opsPerSecond(fn)).toFixed(2)} | ${fmt(await bytesPerCall(fn, 1000))} |`);
}
if (kept === -1) console.log('');
