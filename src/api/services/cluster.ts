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
import type { UnaryMethod } from '../rpc.js';

export interface ClusterService {
  readonly MemberAdd: UnaryMethod<MemberAddRequest, MemberAddResponse>;
  readonly MemberRemove: UnaryMethod<MemberRemoveRequest, MemberRemoveResponse>;
  readonly MemberUpdate: UnaryMethod<MemberUpdateRequest, MemberUpdateResponse>;
  readonly MemberList: UnaryMethod<MemberListRequest, MemberListResponse>;
  readonly MemberPromote: UnaryMethod<MemberPromoteRequest, MemberPromoteResponse>;
}

/** etcdserverpb.Cluster (etcd's v3rpc/member.go). */
export function clusterService(server: EtcdServer): ClusterService {
  return {
    MemberList: async (req, ctx) => {
      if (req.linearizable) await server.waitLinearizable(ctx);
      return MemberListResponse.create({ header: server.memberHeader(), members: server.membership.list() });
    },
    MemberAdd: (req, ctx) => server.memberAdd(req.peerUrls, req.isLearner, ctx),
    MemberRemove: (req, ctx) => server.memberRemove(req.id, ctx),
    MemberUpdate: (req, ctx) => server.memberUpdate(req.id, req.peerUrls, ctx),
    MemberPromote: (req, ctx) => server.memberPromote(req.id, ctx),
  };
}
