// The steady load a fault case runs under: several clients on several members, each
// a loop of puts, linearizable gets, deletes and compare-and-set txns on a handful of
// keys, every written value unique, every call recorded for the linearizability
// checker. A failed call is kept (a write as an unknown outcome) and the client backs
// off before its next one, so a member that is down or cut off adds a few unknown
// outcomes, not hundreds: the checker's search grows with them.
import { setTimeout as sleep } from 'node:timers/promises';
import { Rng } from '../../src/raft/rng.js';
import { EtcdRpcClient, type EtcdRpcOptions } from '../helpers/etcdRpc.js';
import type { KvOperation } from '../helpers/linearizability/history.js';
import { HistoryRecorder, type RecordingClient } from '../helpers/linearizability/recorder.js';

export interface LoadOptions {
  /** Every key of the load starts with it; a fresh prefix per case keeps the start state empty. */
  readonly prefix: string;
  readonly keys: number;
  /** Client endpoints; clients are spread over them round-robin. */
  readonly endpoints: readonly string[];
  readonly clients: number;
  /** Deadline of each call: past it the outcome of a write is unknown. */
  readonly deadlineMs: number;
  readonly seed: number;
}

/** grpc-js backs off up to 120 s between reconnects by default; a member restarted in a case is back in seconds. */
export const FAST_RECONNECT: EtcdRpcOptions = {
  channel: {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.min_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  },
};

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 800;

export interface LoadStats {
  readonly operations: number;
  /** Writes with a known outcome (including compare-and-set txns that did not put). */
  readonly acknowledgedWrites: number;
  readonly unknownWrites: number;
  readonly reads: number;
  readonly failedCalls: number;
}

interface LoadClient {
  readonly recording: RecordingClient;
  readonly rpc: EtcdRpcClient;
  readonly endpoint: string;
  failures: number;
}

export class Load {
  readonly recorder = new HistoryRecorder();
  readonly keys: readonly string[];
  readonly prefix: string;
  private readonly clients: LoadClient[];
  private running: Promise<void>[] = [];
  private stopped = false;
  private failedCalls = 0;

  constructor(private readonly options: LoadOptions) {
    this.prefix = options.prefix;
    this.keys = Array.from({ length: options.keys }, (_, i) => `${options.prefix}k${i}`);
    this.clients = Array.from({ length: options.clients }, (_, i) => {
      const endpoint = options.endpoints[i % options.endpoints.length]!;
      const rpc = new EtcdRpcClient(endpoint, FAST_RECONNECT);
      return {
        recording: this.recorder.client(`c${i}`, rpc, options.deadlineMs),
        rpc,
        endpoint,
        failures: 0,
      };
    });
  }

  start(): void {
    this.running = this.clients.map((c, i) => this.run(c, new Rng(this.options.seed * 1_000 + i)));
  }

  /** Stops issuing calls and waits for those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  close(): void {
    for (const c of this.clients) c.rpc.close();
  }

  /** A client of the load's recorder on `endpoint`, for reads a case or a check adds to the history. */
  recordingClient(
    name: string,
    endpoint: string,
    deadlineMs: number,
  ): { client: RecordingClient; close(): void } {
    const rpc = new EtcdRpcClient(endpoint, FAST_RECONNECT);
    return { client: this.recorder.client(name, rpc, deadlineMs), close: () => rpc.close() };
  }

  history(): KvOperation[] {
    return this.recorder.history();
  }

  /** The names (as the history shows them) of the load's clients on `endpoint`. */
  clientsOn(endpoint: string): string[] {
    return this.clients.filter((c) => c.endpoint === endpoint).map((c) => c.recording.name);
  }

  stats(): LoadStats {
    const h = this.history();
    const writes = h.filter((op) => op.type !== 'get');
    const unknownWrites = writes.filter((op) => op.output === undefined).length;
    return {
      operations: h.length,
      acknowledgedWrites: writes.length - unknownWrites,
      unknownWrites,
      reads: h.length - writes.length,
      failedCalls: this.failedCalls,
    };
  }

  private async run(c: LoadClient, rng: Rng): Promise<void> {
    const seen = new Map<string, number>();
    for (let i = 0; !this.stopped; i++) {
      const key = rng.pick(this.keys);
      const value = `${c.recording.name}-${i}`;
      try {
        switch (rng.weighted({ put: 4, get: 4, delete: 1, putIf: 1 })) {
          case 'put':
            await c.recording.put(key, value);
            break;
          case 'get':
            seen.set(key, (await c.recording.get(key)).modRevision);
            break;
          case 'delete':
            await c.recording.delete(key);
            break;
          case 'putIf':
            await c.recording.putIf(key, value, seen.get(key) ?? 0);
            break;
        }
        c.failures = 0;
      } catch {
        this.failedCalls++;
        c.failures++;
        await sleep(Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (c.failures - 1)));
      }
    }
  }
}
