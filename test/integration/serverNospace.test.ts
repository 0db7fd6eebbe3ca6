// The space quota on a real member (--quota-backend-bytes): once the key space outgrows it
// the leader raises NOSPACE, writes are refused with etcd's error while reads and deletes
// go on, the alarm survives a restart, and after compaction, defragmentation and a disarm
// writes are accepted again.
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdRpcClient, endpointAddress } from '../helpers/etcdRpc.js';
import { ResourceScope } from '../helpers/scope.js';
import { makeTempDir } from '../helpers/tempdir.js';
import { startXetcd } from '../helpers/xetcd.js';
import {
  AlarmRequest_AlarmAction as AlarmAction,
  AlarmType,
  KVService,
  MaintenanceService,
  type AlarmRequest,
  type AlarmResponse,
  type CompactionRequest,
  type CompactionResponse,
  type DefragmentRequest,
  type DefragmentResponse,
} from '../../src/proto/etcdserverpb.js';

const NOSPACE = 'etcdserver: mvcc: database space exceeded';
const QUOTA = 512 * 1024;

describe('the space quota on a real member', () => {
  const scope = new ResourceScope();
  afterAll(() => scope.close());

  it('raises NOSPACE past the quota, keeps it across a restart, and recovers after compact, defrag and disarm', async () => {
    const dir = scope.add(await makeTempDir('xetcd-nospace-'), 'data dir', (d) => d.remove());
    const args = ['--quota-backend-bytes', String(QUOTA)];
    const start = async (label: string) => {
      const m = await startXetcd({ dataDir: dir.path, args });
      scope.defer(label, () => m.stop(2_000));
      const kv = new EtcdRpcClient(m.endpoint);
      scope.defer(`${label} kv`, () => kv.close());
      const raw = new grpc.Client(endpointAddress(m.endpoint), grpc.credentials.createInsecure());
      scope.defer(`${label} raw`, () => raw.close());
      const unary = <Req, Res>(
        method: {
          path: string;
          requestSerialize: (r: Req) => Buffer;
          responseDeserialize: (b: Buffer) => Res;
        },
        req: Req,
      ) =>
        new Promise<Res>((resolve, reject) =>
          raw.makeUnaryRequest<Req, Res>(
            method.path,
            method.requestSerialize,
            method.responseDeserialize,
            req,
            (err, res) => (err ? reject(err) : resolve(res!)),
          ),
        );
      const alarm = (action: AlarmAction, memberId = 0n) =>
        unary<AlarmRequest, AlarmResponse>(MaintenanceService.Alarm, {
          action,
          memberId,
          alarm: AlarmType.NOSPACE,
        });
      return { m, kv, unary, alarm };
    };

    let { m, kv, unary, alarm } = await start('member');
    const value = Buffer.alloc(32 * 1024, 9);
    let refused: grpc.ServiceError | undefined;
    let written = 0;
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        await kv.put({ key: Buffer.from(`fill/${i % 8}`), value });
        written++;
      } catch (err) {
        refused = err as grpc.ServiceError;
      }
      if (!refused) await new Promise((r) => setTimeout(r, 20));
    }
    expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toBe(NOSPACE);
    expect(written).toBeGreaterThan(0);
    const raised = await alarm(AlarmAction.GET);
    expect(raised.alarms.map((a) => a.alarm)).toEqual([AlarmType.NOSPACE]);
    const memberId = raised.alarms[0]!.memberId;

    // Reads and deletes still work while the alarm is raised.
    expect((await kv.range({ key: Buffer.from('fill/0') })).kvs).toHaveLength(1);
    await kv.deleteRange({ key: Buffer.from('fill/'), rangeEnd: Buffer.from('fill0') });

    // The alarm is part of the cluster's state: a restart does not clear it.
    await m.stop(5_000);
    ({ m, kv, unary, alarm } = await start('member again'));
    expect((await alarm(AlarmAction.GET)).alarms.map((a) => a.alarm)).toEqual([AlarmType.NOSPACE]);
    const again = await kv
      .put({ key: Buffer.from('x'), value: Buffer.from('1') })
      .catch((e: grpc.ServiceError) => e);
    expect((again as grpc.ServiceError).details).toBe(NOSPACE);

    // Free the space, then disarm: writes are accepted again.
    const current = (await kv.range({ key: Buffer.from('x') })).header!.revision;
    await unary<CompactionRequest, CompactionResponse>(KVService.Compact, {
      revision: current,
      physical: true,
    });
    await unary<DefragmentRequest, DefragmentResponse>(MaintenanceService.Defragment, {});
    const cleared = await alarm(AlarmAction.DEACTIVATE, memberId);
    expect(cleared.alarms.map((a) => a.alarm)).toEqual([AlarmType.NOSPACE]);
    const ok = await kv.put({ key: Buffer.from('x'), value: Buffer.from('1') });
    expect(ok.header!.revision).toBe(current + 1);
    expect((await alarm(AlarmAction.GET)).alarms).toEqual([]);
  }, 90_000);
});
