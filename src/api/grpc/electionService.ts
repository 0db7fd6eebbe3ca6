import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Election } from '../recipes/election.js';
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
import { cancellableUnary } from './cancellable.js';

/** v3electionpb.Election (etcd's v3election server), registered on the client port as etcd does. */
export function electionService(election: Election, logger: Logger): grpc.UntypedServiceImplementation {
  const observe: grpc.handleServerStreamingCall<LeaderRequest, LeaderResponse> = (call) => {
    let paused = false;
    const pending: LeaderResponse[] = [];
    const flush = (): void => {
      while (!paused && pending.length > 0) paused = !call.write(pending.shift()!);
    };
    const subscription = election.observe(call.request).subscribe({
      next: (resp) => {
        if (call.cancelled) return;
        pending.push(resp);
        flush();
      },
      // etcd ends Observe with OK when its watch or read fails; the client re-observes.
      complete: () => {
        if (!call.cancelled) call.end();
      },
    });
    call.on('drain', () => {
      paused = false;
      flush();
    });
    call.on('cancelled', () => subscription.unsubscribe());
    call.on('error', () => subscription.unsubscribe());
  };
  return {
    Campaign: cancellableUnary<CampaignRequest, CampaignResponse>(logger, 'Campaign', (req, signal) =>
      election.campaign(req, signal),
    ),
    Proclaim: cancellableUnary<ProclaimRequest, ProclaimResponse>(logger, 'Proclaim', (req) =>
      election.proclaim(req),
    ),
    Leader: cancellableUnary<LeaderRequest, LeaderResponse>(logger, 'Leader', (req) => election.leader(req)),
    Observe: observe,
    Resign: cancellableUnary<ResignRequest, ResignResponse>(logger, 'Resign', (req) => election.resign(req)),
  };
}
