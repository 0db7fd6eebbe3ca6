// One change as one NATS message: the body is the mvccpb.Event (with prev_kv),
// the headers say where it stands, so a consumer can order, de-duplicate and
// regroup a multi-key txn without decoding the body. Shared by the publisher,
// the replay service and the client.
import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { Event, Event_EventType } from '../proto/mvccpb.js';

export const HEADER = {
  /** The main revision of the change. */
  revision: 'Xetcd-Revision',
  modRevision: 'Xetcd-Mod-Revision',
  createRevision: 'Xetcd-Create-Revision',
  version: 'Xetcd-Version',
  /** Lease ID in decimal; 0 for none. */
  lease: 'Xetcd-Lease',
  /** PUT or DELETE. */
  event: 'Xetcd-Event',
  /** 'i of n': the event's place among the n events of its revision, from 1. */
  position: 'Xetcd-Position',
  /** What was left out of the body to fit NATS's max payload: 'prev_kv' or 'value,prev_kv'. */
  truncated: 'Xetcd-Truncated',
  /** On a replay answer: 'end' marks the last message (body xetcdpb.WatchReplayEnd). */
  replay: 'Xetcd-Replay',
} as const;

export interface EventMessage {
  readonly revision: number;
  /** 1-based. */
  readonly index: number;
  readonly count: number;
  readonly event: Event;
}

/** The body and headers of one event; the body drops prev_kv, then the value, to stay within maxPayload. */
export function encodeEventMessage(
  revision: number,
  index: number,
  count: number,
  event: Event,
  maxPayload: number,
): { body: Uint8Array; headers: MsgHdrs } {
  const h = headers();
  const kv = event.kv;
  h.set(HEADER.revision, String(revision));
  h.set(HEADER.modRevision, String(kv?.modRevision ?? revision));
  h.set(HEADER.createRevision, String(kv?.createRevision ?? 0));
  h.set(HEADER.version, String(kv?.version ?? 0));
  h.set(HEADER.lease, String(kv?.lease ?? 0n));
  h.set(HEADER.event, event.type === Event_EventType.DELETE ? 'DELETE' : 'PUT');
  h.set(HEADER.position, `${index} of ${count}`);
  // Room for the headers and the subject in the same limit.
  const room = maxPayload - 4096;
  let body = Event.encode(event);
  if (body.length > room && event.prevKv !== undefined) {
    body = Event.encode({ type: event.type, ...(kv !== undefined ? { kv } : {}) });
    h.set(HEADER.truncated, 'prev_kv');
  }
  if (body.length > room && kv !== undefined) {
    body = Event.encode({ type: event.type, kv: { ...kv, value: new Uint8Array(0) } });
    h.set(HEADER.truncated, 'value,prev_kv');
  }
  return { body, headers: h };
}

function wholeHeader(h: MsgHdrs, name: string, min: number): number {
  const text = h.get(name);
  if (!/^\d+$/.test(text)) throw new Error(`header ${name} is '${text}', not a whole number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`header ${name} is out of range (${text})`);
  return n;
}

/** Reads an event message; throws on one that is not (missing or bad headers, a body that is no Event). */
export function decodeEventMessage(msg: Pick<Msg, 'headers' | 'data'>): EventMessage {
  const h = msg.headers;
  if (h === undefined) throw new Error('an event message without headers');
  const revision = wholeHeader(h, HEADER.revision, 1);
  const position = /^(\d+) of (\d+)$/.exec(h.get(HEADER.position));
  if (position === null)
    throw new Error(`header ${HEADER.position} is '${h.get(HEADER.position)}', not 'i of n'`);
  const index = Number(position[1]);
  const count = Number(position[2]);
  if (index < 1 || index > count)
    throw new Error(`header ${HEADER.position} '${index} of ${count}' is out of range`);
  return { revision, index, count, event: Event.decode(msg.data) };
}
