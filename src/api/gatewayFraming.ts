// How etcd 3.4's grpc-gateway (v1.9.5) frames what it does not get from the
// unary table: request bodies that hold several JSON messages one after the
// other, and error bodies, unary and mid-stream.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { GrpcCode, type RpcError } from './rpcErrors.js';

/**
 * A JSON request body as jsonpb reads it: an integer too large for a JS
 * number keeps every digit, as a decimal string (the proto JSON readers
 * take 64-bit integers as strings). Clients such as etcd3gw send 64-bit IDs
 * as bare JSON numbers, which Go reads exactly and JSON.parse would round.
 */
export function parseJsonBody(text: string): unknown {
  const json = /\d{16}/.test(text) ? quoteLongIntegers(text) : text;
  try {
    return JSON.parse(json);
  } catch (err) {
    // Go's json.Decoder, which grpc-gateway reads the body with, stops after the first value.
    const after = /non-whitespace character after JSON at position (\d+)/.exec((err as Error).message);
    if (after === null) throw err;
    return JSON.parse(json.slice(0, Number(after[1])));
  }
}

/** Wraps in quotes every integer token of 16 digits or more outside strings. */
function quoteLongIntegers(text: string): string {
  let out = '';
  let copied = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end]!)) end++;
      const token = text.slice(i, end);
      if (/^-?\d{16,}$/.test(token)) {
        out += `${text.slice(copied, i)}"${token}"`;
        copied = end;
      }
      i = end - 1;
    }
  }
  return out + text.slice(copied);
}

/** HTTP status for a gRPC code, as grpc-gateway v1 maps them (runtime.HTTPStatusFromCode). */
export function httpStatusOf(code: number): number {
  switch (code) {
    case GrpcCode.OK:
      return 200;
    case GrpcCode.Canceled:
      return 408;
    case GrpcCode.InvalidArgument:
    case GrpcCode.FailedPrecondition:
    case GrpcCode.OutOfRange:
      return 400;
    case GrpcCode.DeadlineExceeded:
      return 504;
    case GrpcCode.NotFound:
      return 404;
    case GrpcCode.AlreadyExists:
    case GrpcCode.Aborted:
      return 409;
    case GrpcCode.PermissionDenied:
      return 403;
    case GrpcCode.Unauthenticated:
      return 401;
    case GrpcCode.ResourceExhausted:
      return 429;
    case GrpcCode.Unimplemented:
      return 501;
    case GrpcCode.Unavailable:
      return 503;
    default:
      return 500;
  }
}

/** A unary failure: the status for its code and `{"error","message","code"}`. */
export function writeUnaryError(res: ServerResponse, err: RpcError): void {
  writeJsonBody(res, httpStatusOf(err.code), { error: err.message, message: err.message, code: err.code });
}

/** Every gateway route takes POST only; another method gets the Go mux's plain-text answer. */
export function writeMethodNotAllowed(res: ServerResponse): void {
  res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end('Method Not Allowed\n');
}

/** V8's JSON.parse complaints, and what Go's encoding/json says where it stops at the same place. */
const GO_JSON_CONTEXT: ReadonlyArray<readonly [RegExp, string]> = [
  [/':'/, 'after object key'],
  [/property name/i, 'looking for beginning of object key string'],
  [/',' or '}'/, 'after object key:value pair'],
  [/',' or ']'/, 'after array element'],
];

/**
 * A request body that does not parse, in the words of Go's encoding/json,
 * which etcd's gateway answers with: a body that ends early is "unexpected
 * EOF"; another syntax error names the character where reading stopped.
 */
export function goJsonError(err: unknown, body: string): string {
  if (!(err instanceof SyntaxError)) return err instanceof Error ? err.message : String(err);
  const message = err.message;
  const position = /at position (\d+)/.exec(message);
  const at = position !== null ? Number(position[1]) : undefined;
  if (/end of JSON input|Unterminated string/.test(message) || (at !== undefined && at >= body.length))
    return 'unexpected EOF';
  const context = GO_JSON_CONTEXT.find(([re]) => re.test(message))?.[1] ?? 'looking for beginning of value';
  if (at !== undefined) return `invalid character '${body[at] ?? ''}' ${context}`;
  const token = /^Unexpected token '(.)'/.exec(message);
  return token !== null ? `invalid character '${token[1] ?? ''}' ${context}` : message;
}

export function writeJsonBody(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The chunk that ends a failed stream (grpc-gateway's internal.StreamError, proto names, zeros left out). */
export function streamErrorChunk(err: RpcError): string {
  const httpCode = httpStatusOf(err.code);
  const body: Record<string, unknown> = {};
  if (err.code !== 0) body['grpc_code'] = err.code;
  body['http_code'] = httpCode;
  if (err.message !== '') body['message'] = err.message;
  body['http_status'] = STATUS_CODES[httpCode] ?? '';
  return JSON.stringify({ error: body });
}

/**
 * Splits a body made of JSON objects written one after another (with or
 * without whitespace between them), as Go's json.Decoder reads a gateway
 * stream. Text is pushed as it arrives; each complete top-level object comes
 * out once. Anything but an object at the top level stops the splitter: the
 * objects before it still come out, and `failure` says what went wrong.
 */
export class JsonObjectSplitter {
  private buf = '';
  private scan = 0;
  private start = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly maxObjectChars = 8 * 1024 * 1024) {}

  /** Set once the text stopped being a sequence of objects; nothing more is read after it. */
  failure: Error | undefined;

  push(text: string): string[] {
    if (this.failure) return [];
    this.buf += text;
    const out: string[] = [];
    const s = this.buf;
    for (let i = this.scan; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (this.start < 0) {
        // Between objects only whitespace is allowed.
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b) {
          this.failure = new SyntaxError(`invalid character '${s[i]}' looking for beginning of object`);
          this.buf = '';
          return out;
        }
        this.start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          out.push(s.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // Keep only the unfinished object (if any) so the buffer does not grow with the stream.
    if (this.start < 0) {
      this.buf = '';
      this.scan = 0;
    } else {
      this.buf = s.slice(this.start);
      this.scan = this.buf.length;
      this.start = 0;
      if (this.buf.length > this.maxObjectChars) {
        this.failure = new RangeError(`request message larger than ${this.maxObjectChars} characters`);
        this.buf = '';
      }
    }
    return out;
  }

  /** An object was begun but not finished: the body ended mid-message. */
  get hasPartial(): boolean {
    return this.start >= 0;
  }
}

/** Reads a whole (small) body as text, refusing more than `limit` bytes. */
export function readBodyText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
