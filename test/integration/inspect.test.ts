// --inspect on real members: the Raft role actor and its election reach the inspector,
// whether the member streams to a URL or serves /inspect itself, and nothing that reaches it
// carries log entries or grows with the data written.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import type { ServerInstance } from '../helpers/etcd.js';
import {
  inspectionSink,
  oversized,
  readInspect,
  until,
  upgradeStatus,
  type InspectStream,
} from '../helpers/inspectStream.js';
import { httpGet } from '../helpers/probes.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { makeTestPki } from '../helpers/tls.js';
import { startXetcd } from '../helpers/xetcd.js';

const FOLLOWER = '{"following":"follower"}';
const LEADER = '"leader"';

/** Puts through the member's gateway: 4 KiB values, so entries would show if they leaked. */
async function putValues(endpoint: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${endpoint}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({
        key: Buffer.from(`inspect/${i}`).toString('base64'),
        value: Buffer.alloc(4096, i).toString('base64'),
      }),
    });
    expect(res.status).toBe(200);
  }
}

/** Raft messages the stream shows (as their headers), by type. */
const raftMessages = (stream: InspectStream, type: string): Record<string, unknown>[] =>
  stream
    .parsed()
    .flatMap((m) => (m.type === '@xstate.event' && m.event?.m?.type === type ? [m.event.m] : []));

describe('--inspect ws://... (one member)', () => {
  let dir: TempDir;
  let sink: Awaited<ReturnType<typeof inspectionSink>>;
  let server: ServerInstance;
  beforeAll(async () => {
    dir = await makeTempDir('xetcd-inspect-url-');
    sink = await inspectionSink();
    server = await startXetcd({ dataDir: join(dir.path, 'data'), args: ['--inspect', sink.url] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await sink?.close();
    await dir?.remove();
  });

  it('shows the Raft role actor with its chart, and its election from follower to leader', async () => {
    await until('a leader in the stream', () => sink.streams[0]?.statesOf('raft').includes(LEADER) === true);
    const stream = sink.streams[0]!;
    const actor = stream.parsed().find((m) => m.type === '@xstate.actor' && m.name === 'raft')!;
    expect(JSON.parse(actor.definition!)).toMatchObject({ id: 'raft', initial: 'following' });
    const states = stream.statesOf('raft');
    expect(states[0]).toBe(FOLLOWER);
    expect(states.at(-1)).toBe(LEADER);
    const leader = stream.parsed().findLast((m) => m.sessionId === actor.sessionId && m.snapshot);
    expect(leader!.snapshot!.context).toMatchObject({
      raft: { term: expect.any(Number), commit: expect.any(Number) },
    });
    // The member's other charts are there too.
    for (const name of ['memberLifecycle', 'serverParts']) expect(stream.sessionOf(name)).toBeDefined();
  });

  it('shows proposals by their header only, and no message carries entries', async () => {
    await putValues(server.endpoint, 20);
    const stream = sink.streams[0]!;
    await until('the proposals in the stream', () => raftMessages(stream, 'MsgProp').length >= 20);
    expect(raftMessages(stream, 'MsgProp')[0]).toMatchObject({ entryCount: 1, term: expect.any(Number) });
    expect(oversized(stream)).toEqual([]);
  });
});

describe('--inspect ws://... (three members over NATS)', () => {
  let sink: Awaited<ReturnType<typeof inspectionSink>>;
  let cluster: TestCluster;
  beforeAll(async () => {
    sink = await inspectionSink();
    cluster = await TestCluster.start({ size: 3, args: ['--inspect', sink.url] });
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
    await sink?.close();
  });

  it('each member streams its own election: one campaigns and leads, the others follow it', async () => {
    await until('three members streaming', () => sink.streams.length === 3);
    await until('the leader in a stream', () =>
      sink.streams.some((s) => s.statesOf('raft').includes(LEADER)),
    );
    const leading = sink.streams.filter((s) => s.statesOf('raft').at(-1) === LEADER);
    expect(leading).toHaveLength(1);
    const states = leading[0]!.statesOf('raft');
    expect(states[0]).toBe(FOLLOWER);
    // A real campaign: the chart passed through candidate (pre-candidate first with --pre-vote).
    expect(states).toContain('{"campaigning":"candidate"}');
    for (const other of sink.streams.filter((s) => s !== leading[0]))
      expect(other.statesOf('raft').at(-1)).toBe(FOLLOWER);
  });

  it("followers see the leader's appends as headers with an entry count, never the entries", async () => {
    const leader = await cluster.waitForLeader();
    await putValues(leader.endpoint, 10);
    const followers = sink.streams.filter((s) => s.statesOf('raft').at(-1) === FOLLOWER);
    await until('appends with entries at the followers', () =>
      followers.every((s) => raftMessages(s, 'MsgApp').some((m) => (m.entryCount as number) > 0)),
    );
    for (const s of sink.streams) expect(oversized(s)).toEqual([]);
  });
});

describe('bare --inspect: the member serves /inspect', () => {
  let dir: TempDir;
  let server: ServerInstance;
  beforeAll(async () => {
    dir = await makeTempDir('xetcd-inspect-serve-');
    server = await startXetcd({ dataDir: join(dir.path, 'data'), args: ['--inspect'] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it('a new client gets the actors with their charts, then their latest snapshots, then live events', async () => {
    const client = await readInspect(server.endpoint);
    try {
      await until('the Raft actor', () => client.stream.sessionOf('raft') !== undefined);
      const first = client.stream.parsed();
      const actors = first.findIndex((m) => m.type !== '@xstate.actor');
      expect(first.slice(0, actors === -1 ? undefined : actors).map((m) => m.name)).toEqual(
        expect.arrayContaining(['memberLifecycle', 'raft', 'serverParts']),
      );
      expect(first.find((m) => m.name === 'raft')!.definition).toContain('"id":"raft"');
      await until('the latest Raft state', () => client.stream.statesOf('raft').at(-1) === LEADER);

      await putValues(server.endpoint, 10);
      await until('live proposals', () => raftMessages(client.stream, 'MsgProp').length >= 10);
      expect(oversized(client.stream)).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('a plain GET of /inspect is the page that shows the stream in Stately’s inspector', async () => {
    const page = await httpGet(`${server.endpoint}/inspect`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('https://stately.ai/inspect');
    expect(page.body).toContain('@statelyai.connected');
  });

  it('other paths take no WebSocket', async () => {
    const res = await upgradeStatus(`${server.endpoint}/elsewhere`);
    expect(res).toBe(404);
  });

  it('the member stops at once with a client attached, closing it', async () => {
    const client = await readInspect(server.endpoint);
    const started = Date.now();
    expect((await server.process.stop()).code).toBe(0);
    expect(await client.closed).toBeGreaterThan(0);
    // The client port's drain waits for requests, not for inspection clients.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('bare --inspect over TLS', () => {
  let dir: TempDir;
  let server: ServerInstance;
  let caFile: string;
  beforeAll(async () => {
    dir = await makeTempDir('xetcd-inspect-tls-');
    const pki = await makeTestPki(dir.path);
    caFile = pki.caFile;
    server = await startXetcd({
      dataDir: join(dir.path, 'data'),
      args: ['--inspect'],
      tls: { pki, clientCertAuth: false },
    });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it('serves wss:// on the https client port', async () => {
    expect(server.endpoint).toMatch(/^https:/);
    const client = await readInspect(server.endpoint, caFile);
    try {
      await until(
        'the Raft actor at its latest state',
        () => client.stream.statesOf('raft').at(-1) === LEADER,
      );
    } finally {
      client.close();
    }
  });
});
