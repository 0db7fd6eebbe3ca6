import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
import {
  MemberListResponse,
  type MemberAddRequest,
  type MemberAddResponse,
  type MemberListRequest,
  type MemberPromoteRequest,
  type MemberPromoteResponse,
  type MemberRemoveRequest,
  type MemberRemoveResponse,
  type MemberUpdateRequest,
  type MemberUpdateResponse,
} from '../../proto/etcdserverpb.js';
import { unary } from './unary.js';

/** etcdserverpb.Cluster (etcd's v3rpc/member.go). */
export function clusterService(server: EtcdServer, logger: Logger): grpc.UntypedServiceImplementation {
  return {
    MemberList: unary<MemberListRequest, MemberListResponse>(logger, 'MemberList', async (req) => {
      if (req.linearizable) await server.waitLinearizable();
      return MemberListResponse.create({ header: server.memberHeader(), members: server.membership.list() });
    }),
    MemberAdd: unary<MemberAddRequest, MemberAddResponse>(logger, 'MemberAdd', (req) =>
      server.memberAdd(req.peerUrls, req.isLearner),
    ),
    MemberRemove: unary<MemberRemoveRequest, MemberRemoveResponse>(logger, 'MemberRemove', (req) =>
      server.memberRemove(req.id),
    ),
    MemberUpdate: unary<MemberUpdateRequest, MemberUpdateResponse>(logger, 'MemberUpdate', (req) =>
      server.memberUpdate(req.id, req.peerUrls),
    ),
    MemberPromote: unary<MemberPromoteRequest, MemberPromoteResponse>(logger, 'MemberPromote', (req) =>
      server.memberPromote(req.id),
    ),
  };
}
