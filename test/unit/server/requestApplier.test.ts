// The request appliers stacked for the alarms raised, as etcd's uber applier stacks them.
import { describe, expect, it } from 'vitest';
import {
  AlarmType,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
} from '../../../src/proto/etcdserverpb.js';
import { Alarms } from '../../../src/server/alarms.js';
import { ErrCorrupt, ErrNoSpace } from '../../../src/server/errors.js';
import { stackFor, type RequestApplier } from '../../../src/server/requestApplier.js';

/** A backend that records which requests reached it. */
function recordingBackend(): { backend: RequestApplier; reached: string[] } {
  const reached: string[] = [];
  const answer = (name: string) => (): Promise<never> => {
    reached.push(name);
    return Promise.resolve({} as never);
  };
  const backend: RequestApplier = {
    range: answer('range'),
    put: answer('put'),
    deleteRange: answer('deleteRange'),
    txn: answer('txn'),
    compaction: answer('compaction'),
    leaseGrant: answer('leaseGrant'),
    leaseRevoke: answer('leaseRevoke'),
    leaseCheckpoint: answer('leaseCheckpoint'),
    alarm: answer('alarm'),
    clusterMemberAttrSet: answer('clusterMemberAttrSet'),
    clusterVersionSet: answer('clusterVersionSet'),
    authChange: answer('authChange'),
  };
  return { backend, reached };
}

const alarmsOf = (...types: AlarmType[]): Alarms => {
  const alarms = new Alarms();
  for (const alarm of types) alarms.activate({ memberId: 1n, alarm });
  return alarms;
};

const put = PutRequest.create({ key: Buffer.from('k') });
const readOnlyTxn = TxnRequest.create({
  success: [{ requestRange: RangeRequest.create({ key: Buffer.from('k') }) }],
});
const nestedPutTxn = TxnRequest.create({
  failure: [{ requestTxn: TxnRequest.create({ success: [{ requestPut: put }] }) }],
});

describe('request appliers', () => {
  it('without alarms every request reaches the backend', async () => {
    const { backend, reached } = recordingBackend();
    const a = stackFor(backend, alarmsOf());
    await a.put(put);
    await a.txn(nestedPutTxn);
    await a.range(RangeRequest.create());
    expect(reached).toEqual(['put', 'txn', 'range']);
  });

  it('NOSPACE refuses what grows the key space (puts, txns with a put at any depth, grants) and passes the rest', async () => {
    const { backend, reached } = recordingBackend();
    const a = stackFor(backend, alarmsOf(AlarmType.NOSPACE));
    await expect(a.put(put)).rejects.toBe(ErrNoSpace);
    await expect(a.txn(nestedPutTxn)).rejects.toBe(ErrNoSpace);
    await expect(a.leaseGrant({ id: 1n, ttl: 5 })).rejects.toBe(ErrNoSpace);
    await a.txn(readOnlyTxn);
    await a.deleteRange(DeleteRangeRequest.create({ key: Buffer.from('k') }));
    await a.leaseRevoke({ id: 1n });
    await a.compaction({ revision: 1, physical: false });
    expect(reached).toEqual(['txn', 'deleteRange', 'leaseRevoke', 'compaction']);
  });

  it('CORRUPT refuses everything on the key space and the leases; alarms and member attributes pass', async () => {
    const { backend, reached } = recordingBackend();
    const a = stackFor(backend, alarmsOf(AlarmType.CORRUPT));
    for (const refused of [
      a.range(RangeRequest.create()),
      a.put(put),
      a.deleteRange(DeleteRangeRequest.create()),
      a.txn(readOnlyTxn),
      a.compaction({ revision: 1, physical: false }),
      a.leaseGrant({ id: 1n, ttl: 5 }),
      a.leaseRevoke({ id: 1n }),
    ])
      await expect(refused).rejects.toBe(ErrCorrupt);
    await a.alarm({ action: 0, memberId: 1n, alarm: AlarmType.NONE }, 7);
    await a.clusterMemberAttrSet({ memberId: 1n }, 7);
    await a.leaseCheckpoint({ checkpoints: [] });
    expect(reached).toEqual(['alarm', 'clusterMemberAttrSet', 'leaseCheckpoint']);
  });

  it('with both raised a growing write hears about the space first, anything else about the corruption', async () => {
    const { backend } = recordingBackend();
    const a = stackFor(backend, alarmsOf(AlarmType.CORRUPT, AlarmType.NOSPACE));
    await expect(a.put(put)).rejects.toBe(ErrNoSpace);
    await expect(a.deleteRange(DeleteRangeRequest.create())).rejects.toBe(ErrCorrupt);
  });
});
