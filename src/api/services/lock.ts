import type { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../../proto/v3lockpb.js';
import type { Mutex } from '../recipes/mutex.js';
import type { UnaryMethod } from '../rpc.js';

export interface LockService {
  readonly Lock: UnaryMethod<LockRequest, LockResponse>;
  readonly Unlock: UnaryMethod<UnlockRequest, UnlockResponse>;
}

/** v3lockpb.Lock (etcd's v3lock server). Lock blocks until held; a caller that goes away leaves the queue. */
export function lockService(mutex: Mutex): LockService {
  return {
    Lock: (req, ctx) => mutex.lock(req, ctx),
    Unlock: (req, ctx) => mutex.unlock(req, ctx),
  };
}
