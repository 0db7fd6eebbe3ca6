import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Mutex } from '../recipes/mutex.js';
import type { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../../proto/v3lockpb.js';
import { cancellableUnary } from './cancellable.js';

/** v3lockpb.Lock (etcd's v3lock server). Lock blocks until held; a cancelled Lock leaves the queue. */
export function lockService(mutex: Mutex, logger: Logger): grpc.UntypedServiceImplementation {
  return {
    Lock: cancellableUnary<LockRequest, LockResponse>(logger, 'Lock', (req, signal) =>
      mutex.lock(req, signal),
    ),
    Unlock: cancellableUnary<UnlockRequest, UnlockResponse>(logger, 'Unlock', (req) => mutex.unlock(req)),
  };
}
