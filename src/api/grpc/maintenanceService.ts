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
          if (call.cancelled) return;
          const ok = call.write(SnapshotResponse.create({ header: server.header(), remainingBytes: chunk.remaining, blob: chunk.blob }));
          if (!ok) await new Promise((resolve) => call.once('drain', resolve));
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
        errors: server.alarms.list().map((a) => `memberID:${a.memberId.toString(10)} alarm:${AlarmType[a.alarm]} `),
        isLearner: server.membership.get(server.memberId)?.isLearner ?? false,
      });
    }),
    Defragment: unary<DefragmentRequest, DefragmentResponse>(logger, 'Defragment', async () => {
      await server.defragment();
      return DefragmentResponse.create({ header: server.header() });
    }),
    Hash: unary<HashRequest, HashResponse>(logger, 'Hash', async () => {
      const { hash, revision } = await server.kv.hash();
      return HashResponse.create({ header: server.header(revision), hash });
    }),
    HashKV: unary<HashKVRequest, HashKVResponse>(logger, 'HashKV', async (req) => {
      const r = await server.kv.hashKV(req.revision);
      return HashKVResponse.create({ header: server.header(r.hashRevision), hash: r.hash, compactRevision: r.compactRevision });
    }),
    Snapshot: snapshot,
    MoveLeader: unary<MoveLeaderRequest, MoveLeaderResponse>(logger, 'MoveLeader', async (req) => {
      await server.moveLeader(req.targetId);
      return MoveLeaderResponse.create({ header: server.header() });
    }),
  };
}
