// Keys as NATS subjects: xetcd.<cluster-id hex>.kv.<key tokens>. A key's
// '/'-separated segments become tokens, so a wildcard subscription is a prefix
// watch at a '/' boundary. Each byte outside SAFE becomes %XX (upper-case hex),
// '%' included, so every byte string maps to a subject and back; an empty
// segment is the lone token '%', which no escaped segment can be.

/** Bytes a token carries as themselves: nothing NATS treats specially ('.', '*', '>', space, '$'...). */
const SAFE = /^[A-Za-z0-9_~=:,+@-]$/;

/** A segment with no bytes (the key's leading '/' of '/app', the trailing '/' of 'app/'). */
export const EMPTY_SEGMENT = '%';

/**
 * Ends a subject whose key was too long to spell out (NATS refuses a control
 * line above 4 KiB): the key is then only in the message body. '%-' is no
 * escape, so no spelled-out key ends that way.
 */
export const ELIDED = '%-';

/** Longest key part of a subject, in characters: with the prefix well inside NATS's 4 KiB control line. */
export const MAX_KEY_SUBJECT = 2048;

const SLASH = 0x2f;
const HEX = '0123456789ABCDEF';

const safeByte: boolean[] = Array.from({ length: 256 }, (_, b) => SAFE.test(String.fromCharCode(b)));

export function clusterSubject(clusterId: bigint | string): string {
  return `xetcd.${typeof clusterId === 'bigint' ? clusterId.toString(16) : clusterId.toLowerCase()}`;
}

export const kvRoot = (clusterId: bigint | string): string => `${clusterSubject(clusterId)}.kv`;
export const progressSubject = (clusterId: bigint | string): string =>
  `${clusterSubject(clusterId)}.progress`;
export const replaySubject = (clusterId: bigint | string): string =>
  `${clusterSubject(clusterId)}.watch.replay`;

function escapeSegment(key: Uint8Array, from: number, to: number): string {
  if (from === to) return EMPTY_SEGMENT;
  let out = '';
  for (let i = from; i < to; i++) {
    const b = key[i]!;
    out += safeByte[b] ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/** The tokens of a key, one per '/'-separated segment (at least one). */
export function keyTokens(key: Uint8Array): string[] {
  const tokens: string[] = [];
  let start = 0;
  for (let i = 0; i <= key.length; i++) {
    if (i === key.length || key[i] === SLASH) {
      tokens.push(escapeSegment(key, start, i));
      start = i + 1;
    }
  }
  return tokens;
}

/** The key that tokens spell, or null when they are not a mapping's output (bad escape, an elided key). */
export function keyFromTokens(tokens: readonly string[]): Uint8Array | null {
  const bytes: number[] = [];
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t]!;
    if (t > 0) bytes.push(SLASH);
    if (token === EMPTY_SEGMENT) continue;
    if (token.length === 0) return null;
    for (let i = 0; i < token.length; i++) {
      const c = token.charCodeAt(i);
      if (c === 0x25) {
        const hex = token.slice(i + 1, i + 3);
        if (!/^[0-9A-F]{2}$/.test(hex)) return null;
        const b = parseInt(hex, 16);
        if (safeByte[b]) return null;
        bytes.push(b);
        i += 2;
      } else if (c < 256 && safeByte[c]) {
        bytes.push(c);
      } else {
        return null;
      }
    }
  }
  return Uint8Array.from(bytes);
}

/** The key part of a key's subject: its tokens, the tail elided past MAX_KEY_SUBJECT. */
export function keySubjectTail(key: Uint8Array): string {
  const tokens = keyTokens(key);
  const whole = tokens.join('.');
  if (whole.length <= MAX_KEY_SUBJECT) return whole;
  const kept: string[] = [];
  let length = ELIDED.length;
  for (const token of tokens) {
    if (length + token.length + 1 > MAX_KEY_SUBJECT) break;
    kept.push(token);
    length += token.length + 1;
  }
  return [...kept, ELIDED].join('.');
}

/** The subject a change of key is published on. */
export function kvSubject(clusterId: bigint | string, key: Uint8Array): string {
  return `${kvRoot(clusterId)}.${keySubjectTail(key)}`;
}

/** The key a kv subject names, or null when the subject is not one (or elides its key). */
export function keyOfSubject(clusterId: bigint | string, subject: string): Uint8Array | null {
  const root = `${kvRoot(clusterId)}.`;
  if (!subject.startsWith(root)) return null;
  return keyFromTokens(subject.slice(root.length).split('.'));
}

/**
 * The subscription that covers every key starting with prefix: exact when the
 * prefix is empty or ends in '/' (`app/` → `…kv.app.>`), else the one of its
 * last '/' boundary, whose extra keys the subscriber filters out by bytes.
 */
export function prefixSubscription(
  clusterId: bigint | string,
  prefix: Uint8Array,
): { subject: string; exact: boolean } {
  const lastSlash = prefix.lastIndexOf(SLASH);
  const exact = prefix.length === 0 || lastSlash === prefix.length - 1;
  if (lastSlash < 0) return { subject: `${kvRoot(clusterId)}.>`, exact };
  const tokens = keyTokens(prefix.subarray(0, lastSlash));
  const spelled = tokens.join('.');
  // A prefix too long to spell out: elided subjects keep fewer tokens, so listen wider.
  if (spelled.length > MAX_KEY_SUBJECT - ELIDED.length - 1)
    return { subject: `${kvRoot(clusterId)}.>`, exact: false };
  return { subject: `${kvRoot(clusterId)}.${spelled}.>`, exact };
}
