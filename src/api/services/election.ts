import { concatMap } from 'rxjs';
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from '../../proto/v3electionpb.js';
import type { Election } from '../recipes/election.js';
import { streamMethod, type StreamMethod, type UnaryMethod } from '../rpc.js';

export interface ElectionService {
  readonly Campaign: UnaryMethod<CampaignRequest, CampaignResponse>;
  readonly Proclaim: UnaryMethod<ProclaimRequest, ProclaimResponse>;
  readonly Leader: UnaryMethod<LeaderRequest, LeaderResponse>;
  readonly Observe: StreamMethod<LeaderRequest, LeaderResponse>;
  readonly Resign: UnaryMethod<ResignRequest, ResignResponse>;
}

/**
 * v3electionpb.Election (etcd's v3election server), registered on the client
 * port as etcd does. Campaign may wait a long time: a caller that goes away
 * stops the wait and takes its key out of the queue.
 */
export function electionService(election: Election): ElectionService {
  return {
    Campaign: (req, ctx) => election.campaign(req, ctx),
    Proclaim: (req, ctx) => election.proclaim(req, ctx),
    Leader: (req, ctx) => election.leader(req, ctx),
    // etcd ends Observe with OK when its watch or read fails; the client re-observes.
    Observe: streamMethod((requests$, ctx) => requests$.pipe(concatMap((req) => election.observe(req, ctx)))),
    Resign: (req, ctx) => election.resign(req, ctx),
  };
}
