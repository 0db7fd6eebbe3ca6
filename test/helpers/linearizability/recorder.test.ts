// The recorder against real servers: a concurrent load on a few keys gives a history the
// checker accepts, on etcd 3.4 (the reference) and on xetcd; failures are recorded as the
// checker needs them.
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/raft/rng.js';
import { startEtcd } from '../etcd.js';
import { EtcdRpcClient } from '../etcdRpc.js';
import { freePort } from '../ports.js';
import { ResourceScope } from '../scope.js';
import { makeTempDir } from '../tempdir.js';
import { startXetcd, xetcdServerExists } from '../xetcd.js';
import { checkLinearizable } from './checker.js';
import { HistoryRecorder, type RecordingClient } from './recorder.js';

const scope = new ResourceScope();
afterAll(() => scope.close());

async function server(kind: 'etcd' | 'xetcd'): Promise<string> {
  const dir = scope.add(await makeTempDir(`xetcd-recorder-${kind}-`), 'data dir', (d) => d.remove());
  const start = kind === 'etcd' ? startEtcd : startXetcd;
  const s = scope.add(await start({ dataDir: dir.path }), kind, (x) => x.stop());
  return s.endpoint;
}

function rpc(endpoint: string): EtcdRpcClient {
  return scope.add(new EtcdRpcClient(endpoint), 'grpc client', (c) => c.close());
}

/** One client's share of the load: unique values, compare-and-set on the last mod revision it saw. */
async function load(c: RecordingClient, seed: number, ops: number, keys: readonly string[]): Promise<void> {
  const rng = new Rng(seed);
  const seen = new Map<string, number>();
  for (let i = 0; i < ops; i++) {
    const key = rng.pick(keys);
    const value = `${c.name}-${i}`;
    switch (rng.weighted({ put: 4, get: 4, delete: 1, putIf: 1 })) {
      case 'put':
        await c.put(key, value);
        break;
      case 'get':
        seen.set(key, (await c.get(key)).modRevision);
        break;
      case 'delete':
        await c.delete(key);
        break;
      case 'putIf':
        await c.putIf(key, value, seen.get(key) ?? 0);
        break;
    }
  }
}

const targets = xetcdServerExists() ? (['etcd', 'xetcd'] as const) : (['etcd'] as const);

describe.each(targets)('HistoryRecorder against %s', (kind) => {
  it('records a concurrent load of 5 clients as a linearizable history', async () => {
    const endpoint = await server(kind);
    const prefix = `lin-${kind}/`;
    const keys = ['a', 'b', 'c', 'd'].map((k) => prefix + k);
    const start = await rpc(endpoint).range({ key: Buffer.from(prefix) });
    const recorder = new HistoryRecorder();
    const clients = Array.from({ length: 5 }, (_, i) => recorder.client(`c${i}`, rpc(endpoint)));
    await Promise.all(clients.map((c, i) => load(c, i + 1, 120, keys)));

    const history = recorder.history();
    expect(history).toHaveLength(600);
    expect(history.filter((op) => op.output === undefined)).toHaveLength(0);
    expect(history.some((op) => op.type === 'putIf' && op.output?.succeeded === true)).toBe(true);
    const r = checkLinearizable(history, { initial: { revision: start.header!.revision } });
    expect(r.verdict === 'linearizable' ? 'linearizable' : r.explanation).toBe('linearizable');
  });
});

describe('HistoryRecorder outcomes', () => {
  it('keeps a failed write as an unknown outcome and leaves a failed read out', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const recorder = new HistoryRecorder();
    const c = recorder.client('c1', rpc(nobody), 300);
    await expect(c.put('k', 'v')).rejects.toThrow();
    await expect(c.get('k')).rejects.toThrow();
    await expect(c.putIf('k', 'w', 0)).rejects.toThrow();
    const h = recorder.history();
    expect(h.map((op) => [op.type, op.return, op.output])).toEqual([
      ['put', undefined, undefined],
      ['putIf', undefined, undefined],
    ]);
    expect(checkLinearizable(h).verdict).toBe('linearizable');
  });

  it('shows a write in flight as an unknown outcome until it returns', async () => {
    const endpoint = await server('etcd');
    const recorder = new HistoryRecorder();
    const c = recorder.client('c1', rpc(endpoint));
    const put = c.put('in-flight', 'v');
    const read = c.get('in-flight');
    expect(recorder.history()).toEqual([
      expect.objectContaining({ type: 'put', return: undefined, output: undefined }),
    ]);
    const { revision } = await put;
    await read;
    expect(recorder.history()[0]).toMatchObject({ type: 'put', output: { revision } });
    expect(recorder.history()).toHaveLength(2);
  });
});
