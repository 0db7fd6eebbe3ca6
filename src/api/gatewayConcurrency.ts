// etcd 3.4's gateway routes for the election and lock services:
// POST /v3/election/{campaign,proclaim,leader,resign} and /v3/lock/{lock,unlock},
// unary JSON in and out like the rest of /v3 (Observe is in gatewayStreams.ts).
// Campaign and Lock may wait a long time; a client that hangs up stops the
// wait and takes its key out of the queue, as a cancelled gRPC call does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import * as epb from '../proto/v3electionpb.js';
import * as lpb from '../proto/v3lockpb.js';
import type { Election } from './recipes/election.js';
import type { Mutex } from './recipes/mutex.js';
import { RecipeAbortedError } from './recipes/waitDeletes.js';
import type { HttpRoutes } from './http.js';
import { GrpcCode, RpcError, isEtcdError, toRpcError } from './rpcErrors.js';
import { readBodyText, writeJsonBody, writeMethodNotAllowed, writeUnaryError } from './gatewayFraming.js';

interface JsonCodec<T> {
  fromJSON(j: unknown): T;
  toJSON(m: T): unknown;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

export function createConcurrencyGateway(
  routes: HttpRoutes,
  election: Election,
  mutex: Mutex,
  logger: Logger,
): void {
  const log = logger.child({ component: 'gateway' });
  const mount = <Req, Res>(
    path: string,
    request: JsonCodec<Req>,
    response: JsonCodec<Res>,
    call: (req: Req, signal: AbortSignal) => Promise<Res>,
  ): void => {
    const handler = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
      serveUnary(req, res, request, response, call, log);
    routes.path(`/v3/${path}`, handler).path(`/v3beta/${path}`, handler);
  };
  mount('election/campaign', epb.CampaignRequest, epb.CampaignResponse, (r, s) => election.campaign(r, s));
  mount('election/proclaim', epb.ProclaimRequest, epb.ProclaimResponse, (r) => election.proclaim(r));
  mount('election/leader', epb.LeaderRequest, epb.LeaderResponse, (r) => election.leader(r));
  mount('election/resign', epb.ResignRequest, epb.ResignResponse, (r) => election.resign(r));
  mount('lock/lock', lpb.LockRequest, lpb.LockResponse, (r, s) => mutex.lock(r, s));
  mount('lock/unlock', lpb.UnlockRequest, lpb.UnlockResponse, (r) => mutex.unlock(r));
}

async function serveUnary<Req, Res>(
  req: IncomingMessage,
  res: ServerResponse,
  request: JsonCodec<Req>,
  response: JsonCodec<Res>,
  call: (req: Req, signal: AbortSignal) => Promise<Res>,
  log: Logger,
): Promise<void> {
  if (req.method !== 'POST') {
    writeMethodNotAllowed(res);
    return;
  }
  let message: Req;
  try {
    const body = await readBodyText(req, MAX_BODY_BYTES);
    message = request.fromJSON(body.trim().length === 0 ? {} : JSON.parse(body));
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    writeUnaryError(res, new RpcError(GrpcCode.InvalidArgument, text));
    return;
  }
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  try {
    const out = await call(message, abort.signal);
    if (!abort.signal.aborted) writeJsonBody(res, 200, response.toJSON(out));
  } catch (err) {
    if (err instanceof RecipeAbortedError || abort.signal.aborted) return;
    const status = toRpcError(err);
    if (!isEtcdError(err)) log.warn({ err }, 'gateway request failed');
    // As over gRPC, etcd's election and lock servers lose the status code of what they call.
    writeUnaryError(res, new RpcError(GrpcCode.Unknown, status.message));
  }
}
