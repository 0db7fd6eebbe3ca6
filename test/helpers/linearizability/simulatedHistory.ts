// Histories of a linearizable etcd KV, simulated: each operation takes effect at a random
// point of its span, and outputs come from replaying those effects in order. Known good
// input for the checker's tests and for measuring its speed.
import { Rng } from '../../../src/raft/rng.js';
import type { KvOperation } from './history.js';

/** etcd's KV, forward only: the oracle that gives generated operations their outputs. */
export class ReferenceKv {
  revision = 1;
  private keys = new Map<string, { value: string; modRevision: number }>();

  clone(): ReferenceKv {
    const copy = new ReferenceKv();
    copy.revision = this.revision;
    copy.keys = new Map(this.keys);
    return copy;
  }

  run(op: KvOperation): KvOperation['output'] {
    const cur = this.keys.get(op.input.key);
    switch (op.type) {
      case 'put':
        this.keys.set(op.input.key, { value: op.input.value, modRevision: ++this.revision });
        return { revision: this.revision };
      case 'get':
        return { value: cur?.value, modRevision: cur?.modRevision ?? 0, revision: this.revision };
      case 'delete':
        if (cur !== undefined) {
          this.keys.delete(op.input.key);
          this.revision++;
        }
        return { deleted: cur === undefined ? 0 : 1, revision: this.revision };
      case 'putIf': {
        const succeeded = (cur?.modRevision ?? 0) === op.input.modRevision;
        if (succeeded) this.keys.set(op.input.key, { value: op.input.value, modRevision: ++this.revision });
        return { succeeded, revision: this.revision };
      }
    }
  }
}

/** An operation without its output, with a point in [call, return] where it takes effect. */
interface Planned {
  readonly op: KvOperation;
  readonly at: number;
  /** Unknown outcome: whether it took effect at `at` anyway. */
  readonly unknown?: { readonly applied: boolean };
}

function randomInput(
  rng: Rng,
  keys: number,
  n: number,
  client: string,
  call: number,
  ret: number,
): KvOperation {
  const key = `k${rng.int(keys)}`;
  const value = `${client}-${n}`;
  const base = { client, call, return: ret, output: undefined };
  const kind = rng.weighted({ put: 4, get: 4, delete: 1, putIf: 1 });
  if (kind === 'put') return { ...base, type: 'put', input: { key, value } };
  if (kind === 'get') return { ...base, type: 'get', input: { key } };
  if (kind === 'delete') return { ...base, type: 'delete', input: { key } };
  return {
    ...base,
    type: 'putIf',
    input: { key, value, modRevision: rng.int(4) === 0 ? 0 : rng.int(n + 2) },
  };
}

export interface Simulation {
  readonly seed: number;
  /** Sequential clients, each calling its next operation soon after the last returned. */
  readonly clients: number;
  readonly perClient: number;
  /** Operations pick one of `keys` keys; every write's value is unique. */
  readonly keys: number;
  /**
   * The share of writes whose outcome is unknown: each takes effect or not (even chance),
   * maybe after its client has moved on.
   */
  readonly unknownRate: number;
}

export function simulateHistory({ seed, clients, perClient, keys, unknownRate }: Simulation): KvOperation[] {
  const rng = new Rng(seed);
  const planned: Planned[] = [];
  for (let c = 0; c < clients; c++) {
    let t = rng.next() * 5;
    for (let j = 0; j < perClient; j++) {
      const call = t;
      const ret = call + 0.1 + rng.next() * 10;
      const op = randomInput(rng, keys, j, `c${c}`, call, ret);
      const unknown = op.type !== 'get' && rng.chance(unknownRate);
      const at = unknown ? call + rng.next() * 30 : call + rng.next() * (ret - call);
      planned.push(unknown ? { op, at, unknown: { applied: rng.chance(0.5) } } : { op, at });
      t = ret + rng.next() * 3;
    }
  }
  const kv = new ReferenceKv();
  const outputs = new Map<KvOperation, KvOperation['output']>();
  for (const p of [...planned].sort((a, b) => a.at - b.at))
    if (p.unknown?.applied !== false) outputs.set(p.op, kv.run(p.op));
  return planned.map(({ op, unknown }) =>
    unknown
      ? { ...op, return: undefined, output: undefined }
      : ({ ...op, output: outputs.get(op) } as KvOperation),
  );
}
