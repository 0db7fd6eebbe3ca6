// etcd 3.4's gateway routes for the election and lock services:
// POST /v3/election/{campaign,proclaim,leader,resign} and /v3/lock/{lock,unlock},
// unary JSON in and out like the rest of /v3 (Observe is in gatewayStreams.ts).
// Campaign and Lock may wait a long time; a client that hangs up stops the
// wait and takes its key out of the queue, as a cancelled gRPC call does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import * as epb from '../proto/v3electionpb.js';
import * as lpb from '../proto/v3lockpb.js';
import { parseJsonBody } from './gatewayFraming.js';
import { serveUnary, unaryRoute, type JsonCodec, type RequestCodec } from './gatewayUnary.js';
import type { HttpRoutes } from './http.js';
import { recipeFailures, type UnaryMethod } from './rpc.js';
import type { ElectionService } from './services/election.js';
import type { LockService } from './services/lock.js';

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** A body of only whitespace is an empty request. */
const parseBody = (body: string): unknown => (body.trim().length === 0 ? {} : parseJsonBody(body));

export function createConcurrencyGateway(
  routes: HttpRoutes,
  election: ElectionService,
  lock: LockService,
  logger: Logger,
): void {
  const log = logger.child({ component: 'gateway' });
  const mount = <Req, Res>(
    path: string,
    name: string,
    method: UnaryMethod<Req, Res>,
    request: RequestCodec<Req>,
    response: JsonCodec<Res>,
  ): void => {
    const route = unaryRoute(name, method, { request, response }, recipeFailures, parseBody);
    const handler = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
      serveUnary(req, res, route, MAX_BODY_BYTES, log);
    routes.path(`/v3/${path}`, handler).path(`/v3beta/${path}`, handler);
  };
  mount('election/campaign', 'Campaign', election.Campaign, epb.CampaignRequest, epb.CampaignResponse);
  mount('election/proclaim', 'Proclaim', election.Proclaim, epb.ProclaimRequest, epb.ProclaimResponse);
  mount('election/leader', 'Leader', election.Leader, epb.LeaderRequest, epb.LeaderResponse);
  mount('election/resign', 'Resign', election.Resign, epb.ResignRequest, epb.ResignResponse);
  mount('lock/lock', 'Lock', lock.Lock, lpb.LockRequest, lpb.LockResponse);
  mount('lock/unlock', 'Unlock', lock.Unlock, lpb.UnlockRequest, lpb.UnlockResponse);
}
