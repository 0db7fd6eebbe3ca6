// Readiness probes for startProcess: a port accepting connections, a log line, an HTTP URL
// answering 200, or any of several (xetcd is ready when /health or a gRPC Range answers).
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import type { ReadinessProbe } from './process.js';
import { isPortOpen } from './ports.js';

export function portOpen(port: number): ReadinessProbe {
  return () => isPortOpen(port);
}

export function logLine(pattern: RegExp): ReadinessProbe {
  return async (proc) => pattern.test(proc.output());
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

export function httpGet(url: string, timeoutMs = 1_000): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export function httpOk(url: string): ReadinessProbe {
  return async () => {
    const res = await httpGet(url);
    return res.status === 200;
  };
}

/** Ready once every probe says so (probed in order; a probe that throws is not ready). */
export function allOf(...probes: ReadinessProbe[]): ReadinessProbe {
  return async (proc) => {
    for (const p of probes) {
      try {
        if (!(await p(proc))) return false;
      } catch {
        return false;
      }
    }
    return true;
  };
}

export function anyOf(...probes: ReadinessProbe[]): ReadinessProbe {
  return async (proc) => {
    for (const p of probes) {
      try {
        if (await p(proc)) return true;
      } catch {
        // try the next one
      }
    }
    return false;
  };
}

export interface HttpsClientFiles {
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** GET over TLS, trusting only `files.caFile`, presenting a client certificate when given. */
export function httpsGet(url: string, files: HttpsClientFiles, timeoutMs = 1_000): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'GET',
        timeout: timeoutMs,
        ca: readFileSync(files.caFile),
        ...(files.certFile ? { cert: readFileSync(files.certFile) } : {}),
        ...(files.keyFile ? { key: readFileSync(files.keyFile) } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export function httpsOk(url: string, files: HttpsClientFiles): ReadinessProbe {
  return async () => (await httpsGet(url, files)).status === 200;
}
