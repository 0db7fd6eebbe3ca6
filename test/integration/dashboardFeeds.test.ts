// The dashboard's push streams on real processes over NATS: any member shows
// the whole cluster (roles as `endpoint status` reports them), a killed
// leader shows unreachable with the reason within two seconds and a new
// leader shortly after, a restarted member returns as a follower, and the
// transitions say what caused them.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { FEED_SILENCE_MS } from '../../src/api/dashboard/protocol.js';
import { TestCluster, type ClusterMember } from '../helpers/cluster.js';
import { DashboardStream } from '../helpers/dashboardStream.js';

let cluster: TestCluster | undefined;
let stream: DashboardStream | undefined;
afterEach(async () => {
  stream?.close();
  stream = undefined;
  await cluster?.stop();
  cluster = undefined;
});

const hexId = async (m: ClusterMember): Promise<string> =>
  ((await m.status())?.header?.memberId ?? 0n).toString(16);

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
        );
      })
      .on('error', reject);
  });
}

describe('dashboard streams of a three-member cluster', () => {
  it('follow the cluster through a leader crash and its return', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const viewer = cluster.members.find((m) => m !== leader)!;
    const ids = new Map<ClusterMember, string>();
    for (const m of cluster.members) ids.set(m, await hexId(m));
    stream = new DashboardStream(viewer.endpoint);
    const s = stream;

    // Every member appears, answers, and shows the role its own Status gives.
    await s.until('three reachable members with a status', () =>
      cluster!.members.every((m) => s.views.get(ids.get(m)!)?.reachable && s.views.get(ids.get(m)!)?.status),
    );
    expect(s.self).toBe(ids.get(viewer));
    expect(s.members.map((m) => m.id).sort()).toEqual([...ids.values()].sort());
    await s.until('one leader', () => s.leaders().length === 1);
    expect(s.leaders()).toEqual([ids.get(leader)]);
    for (const m of cluster.members) {
      const status = s.views.get(ids.get(m)!)!.status!;
      expect(status.leader).toBe(ids.get(leader));
      expect(status.name).toBe(m.name);
      expect(status.states.raft).toEqual(m === leader ? 'leader' : { following: 'follower' });
      expect(status.states.memberLifecycle).toEqual({ serving: 'ready' });
    }

    // The leader dies: unreachable within the silence window (plus a little), then a new leader.
    await leader.kill('SIGKILL');
    const unreachableMs = await s.until(
      'the killed leader unreachable',
      () => s.views.get(ids.get(leader)!)?.reachable === false,
    );
    expect(unreachableMs).toBeLessThan(FEED_SILENCE_MS + 1_000);
    expect(s.views.get(ids.get(leader)!)!.reason).toMatch(
      /ECONNREFUSED|connection closed|no news|ECONNRESET/,
    );
    await s.until('a new leader', () => s.leaders().length === 1 && s.leaders()[0] !== ids.get(leader));
    const newLeader = s.leaders()[0]!;
    const elected = s.views
      .get(newLeader)!
      .transitions.filter((t) => t.chart === 'raft' && t.to === 'leader');
    expect(elected.length).toBeGreaterThan(0);
    expect(elected.at(-1)!.event).toMatch(/^MsgVoteResp from [0-9a-f]+$/);
    expect(
      s.views
        .get(newLeader)!
        .transitions.some((t) => t.to === 'preCandidate' && /election timeout|MsgTimeoutNow/.test(t.event)) ||
        s.views.get(newLeader)!.transitions.some((t) => t.to === 'candidate'),
    ).toBe(true);

    // It comes back as a follower of the new leader.
    await leader.start();
    await s.until('the restarted member back as a follower', () => {
      const v = s.views.get(ids.get(leader)!);
      return v?.reachable === true && v.status?.role === 'follower' && v.status.leader === newLeader;
    });
  });

  it('serves the chart definitions, and refuses writes on the stream routes', async () => {
    cluster = await TestCluster.start({ size: 1 });
    const m = cluster.members[0]!;
    const charts = await get(`${m.endpoint}/dashboard/machines.json`);
    expect(charts.status).toBe(200);
    expect(charts.type).toMatch(/application\/json/);
    const parsed = JSON.parse(charts.body) as Record<string, { id: string }>;
    expect(Object.keys(parsed).sort()).toEqual(['memberLifecycle', 'raft', 'serverParts']);
    expect(parsed['raft']!.id).toBe('raft');
    const post = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${m.endpoint}/dashboard/events`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(post).toBe(405);
  });
});
