import { afterEach, describe, expect, it } from 'vitest';
import {
  readClusterRecord,
  writeClusterRecord,
  type ClusterRecord,
} from '../../../src/server/clusterRecord.js';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';

function record(stateIndex: number): ClusterRecord {
  return {
    memberId: 0x1n,
    clusterId: 0xabn,
    members: [
      { id: 0x1n, name: 'm1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: [], isLearner: false },
    ],
    stateIndex,
  };
}

describe('cluster record', () => {
  let dir: TempDir | undefined;
  afterEach(async () => dir?.remove());

  it('writes asked for at once all land, one after another, the last one asked for winning', async () => {
    dir = await makeTempDir('cluster-record-');
    await Promise.all([1, 2, 3, 4, 5].map((i) => writeClusterRecord(dir!.path, record(i))));
    expect((await readClusterRecord(dir.path))?.stateIndex).toBe(5);
  });
});
