// deploy/nats.conf as the cluster's NATS server: members sign in (here through the YAML
// config file's nats-user / nats-password) to an account of their own and use only
// `xetcd.>`; a user of another account on the same server can neither publish on nor
// listen to the cluster's subjects, and a client without credentials is not let in at all.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerEnvelope, PeerFrame } from '../../src/proto/xetcdpb.js';
import { Message, MessageType } from '../../src/proto/raftpb.js';
import { raftSubject } from '../../src/transport/subjects.js';
import { TestCluster } from '../helpers/cluster.js';
import { httpGet } from '../helpers/probes.js';
import { makeTempDir, type TempDir } from '../helpers/tempdir.js';
import { REPO_ROOT } from '../helpers/xetcd.js';

describe('the NATS accounts of deploy/nats.conf', () => {
  let dir: TempDir;
  let cluster: TestCluster;

  beforeAll(async () => {
    dir = await makeTempDir('xetcd-nats-accounts-');
    const conf = (await readFile(join(REPO_ROOT, 'deploy', 'nats.conf'), 'utf8')).replace(
      /^listen: .*$/m,
      '',
    );
    await writeFile(join(dir.path, 'nats.conf'), conf);
    await writeFile(join(dir.path, 'member.yaml'), 'nats-user: xetcd\nnats-password: change-me-members\n');
    cluster = await TestCluster.start({
      size: 3,
      natsArgs: ['-c', join(dir.path, 'nats.conf')],
      args: ['--config-file', join(dir.path, 'member.yaml')],
      direct: true,
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await dir?.remove();
  });

  it('the README shows the accounts of deploy/nats.conf as they are', async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const shown = /```\n(accounts \{[\s\S]*?\n\})\n```/.exec(readme)?.[1];
    expect(shown).toBeDefined();
    expect(await readFile(join(REPO_ROOT, 'deploy', 'nats.conf'), 'utf8')).toContain(shown);
  });

  it('members with their credentials form the cluster; others get nothing of it', async () => {
    const leader = await cluster.waitForLeader();
    const status = await leader.status();
    const clusterId = status!.header!.clusterId;
    const term = status!.raftTerm;

    await expect(connect({ servers: cluster.natsUrl, reconnect: false })).rejects.toThrow(/Authorization/i);

    const app = await connect({ servers: cluster.natsUrl, user: 'app', pass: 'change-me-app' });
    const errors: string[] = [];
    void (async () => {
      for await (const s of app.status()) if (s.type === 'error') errors.push(String(s.error));
    })();
    const heard: string[] = [];
    app.subscribe('xetcd.>', {
      callback: (err, m) => {
        if (err === null) heard.push(m.subject);
        else errors.push(String(err));
      },
    });
    for (const s of cluster.members) {
      const id = (await s.status())!.header!.memberId;
      const vote = Message.create({ type: MessageType.MsgVote, from: 1n, to: id, term: 1_000_000 });
      const frame = PeerFrame.encode(
        PeerFrame.create({ clusterId, from: 1n, to: id, batch: { messages: [vote] } }),
      );
      app.publish(raftSubject(clusterId, id), PeerEnvelope.encode({ payload: frame }));
    }
    await app.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(errors.join('\n')).toMatch(/Permissions Violation/i);
    expect(heard).toEqual([]);
    await app.close().catch(() => undefined);

    // Nothing reached a member: no refusal counted, no term moved.
    for (const m of cluster.members) {
      const metrics = (await httpGet(`${m.endpoint}/metrics`, 2_000)).body;
      expect(metrics).not.toMatch(/^xetcd_peer_(dropped|rejected)_messages_total\{/m);
      expect((await m.status())!.raftTerm).toBe(term);
    }
  }, 60_000);
});
