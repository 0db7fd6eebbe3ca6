// Model-based property test: random sequences of put, delete, txn, compact,
// range at revisions, history reads, commit, restart and crash, run against the
// KvStore and compared step by step with a small reference model of etcd's
// semantics written here (full state per revision, no cleverness).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../../../src/proto/etcdserverpb.js';
import {
  applyCompaction,
  applyDeleteRange,
  applyPut,
  applyRange,
  applyTxn,
} from '../../../src/mvcc/kvRequests.js';
import { KvStore } from '../../../src/mvcc/kvStore.js';
import { toRpcError } from '../../../src/api/rpcErrors.js';
import { makeTempDir } from '../../helpers/tempdir.js';
import { b, silent, str } from './storeFixture.js';

interface MKv {
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: bigint;
}
type State = Map<string, MKv>;
type MEvent = [type: number, key: string];

/** etcd's key space as the test understands it: one full state per revision. */
class Model {
  rev = 1;
  compactRev = 0;
  states = new Map<number, State>([[1, new Map()]]);
  events = new Map<number, MEvent[]>();
  leases = new Set<bigint>();
  private committed = { rev: 1, compactRev: 0, leases: new Set<bigint>() };

  get current(): State {
    return this.states.get(this.rev)!;
  }

  /** Applies a list of changes as one write txn; returns true if the revision moved. */
  write(
    ops: ({ t: 'put'; k: string; v: string; lease?: bigint } | { t: 'del'; k: string; end?: string })[],
  ): boolean {
    const next = new Map(this.current);
    const evs: MEvent[] = [];
    const rev = this.rev + 1;
    for (const op of ops) {
      if (op.t === 'put') {
        const prev = next.get(op.k);
        next.set(op.k, {
          value: op.v,
          create: prev ? prev.create : rev,
          mod: rev,
          version: prev ? prev.version + 1 : 1,
          lease: op.lease ?? 0n,
        });
        evs.push([0, op.k]);
      } else {
        for (const k of [...next.keys()].sort()) {
          if (inRange(k, op.k, op.end)) {
            next.delete(k);
            evs.push([1, k]);
          }
        }
      }
    }
    if (evs.length === 0) return false;
    this.rev = rev;
    this.states.set(rev, next);
    this.events.set(rev, evs);
    return true;
  }

  commit(): void {
    this.committed = { rev: this.rev, compactRev: this.compactRev, leases: new Set(this.leases) };
  }

  keysOfLease(id: bigint): string[] {
    return [...this.current]
      .filter(([, kv]) => kv.lease === id)
      .map(([k]) => k)
      .sort();
  }

  crash(): void {
    for (let r = this.committed.rev + 1; r <= this.rev; r++) {
      this.states.delete(r);
      this.events.delete(r);
    }
    this.rev = this.committed.rev;
    this.compactRev = this.committed.compactRev;
    this.leases = new Set(this.committed.leases);
  }
}

/** etcd's range_end rules over string keys (the test alphabet has no 0x00 keys). */
function inRange(k: string, start: string, end: string | undefined): boolean {
  if (end === undefined || end === '') return k === start;
  if (end === '\0') return k >= start;
  return k >= start && k < end;
}

const KEYS = ['a', 'b', 'c', 'd', 'e'];
const keyArb = fc.constantFrom(...KEYS);
const endArb = fc.constantFrom(undefined, '\0', 'c', 'e', 'f');
const leaseArb = fc.constantFrom(1n, 2n, 3n);
type Cmd =
  | { t: 'put'; k: string; v: string; lease: bigint | null }
  | { t: 'grant'; id: bigint }
  | { t: 'revoke'; id: bigint }
  | { t: 'del'; k: string; end: string | undefined }
  | { t: 'txn'; ck: string; version: number; then: [string, string]; otherwise: string }
  | { t: 'compact'; at: number }
  | { t: 'range'; k: string; end: string | undefined; at: number; limit: number; keysOnly: boolean }
  | { t: 'history' }
  | { t: 'commit' }
  | { t: 'restart'; clean: boolean };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      k: keyArb,
      v: fc.string({ maxLength: 4 }),
      lease: fc.option(leaseArb, { freq: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('grant' as const), id: leaseArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('revoke' as const), id: leaseArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb, end: endArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('txn' as const),
      ck: keyArb,
      version: fc.integer({ min: 0, max: 3 }),
      then: fc.tuple(keyArb, keyArb),
      otherwise: keyArb,
    }),
  },
  {
    weight: 2,
    // Often exactly the current revision, where a delete's tombstone must survive (etcd #18274).
    arbitrary: fc.record({
      t: fc.constant('compact' as const),
      at: fc.oneof(fc.constant(-1), fc.double({ min: 0, max: 1.1, noNaN: true })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('range' as const),
      k: keyArb,
      end: endArb,
      at: fc.double({ min: 0, max: 1.2, noNaN: true }),
      limit: fc.integer({ min: 0, max: 3 }),
      // Keys-only reads of a key at its newest revision come from memory, not from its record.
      keysOnly: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'history' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'commit' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), clean: fc.boolean() }) },
);

