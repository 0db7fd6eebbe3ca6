import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from '../../proto/etcdserverpb.js';
import { checkDeleteRangeRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from '../validate.js';
import { unary } from './unary.js';

export interface KvLimits {
  maxTxnOps: number;
}

/** etcdserverpb.KV: requests are checked as etcd's v3rpc/key.go checks them, then handed to the server. */
export function kvService(
  server: EtcdServer,
  limits: KvLimits,
  logger: Logger,
): grpc.UntypedServiceImplementation {
  return {
    Range: unary<RangeRequest, RangeResponse>(logger, 'Range', async (req) => {
      checkRangeRequest(req);
      return server.range(req);
    }),
    Put: unary<PutRequest, PutResponse>(logger, 'Put', async (req) => {
      checkPutRequest(req);
      return server.put(req);
    }),
    DeleteRange: unary<DeleteRangeRequest, DeleteRangeResponse>(logger, 'DeleteRange', async (req) => {
      checkDeleteRangeRequest(req);
      return server.deleteRange(req);
    }),
    Txn: unary<TxnRequest, TxnResponse>(logger, 'Txn', async (req) => {
      checkTxnRequest(req, limits.maxTxnOps);
      return server.txn(req);
    }),
    Compact: unary<CompactionRequest, CompactionResponse>(logger, 'Compact', (req) => server.compact(req)),
  };
}
