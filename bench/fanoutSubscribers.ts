// One subscriber process of bench/fanout.ts: n subscribers of one road on one
// prefix, each event's latency taken from the send time the writer put in the
// value. Talks to its parent over IPC: 'ready' once subscribed, then, told how
// many events to expect, its latencies once it has them (or after a deadline).
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EtcdRpcClient, type WatchStream } from '../test/helpers/etcdRpc.js';
import { Event } from '../src/proto/mvccpb.js';
import { prefixSubscription } from '../src/natswatch/subjects.js';

export interface SubscriberSetup {
  readonly road: 'nats' | 'grpc';
  /** nats: the NATS URL; grpc: the client endpoint. */
  readonly address: string;
  readonly clusterId: string;
  readonly prefix: string;
  readonly subscribers: number;
  readonly conns: number;
}

export type ToSubscriber = { type: 'expect'; events: number; deadlineMs: number };
export type FromSubscriber =
  | { type: 'ready' }
  /** lastAt: when the last event came, in ms since the epoch. */
  | { type: 'result'; latencies: Float64Array; lastAt: number };

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** The value starts with the put's send time, in ms since the epoch (fractional). */
export const sendTimeValue = (): Buffer =>
  Buffer.from(`${(performance.timeOrigin + performance.now()).toFixed(3)};`);

const latencies: number[] = [];
let lastAt = 0;
function receive(value: Uint8Array | undefined): void {
  if (value === undefined) return;
  const text = Buffer.from(value).toString('latin1', 0, 24);
  const sent = Number(text.slice(0, text.indexOf(';')));
  if (!(sent > 0)) return;
  lastAt = performance.timeOrigin + performance.now();
  latencies.push(lastAt - sent);
}

async function subscribe(setup: SubscriberSetup): Promise<() => Promise<void>> {
  if (setup.road === 'nats') {
    const ncs: NatsConnection[] = [];
    for (let c = 0; c < Math.min(setup.conns, setup.subscribers); c++)
      ncs.push(await connect({ servers: setup.address }));
    const subject = prefixSubscription(setup.clusterId, enc(setup.prefix)).subject;
    for (let s = 0; s < setup.subscribers; s++) {
      ncs[s % ncs.length]!.subscribe(subject, {
        callback: (err, msg) => {
          if (err === null) receive(Event.decode(msg.data).kv?.value);
        },
      });
    }
    await Promise.all(ncs.map((nc) => nc.flush()));
    return async () => void (await Promise.all(ncs.map((nc) => nc.close())));
  }
  const clients = Array.from(
    { length: Math.min(setup.conns, setup.subscribers) },
    () => new EtcdRpcClient(setup.address),
  );
  const streams: WatchStream[] = clients.map((c) => c.watch());
  let created = 0;
  const allCreated = new Promise<void>((resolve) => {
    for (const s of streams) {
      s.onResponse((res) => {
        if (res.created && ++created === setup.subscribers) resolve();
        for (const ev of res.events) receive(ev.kv?.value);
      });
    }
  });
  const rangeEnd = enc(setup.prefix);
  rangeEnd[rangeEnd.length - 1]!++;
  for (let w = 0; w < setup.subscribers; w++)
    streams[w % streams.length]!.create({ key: enc(setup.prefix), rangeEnd });
  await allCreated;
  return async () => {
    streams.forEach((s) => s.close());
    clients.forEach((c) => c.close());
  };
}

if (process.send !== undefined) {
  const send = (m: FromSubscriber): void => void process.send!(m);
  const setup = JSON.parse(process.argv[2]!) as SubscriberSetup;
  const close = await subscribe(setup);
  send({ type: 'ready' });
  process.on('message', (m: ToSubscriber) => {
    const deadline = performance.now() + m.deadlineMs;
    const check = (): void => {
      if (latencies.length < m.events && performance.now() < deadline) {
        setTimeout(check, 20);
        return;
      }
      send({ type: 'result', latencies: Float64Array.from(latencies), lastAt });
      // The parent ends this process once it has the result: leaving first could lose the message.
      void close();
    };
    check();
  });
}
