import type { Logger } from 'pino';
import { Observable, concatMap, filter, firstValueFrom, from } from 'rxjs';
import type { EtcdServer } from '../../server/etcdServer.js';
import {
  AlarmType,
  DefragmentResponse,
  HashKVResponse,
  HashResponse,
  MoveLeaderResponse,
  SnapshotResponse,
  StatusResponse,
  type AlarmRequest,
  type AlarmResponse,
  type DefragmentRequest,
  type HashKVRequest,
  type HashRequest,
  type MoveLeaderRequest,
  type SnapshotRequest,
  type StatusRequest,
} from '../../proto/etcdserverpb.js';
import { AuthError } from '../../auth/errors.js';
import type { RequestContext } from '../../server/requestContext.js';
import { ETCD_SERVER_VERSION } from '../httpVersion.js';
import { GrpcCode, RpcError } from '../rpcErrors.js';
import { streamMethod, type StreamContext, type StreamMethod, type UnaryMethod } from '../rpc.js';

export interface MaintenanceService {
  readonly Alarm: UnaryMethod<AlarmRequest, AlarmResponse>;
  readonly Status: UnaryMethod<StatusRequest, StatusResponse>;
  readonly Defragment: UnaryMethod<DefragmentRequest, DefragmentResponse>;
  readonly Hash: UnaryMethod<HashRequest, HashResponse>;
  readonly HashKV: UnaryMethod<HashKVRequest, HashKVResponse>;
  readonly Snapshot: StreamMethod<SnapshotRequest, SnapshotResponse>;
  readonly MoveLeader: UnaryMethod<MoveLeaderRequest, MoveLeaderResponse>;
}

/**
 * etcdserverpb.Maintenance (etcd's v3rpc/maintenance.go). Defragment, Hash,
 * HashKV and Snapshot are for the root role once auth is on; etcd's
 * authMaintenanceServer returns the auth store's own error for them, which
 * clients read as code Unknown with the store's `auth:` text.
 */
/** Status's errors: etcd lists a missing leader first, then each alarm in its protobuf text form. */
export function statusErrors(server: EtcdServer): string[] {
  return [
    ...(server.leader === 0n ? ['etcdserver: no leader'] : []),
    ...server.alarms.list().map((a) => `memberID:${a.memberId.toString(10)} alarm:${AlarmType[a.alarm]} `),
  ];
}

export function maintenanceService(server: EtcdServer, logger: Logger): MaintenanceService {
  const asAdmin = async (ctx: RequestContext): Promise<void> => {
    try {
      await server.auth.checkAdmin(ctx);
    } catch (err) {
      throw err instanceof AuthError ? new RpcError(GrpcCode.Unknown, err.raw) : err;
    }
  };
  return {
    Alarm: (req, ctx) => server.alarm(req, ctx),
    Status: async () => {
      const figures = await server.statusFigures();
      return StatusResponse.create({
        header: server.header(),
        version: ETCD_SERVER_VERSION,
        dbSize: figures.dbSize,
        dbSizeInUse: figures.dbSize,
        leader: server.leader,
        raftIndex: figures.raftIndex,
        raftTerm: server.raftTerm,
        raftAppliedIndex: figures.raftApplied,
        errors: statusErrors(server),
        isLearner: server.membership.get(server.memberId)?.isLearner ?? false,
      });
    },
    // Defragment and MoveLeader answer without a header, as etcd 3.4's do.
    Defragment: async (_req, ctx) => {
      await asAdmin(ctx);
      await server.defragment();
      return DefragmentResponse.create();
    },
    Hash: async (_req, ctx) => {
      await asAdmin(ctx);
      const { hash, revision } = await server.hash();
      return HashResponse.create({ header: server.header(revision), hash });
    },
    HashKV: async (req, ctx) => {
      await asAdmin(ctx);
      const r = await server.kv.hashKV(req.revision);
      // etcd's header carries the current revision, not the hashed one.
      return HashKVResponse.create({
        header: server.header(),
        hash: r.hash,
        compactRevision: r.compactRevision,
      });
    },
    Snapshot: streamMethod((_requests$, ctx) =>
      from(asAdmin(ctx)).pipe(concatMap(() => snapshotChunks(server, ctx, logger))),
    ),
    MoveLeader: async (req, ctx) => {
      await server.moveLeader(req.targetId, ctx);
      return MoveLeaderResponse.create();
    },
  };
}

/**
 * The snapshot's chunks, read as the transport takes them: a client that
 * stops reading holds the reading, and one that goes away ends it, so the
 * snapshot and its temp file never outlive the stream. etcd 3.4 sends the
 * chunks without a header.
 */
function snapshotChunks(
  server: EtcdServer,
  ctx: StreamContext,
  logger: Logger,
): Observable<SnapshotResponse> {
  return new Observable<SnapshotResponse>((subscriber) => {
    let gone = false;
    const send = async (): Promise<void> => {
      for await (const chunk of server.snapshotStream()) {
        // Returning ends the generator, whose finally removes the temp file.
        if (gone) return;
        subscriber.next(SnapshotResponse.create({ remainingBytes: chunk.remaining, blob: chunk.blob }));
        await room(ctx);
      }
      subscriber.complete();
    };
    send().catch((err: unknown) => {
      logger.warn({ err }, 'snapshot stream failed');
      subscriber.error(err);
    });
    return () => {
      gone = true;
    };
  });
}

/** Resolves once the transport has room again, or the stream ended (backpressure$ completes with it). */
function room(ctx: StreamContext): Promise<unknown> {
  return firstValueFrom(ctx.backpressure$.pipe(filter((full) => !full)), { defaultValue: false });
}
