// One change as a NATS message: the headers say where it stands, the body is
// the mvccpb.Event, and what does not fit the max payload is left out, saying so.
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { decodeEventMessage, encodeEventMessage, HEADER } from '../../../src/natswatch/eventMessages.js';
import { Event, Event_EventType, KeyValue } from '../../../src/proto/mvccpb.js';

const kv = (key: string, value: string | Uint8Array, rev: number): KeyValue =>
  KeyValue.create({
    key: new TextEncoder().encode(key),
    value: typeof value === 'string' ? new TextEncoder().encode(value) : value,
    createRevision: 3,
    modRevision: rev,
    version: 2,
    lease: 0x1234n,
  });

describe('event messages', () => {
  it('carry the revision, versions, lease, type and position in headers and the event in the body', () => {
    const event = Event.create({
      type: Event_EventType.PUT,
      kv: kv('a', 'new', 9),
      prevKv: kv('a', 'old', 5),
    });
    const m = encodeEventMessage(9, 2, 3, event, 1024 * 1024);
    expect(Object.fromEntries([...m.headers].map(([k, v]) => [k, v[0]]))).toEqual({
      [HEADER.revision]: '9',
      [HEADER.modRevision]: '9',
      [HEADER.createRevision]: '3',
      [HEADER.version]: '2',
      [HEADER.lease]: String(0x1234),
      [HEADER.event]: 'PUT',
      [HEADER.position]: '2 of 3',
    });
    expect(decodeEventMessage({ headers: m.headers, data: m.body })).toEqual({
      revision: 9,
      index: 2,
      count: 3,
      event,
    });
    const del = encodeEventMessage(
      10,
      1,
      1,
      Event.create({
        type: Event_EventType.DELETE,
        kv: KeyValue.create({ key: Buffer.from('a'), modRevision: 10 }),
      }),
      1024 * 1024,
    );
    expect(del.headers.get(HEADER.event)).toBe('DELETE');
    expect(del.headers.get(HEADER.version)).toBe('0');
  });

  it('leave out prev_kv, then the value, when the event is larger than the max payload', () => {
    const big = new Uint8Array(8000).fill(7);
    const event = Event.create({ type: Event_EventType.PUT, kv: kv('k', 'v', 4), prevKv: kv('k', big, 3) });
    const noPrev = encodeEventMessage(4, 1, 1, event, 4096 + 1000);
    expect(noPrev.headers.get(HEADER.truncated)).toBe('prev_kv');
    expect(Event.decode(noPrev.body).prevKv).toBeUndefined();
    const noValue = encodeEventMessage(4, 1, 1, { ...event, kv: kv('k', big, 4) }, 4096 + 1000);
    expect(noValue.headers.get(HEADER.truncated)).toBe('value,prev_kv');
    expect(Event.decode(noValue.body).kv!.value).toHaveLength(0);
  });

  it('refuse messages that are not events', () => {
    const h = headers();
    expect(() => decodeEventMessage({ headers: undefined, data: new Uint8Array() })).toThrow(
      /without headers/,
    );
    h.set(HEADER.revision, 'x');
    expect(() => decodeEventMessage({ headers: h, data: new Uint8Array() })).toThrow(/not a whole number/);
    h.set(HEADER.revision, '5');
    h.set(HEADER.position, '3 of 2');
    expect(() => decodeEventMessage({ headers: h, data: new Uint8Array() })).toThrow(/out of range/);
  });
});
