import hpack from 'hpack.js';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  ClientFrameRewriter,
  hasSchemeInAuthority,
  routeH2Connection,
} from '../../../src/api/h2Authority.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

function compress(enc: ReturnType<typeof hpack.compressor.create>, headers: Array<[string, string]>): Buffer {
  enc.write(headers.map(([name, value]) => ({ name, value, huffman: true })));
  const parts: Buffer[] = [];
  for (let b = enc.read(); b; b = enc.read()) parts.push(b);
  return Buffer.concat(parts);
}

/** Splits the rewriter's output into frames and decodes every header block with a fresh server-side decoder. */
function serverView(bytes: Buffer): { blocks: Array<Record<string, string>>; others: number[] } {
  const dec = hpack.decompressor.create({ table: { size: 4096 } });
  let at = PREFACE.length;
  const blocks: Array<Record<string, string>> = [];
  const others: number[] = [];
  let pending: Buffer[] = [];
  while (at < bytes.length) {
    const len = bytes.readUIntBE(at, 3);
    const type = bytes[at + 3]!;
    const flags = bytes[at + 4]!;
    const payload = bytes.subarray(at + 9, at + 9 + len);
    at += 9 + len;
    if (type === 1 || type === 9) {
      pending.push(payload);
      if (flags & 4) {
        dec.write(Buffer.concat(pending));
        dec.execute();
        const h: Record<string, string> = {};
        for (let x = dec.read(); x; x = dec.read()) h[x.name] = x.value;
        blocks.push(h);
        pending = [];
      }
    } else others.push(type);
  }
  return { blocks, others };
}

describe('HTTP/2 :authority rewriting', () => {
  it('recognizes an authority with a scheme', () => {
    expect(hasSchemeInAuthority('http://127.0.0.1:2379')).toBe(true);
    expect(hasSchemeInAuthority('127.0.0.1:2379')).toBe(false);
    expect(hasSchemeInAuthority(undefined)).toBe(false);
  });

  it('strips the scheme from every request and keeps the other headers and frames', () => {
    const enc = hpack.compressor.create({ table: { size: 4096 } });
    const request = (path: string): Array<[string, string]> => [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'http://127.0.0.1:2379'],
      ['content-type', 'application/grpc'],
    ];
    const input = Buffer.concat([
      PREFACE,
      frame(4, 0, 0, Buffer.alloc(0)),
      frame(1, 4, 1, compress(enc, request('/etcdserverpb.Maintenance/Status'))),
      frame(0, 1, 1, Buffer.from('data')),
      // The second request uses the client's dynamic table entries from the first.
      frame(1, 4, 3, compress(enc, request('/etcdserverpb.KV/Range'))),
    ]);
    const rewriter = new ClientFrameRewriter(true);
    // Byte by byte: frames split across reads must be reassembled.
    const out = Buffer.concat([...input].map((b) => rewriter.transform(Buffer.of(b))));
    const { blocks, others } = serverView(out);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatchObject({
      ':authority': '127.0.0.1:2379',
      ':path': '/etcdserverpb.Maintenance/Status',
    });
    expect(blocks[1]).toMatchObject({
      ':authority': '127.0.0.1:2379',
      ':path': '/etcdserverpb.KV/Range',
      'content-type': 'application/grpc',
    });
    expect(others).toEqual([4, 0]);
  });

  it('reassembles a header block split over CONTINUATION frames', () => {
    const enc = hpack.compressor.create({ table: { size: 4096 } });
    const block = compress(enc, [
      [':path', '/x'],
      [':authority', 'https://example:1'],
      ['x-long', 'v'.repeat(40_000)],
    ]);
    const input = Buffer.concat([
      PREFACE,
      frame(1, 1, 1, block.subarray(0, 10)),
      frame(9, 0, 1, block.subarray(10, 20_000)),
      frame(9, 4, 1, block.subarray(20_000)),
    ]);
    const out = new ClientFrameRewriter(true).transform(input);
    const { blocks } = serverView(out);
    expect(blocks[0]![':authority']).toBe('example:1');
    expect(blocks[0]!['x-long']).toHaveLength(40_000);
  });

  it('passes bytes through unchanged when only probing, except the probe’s SETTINGS ACK', () => {
    const enc = hpack.compressor.create({ table: { size: 4096 } });
    const headers = frame(1, 4, 1, compress(enc, [[':authority', 'localhost:2379']]));
    const input = Buffer.concat([PREFACE, frame(4, 1, 0, Buffer.alloc(0)), headers]);
    const probe = new ClientFrameRewriter(false, { dropFirstSettingsAck: true });
    const out = probe.transform(input);
    expect(out.equals(Buffer.concat([PREFACE, headers]))).toBe(true);
    expect(probe.firstAuthority).toBe('localhost:2379');
  });

  it('drops the probe’s SETTINGS ACK also when the client sends it after its first request', () => {
    const enc = hpack.compressor.create({ table: { size: 4096 } });
    const headers = frame(1, 4, 1, compress(enc, [[':authority', 'localhost:2379']]));
    const ack = frame(4, 1, 0, Buffer.alloc(0));
    const probe = new ClientFrameRewriter(false, { dropFirstSettingsAck: true });
    const first = probe.transform(Buffer.concat([PREFACE, headers]));
    expect(probe.sawFirstBlock).toBe(true);
    expect(probe.settingsAckDropped).toBe(false);
    const second = probe.transform(Buffer.concat([ack, ack]));
    expect(probe.settingsAckDropped).toBe(true);
    // Only the first ACK was the probe's; a later one belongs to the server's own SETTINGS.
    expect(Buffer.concat([first, second]).equals(Buffer.concat([PREFACE, headers, ack]))).toBe(true);
  });
});

/** A loopback connection: the client's end and the server's, as the listener would route it. */
async function loopbackPair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

async function readAll(socket: net.Socket, ms: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const onData = (c: Buffer): void => void chunks.push(c);
  socket.on('data', onData);
  socket.resume();
  await sleep(ms);
  socket.removeListener('data', onData);
  return Buffer.concat(chunks);
}

describe('handing an HTTP/2 connection over', () => {
  const timeouts = { firstRequestMs: 50, settingsAckMs: 2_000 };
  const ack = frame(4, 1, 0, Buffer.alloc(0));
  const clientSettings = frame(4, 0, 0, Buffer.alloc(0));

  it('waits for the probe’s SETTINGS ACK even past the first-request wait, and removes it', async () => {
    const pair = await loopbackPair();
    try {
      pair.client.write(Buffer.concat([PREFACE, clientSettings]));
      const routed = routeH2Connection(pair.server, timeouts);
      let handed = false;
      void routed.then(() => (handed = true));
      await sleep(3 * timeouts.firstRequestMs);
      expect(handed).toBe(false);
      pair.client.write(ack);
      const conn = await routed;
      expect(conn).toBe(pair.server);
      // What the HTTP/2 server reads: the client's bytes without the ACK it never asked for.
      expect((await readAll(pair.server, 50)).equals(Buffer.concat([PREFACE, clientSettings]))).toBe(true);
    } finally {
      pair.close();
    }
  });

  it('closes a connection that never acknowledges the probe’s SETTINGS', async () => {
    const pair = await loopbackPair();
    try {
      pair.client.write(Buffer.concat([PREFACE, clientSettings]));
      const conn = await routeH2Connection(pair.server, { firstRequestMs: 10, settingsAckMs: 100 });
      expect(conn).toBeUndefined();
      expect(pair.server.destroyed).toBe(true);
    } finally {
      pair.close();
    }
  });
});
