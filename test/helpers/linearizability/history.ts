// A history: the operations clients made against etcd's KV, each with the times it was
// called and returned (milliseconds on one clock) and what it returned. An operation whose
// outcome is unknown (a timeout, a lost connection) has neither a return time nor an output:
// it may have taken effect at any moment after its call, or never.

export type Time = number;

interface Call<T extends string, I, O> {
  readonly type: T;
  /** Who made the call: only for explanations; the check does not need clients to be sequential. */
  readonly client: string;
  readonly call: Time;
  /** undefined: the outcome is unknown (and then `output` is undefined too). */
  readonly return: Time | undefined;
  readonly input: I;
  readonly output: O | undefined;
}

/** Put: the header revision of the answer is the revision the put created. */
export type PutOperation = Call<
  'put',
  { readonly key: string; readonly value: string },
  { readonly revision: number }
>;

/** A linearizable get of one key: its value and mod revision (0 when absent) and the header revision. */
export type GetOperation = Call<
  'get',
  { readonly key: string },
  { readonly revision: number; readonly value: string | undefined; readonly modRevision: number }
>;

/** Delete of one key: how many keys it deleted (0 or 1) and the header revision. */
export type DeleteOperation = Call<
  'delete',
  { readonly key: string },
  { readonly revision: number; readonly deleted: number }
>;

/** A Txn: if mod_revision(key) == modRevision (0: the key is absent) then put, else nothing. */
export type PutIfOperation = Call<
  'putIf',
  { readonly key: string; readonly value: string; readonly modRevision: number },
  { readonly revision: number; readonly succeeded: boolean }
>;

export type KvOperation = PutOperation | GetOperation | DeleteOperation | PutIfOperation;

export function isUnknown(op: KvOperation): boolean {
  return op.output === undefined;
}

function quote(s: string): string {
  return JSON.stringify(s);
}

function describeCall(op: KvOperation): string {
  switch (op.type) {
    case 'put':
      return `put(${quote(op.input.key)}, ${quote(op.input.value)})`;
    case 'get':
      return `get(${quote(op.input.key)})`;
    case 'delete':
      return `delete(${quote(op.input.key)})`;
    case 'putIf':
      return `putIf(${quote(op.input.key)}, ${quote(op.input.value)}, mod == ${op.input.modRevision})`;
  }
}

function describeOutput(op: KvOperation): string {
  if (op.output === undefined) return '? (unknown outcome)';
  switch (op.type) {
    case 'put':
      return `rev ${op.output.revision}`;
    case 'get': {
      const o = op.output;
      const kv = o.value === undefined ? 'absent' : `${quote(o.value)} (mod ${o.modRevision})`;
      return `${kv} @ rev ${o.revision}`;
    }
    case 'delete':
      return `deleted ${op.output.deleted} @ rev ${op.output.revision}`;
    case 'putIf':
      return `${op.output.succeeded ? 'succeeded' : 'failed'} @ rev ${op.output.revision}`;
  }
}

/** One line per operation, as explanations print it: `#12 c3 put("k", "v") → rev 14  [10.2 … 11.9 ms]`. */
export function describeOperation(op: KvOperation, index: number): string {
  const end = op.return === undefined ? '?' : op.return.toFixed(1);
  return `#${index} ${op.client} ${describeCall(op)} → ${describeOutput(op)}  [${op.call.toFixed(1)} … ${end} ms]`;
}
