// Records what clients do against etcd's KV as a history for the checker: each call's
// start and end on one monotonic clock, and what it returned. One gRPC request per call
// (EtcdRpcClient has no retries: a retried put could apply twice and make a revision no
// one recorded). A write that fails in any way (deadline, UNAVAILABLE, a lost leader) may
// still have been applied: it is kept with an unknown outcome. A read that fails observed
// nothing anyone can rely on: it is left out.
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  PutRequest,
} from '../../../src/proto/etcdserverpb.js';
import type { EtcdRpcClient } from '../etcdRpc.js';
import type { DeleteOperation, GetOperation, KvOperation, PutIfOperation, PutOperation } from './history.js';

type Output<Op extends KvOperation> = NonNullable<Op['output']>;

export class HistoryRecorder {
  /** One slot per call, in call order; undefined for a read that has not returned or failed. */
  private readonly slots: (KvOperation | undefined)[] = [];

  /** A client whose calls go through `rpc` (the caller closes it) and are recorded as `name`'s. */
  client(name: string, rpc: EtcdRpcClient, deadlineMs = 5_000): RecordingClient {
    return new RecordingClient(this, name, rpc, deadlineMs);
  }

  /** Every call so far: a write still in flight counts as an unknown outcome, a read in flight not at all. */
  history(): KvOperation[] {
    return this.slots.filter((op): op is KvOperation => op !== undefined);
  }

  /**
   * Runs one call: `make` builds its record for a return time and an output, or for an
   * unknown outcome (both undefined).
   */
  async record<O>(
    kind: 'read' | 'write',
    make: (call: number, ret: number | undefined, output: O | undefined) => KvOperation,
    run: () => Promise<O>,
  ): Promise<O> {
    const call = performance.now();
    const slot = this.slots.push(kind === 'write' ? make(call, undefined, undefined) : undefined) - 1;
    try {
      const output = await run();
      this.slots[slot] = make(call, performance.now(), output);
      return output;
    } catch (err) {
      if (kind === 'read') this.slots[slot] = undefined;
      throw err;
    }
  }
}

function bytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

function headerRevision(res: { header?: { revision: number } }): number {
  if (res.header === undefined) throw new Error('etcd answered without a response header');
  return res.header.revision;
}

/** The KV calls the checker's model knows, on one key each; every failure is rethrown after it is recorded. */
export class RecordingClient {
  constructor(
    private readonly recorder: HistoryRecorder,
    readonly name: string,
    private readonly rpc: EtcdRpcClient,
    private readonly deadlineMs: number,
  ) {}

  put(key: string, value: string): Promise<Output<PutOperation>> {
    return this.recorder.record(
      'write',
      (call, ret, output) => ({
        type: 'put',
        client: this.name,
        call,
        return: ret,
        input: { key, value },
        output,
      }),
      async () => ({
        revision: headerRevision(
          await this.rpc.put({ key: bytes(key), value: bytes(value) }, this.deadlineMs),
        ),
      }),
    );
  }

  /** A linearizable get (etcd's default). */
  get(key: string): Promise<Output<GetOperation>> {
    return this.recorder.record(
      'read',
      (call, ret, output) => ({ type: 'get', client: this.name, call, return: ret, input: { key }, output }),
      async () => {
        const res = await this.rpc.range({ key: bytes(key) }, this.deadlineMs);
        const kv = res.kvs[0];
        return {
          value: kv === undefined ? undefined : Buffer.from(kv.value).toString('utf8'),
          modRevision: kv?.modRevision ?? 0,
          revision: headerRevision(res),
        };
      },
    );
  }

  delete(key: string): Promise<Output<DeleteOperation>> {
    return this.recorder.record(
      'write',
      (call, ret, output) => ({
        type: 'delete',
        client: this.name,
        call,
        return: ret,
        input: { key },
        output,
      }),
      async () => {
        const res = await this.rpc.deleteRange({ key: bytes(key) }, this.deadlineMs);
        return { deleted: res.deleted, revision: headerRevision(res) };
      },
    );
  }

  /** A Txn: if mod_revision(key) == modRevision (0: absent) then put(key, value). */
  putIf(key: string, value: string, modRevision: number): Promise<Output<PutIfOperation>> {
    return this.recorder.record(
      'write',
      (call, ret, output) => ({
        type: 'putIf',
        client: this.name,
        call,
        return: ret,
        input: { key, value, modRevision },
        output,
      }),
      async () => {
        const res = await this.rpc.txn(
          {
            compare: [
              Compare.create({
                key: bytes(key),
                target: Compare_CompareTarget.MOD,
                result: Compare_CompareResult.EQUAL,
                modRevision,
              }),
            ],
            success: [{ requestPut: PutRequest.create({ key: bytes(key), value: bytes(value) }) }],
          },
          this.deadlineMs,
        );
        return { succeeded: res.succeeded, revision: headerRevision(res) };
      },
    );
  }
}
