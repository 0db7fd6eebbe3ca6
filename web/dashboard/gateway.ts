/**
 * The member's own JSON gateway (same origin) for the key browser: unary
 * calls, and a watch read as newline-delimited JSON from a streaming fetch.
 * With auth enabled, the token from /v3/auth/authenticate goes in the
 * Authorization header, as etcd's gateway reads it.
 */
import {
  GatewayError,
  LineSplitter,
  keyValueOf,
  prefixRange,
  toBase64,
  unaryError,
  watchMessage,
  type KeyValue,
  type WatchMessage,
} from './gatewayCodec.js';

export interface RangeAnswer {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
}

export class Gateway {
  token: string | undefined;

  private headers(): Record<string, string> {
    return {
      'Content-Type': 'application/json',
      ...(this.token !== undefined ? { Authorization: this.token } : {}),
    };
  }

  async call(path: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const res = await fetch(path, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify(body),
      signal: signal ?? null,
    });
    const json: unknown = await res.json().catch(() => ({}));
    const err = unaryError(res.status, json);
    if (err !== undefined) throw err;
    return json as Record<string, unknown>;
  }

  async range(prefix: string, keysOnly: boolean, limit: number): Promise<RangeAnswer> {
    const answer = await this.call('/v3/kv/range', { ...prefixRange(prefix), keys_only: keysOnly, limit });
    const header = answer['header'] as Record<string, unknown> | undefined;
    return {
      revision: Number(header?.['revision'] ?? 0),
      kvs: ((answer['kvs'] as unknown[] | undefined) ?? []).map(keyValueOf),
      more: answer['more'] === true,
    };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const answer = await this.call('/v3/kv/range', { key: toBase64(key) });
    const kv = (answer['kvs'] as unknown[] | undefined)?.[0];
    return kv === undefined ? undefined : keyValueOf(kv);
  }

  async put(key: string, value: string): Promise<void> {
    await this.call('/v3/kv/put', { key: toBase64(key), value: toBase64(value) });
  }

  async delete(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: toBase64(key) });
  }

  async authenticate(name: string, password: string): Promise<void> {
    this.token = undefined;
    const answer = await this.call('/v3/auth/authenticate', { name, password });
    this.token = String(answer['token'] ?? '');
  }

  /**
   * Watches every key under `prefix` from `startRevision` until `signal`
   * aborts or the stream ends. The request body is the one create request:
   * its end half-closes the client side, which leaves the watch running.
   */
  async watch(
    prefix: string,
    startRevision: number,
    onMessage: (m: WatchMessage) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const create = { create_request: { ...prefixRange(prefix), start_revision: String(startRevision) } };
    const res = await fetch('/v3/watch', {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify(create),
      signal,
    });
    if (res.body === null) throw new GatewayError(0, 'watch: no body');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const lines = new LineSplitter();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const line of lines.push(value)) onMessage(watchMessage(JSON.parse(line)));
    }
  }
}
