import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServer } from '../../server/etcdServer.js';
import {
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
import { AlarmType } from '../../proto/etcdserverpb.js';
import { toRpcError } from '../rpcErrors.js';
import { unary } from './unary.js';
import { ETCD_SERVER_VERSION } from '../http-version.js';

/** etcdserverpb.Maintenance (etcd's v3rpc/maintenance.go). */
export function maintenanceService(server: EtcdServer, logger: Logger): grpc.UntypedServiceImplementation {
  const snapshot: grpc.handleServerStreamingCall<SnapshotRequest, SnapshotResponse> = (call) => {
    void (async () => {
      try {
        for await (const chunk of server.snapshotStream()) {
          // Returning ends the generator, whose finally removes the temp file.
          if (call.cancelled) return;
          // etcd 3.4 sends the chunks without a header.
          const ok = call.write(
            SnapshotResponse.create({ remainingBytes: chunk.remaining, blob: chunk.blob }),
          );
          if (!ok) await drainedOrGone(call);
        }
        call.end();
      } catch (err) {
        logger.warn({ err }, 'snapshot stream failed');
        const status = toRpcError(err);
        call.emit('error', { code: status.code, details: status.message });
      }
    })();
  };

  return {
    Alarm: unary<AlarmRequest, AlarmResponse>(logger, 'Alarm', (req) => server.alarm(req)),
    Status: unary<StatusRequest, StatusResponse>(logger, 'Status', async () => {
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
        // etcd lists a missing leader first, then each alarm in its protobuf text form.
        errors: [
          ...(server.leader === 0n ? ['etcdserver: no leader'] : []),
          ...server.alarms
            .list()
            .map((a) => `memberID:${a.memberId.toString(10)} alarm:${AlarmType[a.alarm]} `),
        ],
        isLearner: server.membership.get(server.memberId)?.isLearner ?? false,
      });
    }),
    // Defragment and MoveLeader answer without a header, as etcd 3.4's do.
    Defragment: unary<DefragmentRequest, DefragmentResponse>(logger, 'Defragment', async () => {
      await server.defragment();
      return DefragmentResponse.create();
    }),
    Hash: unary<HashRequest, HashResponse>(logger, 'Hash', async () => {
      const { hash, revision } = await server.hash();
      return HashResponse.create({ header: server.header(revision), hash });
    }),
    HashKV: unary<HashKVRequest, HashKVResponse>(logger, 'HashKV', async (req) => {
      const r = await server.kv.hashKV(req.revision);
      // etcd's header carries the current revision, not the hashed one.
      return HashKVResponse.create({
        header: server.header(),
        hash: r.hash,
        compactRevision: r.compactRevision,
      });
    }),
    Snapshot: snapshot,
    MoveLeader: unary<MoveLeaderRequest, MoveLeaderResponse>(logger, 'MoveLeader', async (req) => {
      await server.moveLeader(req.targetId);
      return MoveLeaderResponse.create();
    }),
  };
}

/**
 * Waits for room in the send buffer, or for the client to be gone: a client
 * that stops reading and then cancels never drains the buffer, and waiting on
 * 'drain' alone would hold the snapshot (and its temp file) forever.
 */
function drainedOrGone(call: grpc.ServerWritableStream<SnapshotRequest, SnapshotResponse>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
    call.once('close', done);
  });
}
