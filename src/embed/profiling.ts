// --enable-pprof: etcd serves Go's pprof under /debug/pprof/ on the client
// URL; a Node process has V8's profilers instead, reached through the
// inspector protocol in-process. The answers are V8's JSON formats (open a
// .cpuprofile or .heapprofile in Chrome DevTools or speedscope), not pprof's
// protobuf, but the paths an operator types are etcd's.
import { Session } from 'node:inspector';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRoutes } from '../api/http.js';

/** Go's pprof default and a cap, so a request cannot keep the profiler on for long. */
const DEFAULT_CPU_SECONDS = 30;
const MAX_CPU_SECONDS = 300;

const INDEX = `/debug/pprof/

profile?seconds=N  CPU profile over N seconds (default ${DEFAULT_CPU_SECONDS}), V8 .cpuprofile JSON
heap               sampled heap allocations since start, V8 .heapprofile JSON
`;

export class Profiler {
  private readonly session = new Session();
  private cpuBusy = false;

  private post(method: string, params: object = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.session.post(method, params, (err, result) => (err !== null ? reject(err) : resolve(result)));
    });
  }

  /** Connects and starts heap sampling, so /heap has allocations to show. */
  async start(): Promise<void> {
    this.session.connect();
    await this.post('HeapProfiler.enable');
    await this.post('HeapProfiler.startSampling');
  }

  stop(): void {
    this.session.disconnect();
  }

  mount(routes: HttpRoutes): void {
    routes.prefix('/debug/pprof/', (req, res, url) => this.serve(req, res, url));
  }

  private async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const what = url.pathname.slice('/debug/pprof/'.length);
    if (req.method !== 'GET') return plain(res, 405, 'Method Not Allowed\n');
    if (what === '') return plain(res, 200, INDEX);
    if (what === 'heap') {
      const { profile } = (await this.post('HeapProfiler.getSamplingProfile')) as { profile: unknown };
      return json(res, profile, 'heap.heapprofile');
    }
    if (what === 'profile') {
      const seconds = Number(url.searchParams.get('seconds') ?? DEFAULT_CPU_SECONDS);
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_CPU_SECONDS)
        return plain(res, 400, `seconds must be between 0 and ${MAX_CPU_SECONDS}\n`);
      // V8 has one CPU profiler per isolate: a second request would stop the first one's profile.
      if (this.cpuBusy) return plain(res, 409, 'a CPU profile is already being taken\n');
      this.cpuBusy = true;
      try {
        await this.post('Profiler.enable');
        await this.post('Profiler.start');
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        const { profile } = (await this.post('Profiler.stop')) as { profile: unknown };
        await this.post('Profiler.disable');
        return json(res, profile, 'cpu.cpuprofile');
      } finally {
        this.cpuBusy = false;
      }
    }
    return plain(res, 404, '404 page not found\n');
  }
}

function plain(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function json(res: ServerResponse, value: unknown, filename: string): void {
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Content-Disposition': `attachment; filename="${filename}"`,
  });
  res.end(JSON.stringify(value));
}
