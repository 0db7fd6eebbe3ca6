// `--auth-token` as etcd reads it: `simple`, or
// `jwt,pub-key=<path>,priv-key=<path>,sign-method=<alg>,ttl=<duration>`.
import { DEFAULT_JWT_TTL_MS, JWT_SIGN_METHODS, type TokenOptions } from '../auth/tokenProvider.js';
import { parseGoDuration } from './duration.js';

/** The token options, or a sentence saying what is wrong with the text. */
export function parseTokenOptions(text: string): TokenOptions | string {
  const [kind, ...rest] = text.split(',');
  const opts = new Map<string, string>();
  for (const pair of rest) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return `'${pair}' is not key=value`;
    const key = pair.slice(0, eq);
    if (opts.has(key)) return `${key} is given twice`;
    opts.set(key, pair.slice(eq + 1));
  }
  if (kind === 'simple') {
    return opts.size === 0 ? { kind: 'simple' } : 'simple tokens take no options';
  }
  if (kind !== 'jwt') return `'${kind}' is not a token type; use simple or jwt,...`;
  for (const key of opts.keys()) {
    if (!['pub-key', 'priv-key', 'sign-method', 'ttl'].includes(key))
      return `unknown jwt option ${key} (valid: pub-key, priv-key, sign-method, ttl)`;
  }
  const signMethod = opts.get('sign-method');
  if (signMethod === undefined || !(JWT_SIGN_METHODS as readonly string[]).includes(signMethod))
    return `jwt needs sign-method=<one of ${JWT_SIGN_METHODS.join(', ')}>`;
  const pubKeyFile = opts.get('pub-key');
  const privKeyFile = opts.get('priv-key');
  if (signMethod.startsWith('HS')) {
    if (privKeyFile === undefined)
      return `jwt with ${signMethod} needs priv-key=<file holding the shared secret>`;
  } else if (pubKeyFile === undefined) {
    return `jwt with ${signMethod} needs pub-key=<PEM file> (and priv-key=<PEM file> to issue tokens)`;
  }
  let ttlMs = DEFAULT_JWT_TTL_MS;
  const ttl = opts.get('ttl');
  if (ttl !== undefined) {
    const ms = parseGoDuration(ttl);
    if (ms === undefined || ms <= 0) return `ttl '${ttl}' is not a positive duration (e.g. 5m)`;
    ttlMs = ms;
  }
  return {
    kind: 'jwt',
    signMethod,
    ttlMs,
    ...(pubKeyFile !== undefined ? { pubKeyFile } : {}),
    ...(privKeyFile !== undefined ? { privKeyFile } : {}),
  };
}
