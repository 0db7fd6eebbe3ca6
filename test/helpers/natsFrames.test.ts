import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NatsFrameSplitter, type NatsFrame } from './natsFrames.js';

/** A message frame: `line` gets the payload's size appended, as the protocol writes it. */
function msg(line: string, payload: string, headerBytes?: number): string {
  const sizes = headerBytes === undefined ? `${payload.length}` : `${headerBytes} ${payload.length}`;
  return `${line} ${sizes}\r\n${payload}\r\n`;
}

// A stream with every kind of frame, payloads that look like protocol lines, a header
// block, an empty payload, lower-case ops and a bare-LF line.
const frames = [
  'INFO {"server_id":"x","max_payload":1048576}\r\n',
  'CONNECT {"verbose":false,"headers":true}\r\n',
  'PING\r\n',
  'PONG\r\n',
  'SUB raft.1  7\r\n',
  msg('PUB raft.1', 'PUB x 3\r\nabc'),
  msg('PUB raft.1 _INBOX.a', ''),
  msg('HPUB raft.2', 'NATS/1.0\r\nK: v\r\n\r\nhello', 18),
  msg('MSG raft.1 7', '\r\n\r\n.'),
  msg('HMSG raft.1 7 _INBOX.b', 'NATS/1.0\r\n\r\nhi', 12),
  msg('msg raft.1\t7', 'ok'),
  '+OK\n',
  "-ERR 'Unknown Protocol Operation'\r\n",
  'UNSUB 7\r\n',
];
const stream = Buffer.from(frames.join(''), 'latin1');

function split(chunks: Buffer[]): NatsFrame[] {
  const s = new NatsFrameSplitter();
  const out = chunks.flatMap((c) => s.push(c));
  expect(s.buffered).toBe(0);
  return out;
}

describe('NatsFrameSplitter', () => {
  it('finds every frame, its op and whether it carries a message', () => {
    const out = split([stream]);
    expect(out.map((f) => f.bytes.toString('latin1'))).toEqual(frames);
    expect(out.map((f) => f.op)).toEqual([
      'INFO',
      'CONNECT',
      'PING',
      'PONG',
      'SUB',
      'PUB',
      'PUB',
      'HPUB',
      'MSG',
      'HMSG',
      'MSG',
      '+OK',
      '-ERR',
      'UNSUB',
    ]);
    expect(out.filter((f) => f.isMessage)).toHaveLength(6);
  });

  it('gives the same frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }),
        (cuts) => {
          const at = [0, ...cuts.sort((a, b) => a - b), stream.length];
          const chunks = at.slice(1).map((end, i) => stream.subarray(at[i], end));
          expect(Buffer.concat(split(chunks).map((f) => f.bytes)).equals(stream)).toBe(true);
          expect(split(chunks).map((f) => f.op)).toEqual(split([stream]).map((f) => f.op));
        },
      ),
    );
  });

  it('holds back an incomplete frame until its payload is whole', () => {
    const s = new NatsFrameSplitter();
    expect(s.push(Buffer.from('PUB a 10\r\n0123'))).toEqual([]);
    expect(s.buffered).toBe(14);
    const [f] = s.push(Buffer.from('456789\r\nPI'));
    expect(f?.bytes.toString()).toBe('PUB a 10\r\n0123456789\r\n');
    expect(s.buffered).toBe(2);
    expect(s.push(Buffer.from('NG\r\n')).map((x) => x.op)).toEqual(['PING']);
  });
});
