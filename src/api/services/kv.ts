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
import type { UnaryMethod } from '../rpc.js';
import { checkDeleteRangeRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from '../validate.js';

export interface KvLimits {
  maxTxnOps: number;
}

export interface KvService {
  readonly Range: UnaryMethod<RangeRequest, RangeResponse>;
  readonly Put: UnaryMethod<PutRequest, PutResponse>;
  readonly DeleteRange: UnaryMethod<DeleteRangeRequest, DeleteRangeResponse>;
  readonly Txn: UnaryMethod<TxnRequest, TxnResponse>;
  readonly Compact: UnaryMethod<CompactionRequest, CompactionResponse>;
}

/** etcdserverpb.KV: requests are checked as etcd's v3rpc/key.go checks them, then handed to the server. */
export function kvService(server: EtcdServer, limits: KvLimits): KvService {
  return {
    Range: async (req, ctx) => {
      checkRangeRequest(req);
      return server.range(req, ctx);
    },
    Put: async (req, ctx) => {
      checkPutRequest(req);
      return server.put(req, ctx);
    },
    DeleteRange: async (req, ctx) => {
      checkDeleteRangeRequest(req);
      return server.deleteRange(req, ctx);
    },
    Txn: async (req, ctx) => {
      checkTxnRequest(req, limits.maxTxnOps);
      return server.txn(req, ctx);
    },
    Compact: (req, ctx) => server.compact(req, ctx),
  };
}
