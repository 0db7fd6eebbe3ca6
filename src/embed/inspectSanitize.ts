// What an inspector may see of the member's actors: small facts, never the
// things they hold by reference. The Raft role machine's context is the whole
// RaftState (log, progress map, outbox), a STEP event carries a peer's message
// with its log entries or a snapshot, a promise actor's output may be anything:
// all of it is cut down here to JSON of bounded size before it is queued,
// buffered or sent, so inspection never copies the log and never keeps a
// reference to it alive.
import type { AnyEventObject, InspectionEvent, Snapshot } from 'xstate';
import { MessageType } from '../proto/raftpb.js';
import { hex } from '../raft/ids.js';

/** JSON that is small by construction. */
export type Fact = null | boolean | number | string | readonly Fact[] | { readonly [key: string]: Fact };
type FactObject = { [key: string]: Fact };

/** How deep objects are followed, how many keys and array items are kept, how long a string may be. */
const LIMITS = { depth: 3, keys: 24, items: 8, chars: 200 } as const;

function shortText(s: string): string {
  return s.length <= LIMITS.chars ? s : `${s.slice(0, LIMITS.chars - 1)}…`;
}

const isPrimitiveFact = (v: unknown): boolean =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number';

const className = (v: object): string => (v.constructor as { name?: string } | undefined)?.name ?? 'object';

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Any value as small facts: scalars as they are (bigints are member and lease
 * IDs, in hex as etcdctl shows them), long strings cut, a short list of
 * scalars as it is, plain objects followed to a fixed depth, anything with a
 * toJSON (RaftState, actor refs) by what it says of itself. Whatever is cut
 * off (bytes, longer lists, maps, deeper objects, other class instances)
 * becomes one line of text saying what and how big it was, so the result
 * cut down again is the same. Functions and undefined are left out.
 */
export function smallFacts(value: unknown, depth: number = LIMITS.depth): Fact | undefined {
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return hex(value);
    case 'string':
      return shortText(value);
    case 'object':
      return value === null ? null : objectFacts(value, depth);
  }
}

function objectFacts(value: object, depth: number): Fact {
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (value instanceof Error) return shortText(value.message);
  if (value instanceof Map || value instanceof Set) return `[${className(value)} of ${value.size}]`;
  if (Array.isArray(value)) {
    return value.length <= LIMITS.items && value.every(isPrimitiveFact)
      ? value.map((v: unknown) => smallFacts(v) ?? null)
      : `[${value.length} items]`;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return smallFacts(toJSON.call(value), depth) ?? null;
  if (!isPlainObject(value)) return `[${className(value)}]`;
  const keys = Object.keys(value);
  if (depth <= 0) return `{${keys.length} keys}`;
  const out: FactObject = {};
  for (const key of keys.slice(0, LIMITS.keys)) {
    const fact = smallFacts((value as Record<string, unknown>)[key], depth - 1);
    if (fact !== undefined) out[key] = fact;
  }
  if (keys.length > LIMITS.keys) out['…'] = `${keys.length - LIMITS.keys} more keys`;
  return out;
}

/** A context as small facts (an object, as inspectors expect a context to be). */
export function sanitizeContext(context: unknown): FactObject {
  const facts = smallFacts(context);
  if (facts !== null && typeof facts === 'object' && !Array.isArray(facts)) return facts as FactObject;
  return facts === undefined ? {} : { value: facts };
}

/** A Raft message as it travels in STEP events: its entries and snapshot are what must never be copied. */
interface RaftMessageLike {
  readonly type: number;
  readonly from: bigint;
  readonly to: bigint;
  readonly term: number;
  readonly index: number;
  readonly logTerm: number;
  readonly commit: number;
  readonly reject: boolean;
  readonly entries: readonly unknown[];
  readonly snapshot?: { readonly metadata?: { readonly index: number } };
}

function isRaftMessage(m: unknown): m is RaftMessageLike {
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { type?: unknown }).type === 'number' &&
    typeof (m as { from?: unknown }).from === 'bigint' &&
    Array.isArray((m as { entries?: unknown }).entries)
  );
}

/** A Raft message by its header: who, what, which term and index, how many entries. */
export function messageFacts(m: RaftMessageLike): FactObject {
  const facts: FactObject = {
    type: MessageType[m.type] ?? String(m.type),
    from: hex(m.from),
    to: hex(m.to),
    term: m.term,
    index: m.index,
    logTerm: m.logTerm,
    commit: m.commit,
    entryCount: m.entries.length,
  };
  if (m.reject) facts.reject = true;
  if (m.snapshot?.metadata !== undefined) facts.snapshotIndex = m.snapshot.metadata.index;
  return facts;
}

/** An event as small facts; a Raft message it carries (`m`) by its header only. */
export function sanitizeEvent(event: AnyEventObject): AnyEventObject {
  const { m, ...rest } = event as AnyEventObject & { m?: unknown };
  const facts = sanitizeContext(rest);
  if (m !== undefined) facts.m = isRaftMessage(m) ? messageFacts(m) : (smallFacts(m) ?? null);
  return { ...facts, type: shortText(event.type) };
}

/** What an inspector shows of a snapshot: its status, state, context and result, as small facts. */
export interface SnapshotFacts {
  readonly status: Snapshot<unknown>['status'];
  readonly value?: Fact;
  readonly context?: FactObject;
  readonly output?: Fact;
  readonly error?: Fact;
}

const STATUSES: readonly unknown[] = [
  'active',
  'done',
  'error',
  'stopped',
] satisfies Snapshot<unknown>['status'][];
const isStatus = (s: unknown): s is Snapshot<unknown>['status'] => STATUSES.includes(s);

export function sanitizeSnapshot(snapshot: unknown): SnapshotFacts {
  const s = (typeof snapshot === 'object' && snapshot !== null ? snapshot : {}) as Record<string, unknown>;
  const out: { -readonly [K in keyof SnapshotFacts]: SnapshotFacts[K] } = {
    status: isStatus(s.status) ? s.status : 'active',
  };
  // A state value is the chart's own names, nested as deep as the chart: kept whole.
  if (s.value !== undefined) out.value = smallFacts(s.value, Infinity) ?? null;
  if (s.context !== undefined) out.context = sanitizeContext(s.context);
  const output = smallFacts(s.output);
  if (output !== undefined) out.output = output;
  const error = smallFacts(s.error);
  if (error !== undefined) out.error = error;
  return out;
}

/**
 * An XState inspection event with its snapshot and event already cut down,
 * taken at the moment it happens: the Stately inspector converts events on a
 * later tick, by when the Raft state held by reference has moved on, and
 * stringifies a snapshot whole before its own sanitizers run. Transitions,
 * microsteps and actions, which the inspector drops anyway, give undefined.
 */
export function sanitizeInspectionEvent(event: InspectionEvent): InspectionEvent | undefined {
  switch (event.type) {
    case '@xstate.actor':
      return event;
    case '@xstate.event':
      return { ...event, event: sanitizeEvent(event.event) };
    case '@xstate.snapshot':
      return {
        ...event,
        event: sanitizeEvent(event.event),
        snapshot: sanitizeSnapshot(event.snapshot) as unknown as typeof event.snapshot,
      };
    case '@xstate.transition':
    case '@xstate.microstep':
    case '@xstate.action':
      return undefined;
  }
}