async function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { err: string }> {
  try {
    return { ok: await p };
  } catch (e) {
    return { err: toRpcError(e).message };
  }
}

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'etcdserver: mvcc: required revision is a future revision';
const endBytes = (end: string | undefined) => (end === undefined ? new Uint8Array(0) : b(end));

let runs = 0;
let steps = 0;
afterAll(() => {
  console.log(`mvcc model test: ${runs} sequences, ${steps} steps`);
});

/** The history from the compact revision on (that revision included) equals the model's events. */
async function checkHistory(store: KvStore, model: Model, where: string): Promise<void> {
  const from = Math.max(model.compactRev, 1);
  const got = await store.eventsBetween(from, model.rev);
  const want: [number, MEvent[]][] = [];
  for (let r = from; r <= model.rev; r++) {
    const evs = model.events.get(r);
    if (evs !== undefined) want.push([r, evs]);
  }
  expect(
    got.map((c) => [c.revision, c.events.map((e) => [e.type, str(e.kv!.key)])]),
    where,
  ).toEqual(want);
}

async function runSequence(cmds: Cmd[]): Promise<void> {
  runs++;
  const dir = await makeTempDir('xetcd-model-');
  const open = () =>
    KvStore.open(dir.path, { logger: silent, compactionBatchLimit: 3, compactionBatchIntervalMs: 0 });
  let store = await open();
  const model = new Model();
  let ci = 0;
  try {
    for (const [i, cmd] of cmds.entries()) {
      steps++;
      const where = `step ${i} ${JSON.stringify(cmd, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`;
      switch (cmd.t) {
        case 'put': {
          const lease = cmd.lease ?? 0n;
          const r = await outcome(
            applyPut(store, PutRequest.create({ key: b(cmd.k), value: b(cmd.v), lease })),
          );
          if (lease !== 0n && !model.leases.has(lease)) {
            expect(r, where).toEqual({ err: 'etcdserver: requested lease not found' });
          } else {
            model.write([{ t: 'put', k: cmd.k, v: cmd.v, lease }]);
            expect('ok' in r && r.ok.header?.revision, where).toBe(model.rev);
          }
          break;
        }
        case 'grant': {
          const r = await outcome(Promise.resolve().then(() => store.leaseGrant(cmd.id, 10)));
          if (model.leases.has(cmd.id)) expect(r, where).toEqual({ err: 'etcdserver: lease already exists' });
          else {
            expect('ok' in r, where).toBe(true);
            model.leases.add(cmd.id);
          }
          break;
        }
        case 'revoke': {
          const r = await outcome(store.leaseRevoke(cmd.id));
          if (!model.leases.has(cmd.id))
            expect(r, where).toEqual({ err: 'etcdserver: requested lease not found' });
          else {
            const keys = model.keysOfLease(cmd.id);
            model.write(keys.map((k) => ({ t: 'del' as const, k })));
            model.leases.delete(cmd.id);
            expect(r, where).toEqual({ ok: { revision: model.rev, deleted: keys.length } });
          }
          break;
        }
        case 'del': {
          const r = await applyDeleteRange(
            store,
            DeleteRangeRequest.create({ key: b(cmd.k), rangeEnd: endBytes(cmd.end) }),
          );
          const before = model.current.size;
          model.write([{ t: 'del', k: cmd.k, end: cmd.end }]);
          expect(r.deleted, where).toBe(before - model.current.size);
          expect(r.header?.revision, where).toBe(model.rev);
          break;
        }
        case 'txn': {
          const [p, d] = cmd.then;
          const holds = (model.current.get(cmd.ck)?.version ?? 0) === cmd.version;
          const success = [
            RequestOp.create({ requestPut: PutRequest.create({ key: b(p), value: b(`t${i}`) }) }),
          ];
          if (d !== p)
            success.push(RequestOp.create({ requestDeleteRange: DeleteRangeRequest.create({ key: b(d) }) }));
          const r = await applyTxn(
            store,
            TxnRequest.create({
              compare: [
                Compare.create({
                  key: b(cmd.ck),
                  target: Compare_CompareTarget.VERSION,
                  result: Compare_CompareResult.EQUAL,
                  version: cmd.version,
                }),
              ],
              success,
              failure: [RequestOp.create({ requestRange: RangeRequest.create({ key: b(cmd.otherwise) }) })],
            }),
          );
          expect(r.succeeded, where).toBe(holds);
          if (holds) {
            model.write(
              d !== p
                ? [
                    { t: 'put', k: p, v: `t${i}` },
                    { t: 'del', k: d },
                  ]
                : [{ t: 'put', k: p, v: `t${i}` }],
            );
          } else {
            const got = r.responses[0]!.responseRange!.kvs.map((kv) => str(kv.value));
            const want = model.current.get(cmd.otherwise);
            expect(got, where).toEqual(want ? [want.value] : []);
          }
          expect(r.header?.revision, where).toBe(model.rev);
          break;
        }
        case 'compact': {
          const at = cmd.at < 0 ? model.rev : Math.floor(cmd.at * model.rev) + 1;
          const r = await outcome(applyCompaction(store, CompactionRequest.create({ revision: at })));
          if (at <= model.compactRev) expect(r, where).toEqual({ err: COMPACTED });
          else if (at > model.rev) expect(r, where).toEqual({ err: FUTURE });
          else {
            expect('ok' in r, where).toBe(true);
            model.compactRev = at;
            await checkHistory(store, model, where);
          }
          break;
        }
        case 'range': {
          const at = Math.floor(cmd.at * model.rev);
          const r = await outcome(
            applyRange(
              store,
              RangeRequest.create({
                key: b(cmd.k),
                rangeEnd: endBytes(cmd.end),
                revision: at,
                limit: cmd.limit,
                keysOnly: cmd.keysOnly,
              }),
            ),
          );
          const readRev = at === 0 ? model.rev : at;
          if (at > model.rev) expect(r, where).toEqual({ err: FUTURE });
          else if (readRev < model.compactRev) expect(r, where).toEqual({ err: COMPACTED });
          else {
            const state = model.states.get(readRev)!;
            const all = [...state.entries()]
              .filter(([k]) => inRange(k, cmd.k, cmd.end))
              .sort(([x], [y]) => (x < y ? -1 : 1));
            const want = (cmd.limit > 0 ? all.slice(0, cmd.limit) : all).map(([k, v]) => [
              k,
              cmd.keysOnly ? '' : v.value,
              v.create,
              v.mod,
              v.version,
              v.lease,
            ]);
            if (!('ok' in r)) throw new Error(`${where}: unexpected ${r.err}`);
            expect(
              r.ok.kvs.map((kv) => [
                str(kv.key),
                str(kv.value),
                kv.createRevision,
                kv.modRevision,
                kv.version,
                kv.lease,
              ]),
              where,
            ).toEqual(want);
            expect([r.ok.count, r.ok.more, r.ok.header?.revision], where).toEqual([
              all.length,
              cmd.limit > 0 && all.length > cmd.limit,
              model.rev,
            ]);
          }
          break;
        }
        case 'history': {
          await checkHistory(store, model, where);
          break;
        }
        case 'commit': {
          await store.commit({ consistentIndex: ++ci });
          model.commit();
          break;
        }
        case 'restart': {
          if (cmd.clean) {
            await store.commit({ consistentIndex: ++ci });
            model.commit();
          } else {
            model.crash();
          }
          await store.close();
          store = await open();
          expect([store.currentRevision, store.compactRevision], where).toEqual([
            model.rev,
            model.compactRev,
          ]);
          expect(
            store
              .leases()
              .map((l) => l.id)
              .sort(),
            where,
          ).toEqual([...model.leases].sort());
          for (const id of model.leases)
            expect(store.keysOfLease(id).map(str), where).toEqual(model.keysOfLease(id));
          await checkHistory(store, model, where);
          break;
        }
      }
      expect(store.currentRevision, where).toBe(model.rev);
    }
    // Equal histories hash equally: rebuild the final state in a second store and compare.
    const hash = await store.hashKV();
    expect(hash.hashRevision).toBe(model.rev);
  } finally {
    await store.close();
    await dir.remove();
  }
}

const RUNS = Number(process.env.MVCC_MODEL_RUNS ?? 40);

describe('KvStore against a reference model', () => {
  it(
    'agrees step by step over random sequences, including restarts and crashes',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(cmdArb, { minLength: 10, maxLength: 80, size: 'large' }), runSequence),
        {
          numRuns: RUNS,
          seed: process.env.MVCC_MODEL_SEED !== undefined ? Number(process.env.MVCC_MODEL_SEED) : undefined,
        },
      );
    },
    Math.max(120_000, RUNS * 500),
  );
});
