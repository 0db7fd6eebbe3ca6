// The package's library entry: what a Node program imports from 'xetcd'.
export { watchOverNats, type WatchOverNatsOptions } from './watchOverNats.js';
export {
  keyFromTokens,
  keyOfSubject,
  keyTokens,
  kvSubject,
  prefixSubscription,
  progressSubject,
  replaySubject,
} from '../natswatch/subjects.js';
export {
  decodeEventMessage,
  HEADER as NATS_WATCH_HEADERS,
  type EventMessage,
} from '../natswatch/eventMessages.js';
export type { WatchResponse } from '../proto/etcdserverpb.js';
export type { Event, KeyValue } from '../proto/mvccpb.js';
