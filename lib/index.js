// The package's library entry for plain Node (no TypeScript loader): registers
// tsx, as bin/xetcd.js does, and re-exports src/client/index.ts.
import { register } from 'tsx/esm/api';

register();
const client = await import('../src/client/index.ts');

export const {
  watchOverNats,
  keyFromTokens,
  keyOfSubject,
  keyTokens,
  kvSubject,
  prefixSubscription,
  progressSubject,
  replaySubject,
  decodeEventMessage,
  NATS_WATCH_HEADERS,
} = client;
