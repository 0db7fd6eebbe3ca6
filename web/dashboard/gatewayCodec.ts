/**
 * etcd's JSON gateway as the key browser speaks it: keys and values are
 * base64 of their bytes, 64-bit numbers come as strings, a failure answers
 * `{error, message, code}` (unary) or ends a stream with
 * `{"error": {grpc_code, message, ...}}`, and a stream sends one JSON object
 * per line.
 */

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** Lease ID in hex, as etcdctl prints it; '0' for none. */
  readonly lease: string;
}

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: KeyValue;
}

/** A failure the gateway answered with: gRPC code and etcd's message. */
export class GatewayError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/** gRPC codes the key browser tells apart. */
export const GrpcCodes = { InvalidArgument: 3, PermissionDenied: 7, Unauthenticated: 16 } as const;

/** Failures that mean "who are you?": no token, or one the server no longer takes. */
export function needsLogin(err: GatewayError): boolean {
  return (
    err.code === GrpcCodes.Unauthenticated ||
    /user name is empty|invalid auth token|authentication failed/.test(err.message)
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

export function toBase64(text: string): string {
  let binary = '';
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Bytes as text; bytes that are not UTF-8 read as U+FFFD. */
export function fromBase64(b64: string | undefined): string {
  if (b64 === undefined || b64 === '') return '';
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/** The key just past every key that starts with `prefix` (etcd's range_end for a prefix), as base64. */
export function prefixEnd(prefix: string): string {
  const bytes = [...encoder.encode(prefix)];
  while (bytes.length > 0) {
    const last = bytes.length - 1;
    if (bytes[last]! < 0xff) {
      bytes[last]! += 1;
      return btoa(String.fromCharCode(...bytes.slice(0, last + 1)));
    }
    bytes.pop();
  }
  // Every byte 0xff, or no prefix: to the end of the keyspace.
  return btoa('\0');
}

/** A range request's key and range_end for every key under `prefix` ('' is every key). */
export function prefixRange(prefix: string): { key: string; range_end: string } {
  return prefix === ''
    ? { key: btoa('\0'), range_end: btoa('\0') }
    : { key: toBase64(prefix), range_end: prefixEnd(prefix) };
}

const num = (v: unknown): number => (typeof v === 'string' || typeof v === 'number' ? Number(v) : 0);

export function keyValueOf(json: unknown): KeyValue {
  const kv = (json ?? {}) as Record<string, unknown>;
  const lease = num(kv['lease']);
  return {
    key: fromBase64(kv['key'] as string | undefined),
    value: fromBase64(kv['value'] as string | undefined),
    createRevision: num(kv['create_revision']),
    modRevision: num(kv['mod_revision']),
    version: num(kv['version']),
    lease: lease === 0 ? '0' : BigInt(String(kv['lease'])).toString(16),
  };
}

/** A unary answer's failure, or undefined for a success. */
export function unaryError(status: number, json: unknown): GatewayError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const body = (json ?? {}) as { code?: unknown; message?: unknown; error?: unknown };
  const message =
    typeof body.message === 'string'
      ? body.message
      : typeof body.error === 'string'
        ? body.error
        : `HTTP ${status}`;
  return new GatewayError(num(body.code), message);
}

export type WatchMessage =
  | { readonly kind: 'created'; readonly watchId: string; readonly revision: number }
  | { readonly kind: 'events'; readonly revision: number; readonly events: readonly WatchEvent[] }
  | { readonly kind: 'canceled'; readonly reason: string; readonly compactRevision: number }
  | { readonly kind: 'error'; readonly error: GatewayError };

/** One line of /v3/watch's answer. */
export function watchMessage(json: unknown): WatchMessage {
  const line = (json ?? {}) as { result?: Record<string, unknown>; error?: Record<string, unknown> };
  if (line.error !== undefined) {
    return {
      kind: 'error',
      error: new GatewayError(num(line.error['grpc_code']), String(line.error['message'] ?? 'watch failed')),
    };
  }
  const result = line.result ?? {};
  const revision = num((result['header'] as Record<string, unknown> | undefined)?.['revision']);
  if (result['canceled'] === true) {
    return {
      kind: 'canceled',
      reason: String(result['cancel_reason'] ?? ''),
      compactRevision: num(result['compact_revision']),
    };
  }
  if (result['created'] === true)
    return { kind: 'created', watchId: String(result['watch_id'] ?? '0'), revision };
  const events = ((result['events'] as unknown[] | undefined) ?? []).map((e): WatchEvent => {
    const ev = e as { type?: unknown; kv?: unknown };
    return { type: ev.type === 'DELETE' ? 'DELETE' : 'PUT', kv: keyValueOf(ev.kv) };
  });
  return { kind: 'events', revision, events };
}

/** Cuts a byte stream's text into lines as it arrives; the unfinished tail waits for more. */
export class LineSplitter {
  private tail = '';

  push(text: string): string[] {
    const parts = (this.tail + text).split('\n');
    this.tail = parts.pop() ?? '';
    return parts.filter((l) => l.trim() !== '');
  }
}
