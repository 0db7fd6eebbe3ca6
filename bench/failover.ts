// Leader failover, xetcd next to etcd 3.4: `npm run bench:failover -- [--trials N]`.
// Starts a three-member xetcd cluster over NATS and a three-member etcd 3.4 cluster
// (/usr/bin/etcd or $ETCD_BIN, loopback peer ports), both with the same
// --heartbeat-interval and --election-timeout; then, per trial, kills the leader with
// SIGKILL and measures the time until the first write through another member
// succeeds, starts the killed member again and waits for the cluster to settle. The
// clusters run one after the other, never at once. Prints the median, min and max per
// cluster and their ratio.
//
// The writes: from the kill on, a new Put every 10 ms through each surviving member,
// each with a 2 s deadline, so a put stuck on the dead leader (forwarded before the
// followers noticed) delays no later one; the first success ends the trial.
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { TestCluster } from '../test/helpers/cluster.js';
import { startEtcd, type ServerInstance } from '../test/helpers/etcd.js';
import { EtcdRpcClient } from '../test/helpers/etcdRpc.js';
import { freePorts } from '../test/helpers/ports.js';
import { makeTempDir } from '../test/helpers/tempdir.js';

interface Options {
  trials: number;
  heartbeat: number;
  election: number;
  servers: ('xetcd' | 'etcd')[];
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

const opts = new Command('bench:failover')
  .description(
    'Time from SIGKILL of the leader to the first write through another member: xetcd and etcd 3.4.',
  )
  .option('--trials <n>', 'leader kills per cluster', positiveInt('--trials'), 7)
  .option('--heartbeat <ms>', '--heartbeat-interval of both clusters', positiveInt('--heartbeat'), 100)
  .option('--election <ms>', '--election-timeout of both clusters', positiveInt('--election'), 1_000)
  .option(
    '--servers <list>',
    'which clusters, comma-separated',
    (v) => v.split(',').map((s) => s.trim()) as Options['servers'],
    ['xetcd', 'etcd'],
  )
  .parse()
  .opts<Options>();

/** What a trial needs of a cluster, whichever it is. */
interface Member {
  readonly name: string;
  readonly endpoint: string;
  kill(): Promise<void>;
  start(): Promise<void>;
}

interface Cluster {
  readonly members: readonly Member[];
  stop(): Promise<void>;
}

/** The leader every member names, once they agree. */
async function leaderOf(members: readonly Member[], timeoutMs = 30_000): Promise<Member> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(
      members.map(async (m) => {
        const c = new EtcdRpcClient(m.endpoint);
        try {
          return await c.status(1_000);
        } catch {
          return undefined;
        } finally {
          c.close();
        }
      }),
    );
    const leaders = new Set(statuses.map((s) => s?.leader ?? 0n));
    const lead = statuses[0]?.leader ?? 0n;
    const at = statuses.findIndex((s) => s?.header?.memberId === lead);
    if (leaders.size === 1 && lead !== 0n && at >= 0) return members[at]!;
    await sleep(100);
  }
  throw new Error('the members did not agree on a leader');
}

/** Kills the leader; resolves with the ms until a put through another member succeeded. */
async function trial(cluster: Cluster, round: number): Promise<number> {
  const leader = await leaderOf(cluster.members);
  const others = cluster.members.filter((m) => m !== leader);
  const clients = others.map((m) => new EtcdRpcClient(m.endpoint));
  try {
    // Connected and warm before the clock starts.
    await Promise.all(
      clients.map((c) => c.put({ key: Buffer.from('failover/warm'), value: Buffer.from('x') })),
    );
    let done: number | undefined;
    let seq = 0;
    const t0 = performance.now();
    const kill = leader.kill();
    const pending: Promise<void>[] = [];
    while (done === undefined && performance.now() - t0 < 60_000) {
      for (const c of clients) {
        const value = Buffer.from(`${round}-${seq++}`);
        pending.push(
          c.put({ key: Buffer.from('failover/key'), value }, 2_000).then(
            () => {
              done ??= performance.now() - t0;
            },
            () => undefined,
          ),
        );
      }
      await sleep(10);
    }
    await kill;
    await Promise.all(pending);
    if (done === undefined) throw new Error('no write succeeded within 60 s of the kill');
    await leader.start();
    await leaderOf(cluster.members);
    return done;
  } finally {
    for (const c of clients) c.close();
  }
}

async function startXetcd(): Promise<Cluster> {
  const cluster = await TestCluster.start({
    size: 3,
    heartbeatMs: opts.heartbeat,
    electionMs: opts.election,
  });
  return {
    members: cluster.members.map((m) => ({
      name: m.name,
      endpoint: m.endpoint,
      kill: async () => {
        await m.kill('SIGKILL');
      },
      start: () => m.start(),
    })),
    stop: () => cluster.stop(),
  };
}

async function startEtcdCluster(): Promise<Cluster> {
  const dir = await makeTempDir('xetcd-failover-etcd-');
  const ports = await freePorts(6);
  const specs = [1, 2, 3].map((i) => ({
    name: `e${i}`,
    port: ports[2 * i - 2]!,
    peerPort: ports[2 * i - 1]!,
    dataDir: `${dir.path}/e${i}`,
  }));
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const args = ['--heartbeat-interval', String(opts.heartbeat), '--election-timeout', String(opts.election)];
  const running = new Map<string, ServerInstance>();
  const start = async (s: (typeof specs)[number]): Promise<void> => {
    running.set(s.name, await startEtcd({ ...s, initialCluster, args }));
  };
  try {
    await Promise.all(specs.map(start));
  } catch (err) {
    await Promise.all([...running.values()].map((p) => p.stop()));
    await dir.remove();
    throw err;
  }
  return {
    members: specs.map((s) => ({
      name: s.name,
      endpoint: `http://127.0.0.1:${s.port}`,
      kill: async () => {
        const p = running.get(s.name)!;
        p.process.signal('SIGKILL');
        await p.process.exited;
      },
      start: () => start(s),
    })),
    stop: async () => {
      await Promise.all([...running.values()].map((p) => p.stop()));
      await dir.remove();
    },
  };
}

function summary(xs: readonly number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

const results = new Map<string, number[]>();
for (const server of opts.servers) {
  const cluster = server === 'xetcd' ? await startXetcd() : await startEtcdCluster();
  const times: number[] = [];
  try {
    for (let i = 1; i <= opts.trials; i++) {
      const ms = await trial(cluster, i);
      times.push(ms);
      process.stderr.write(`${server} trial ${i}: ${ms.toFixed(0)} ms\n`);
      // A moment of quiet between trials, so each kill finds a settled cluster.
      await sleep(opts.election);
    }
  } finally {
    await cluster.stop();
  }
  results.set(server, times);
}

const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;
console.log(
  `\nLeader killed with SIGKILL -> first successful Put through another member; 3 members, ` +
    `--heartbeat-interval ${opts.heartbeat} --election-timeout ${opts.election}, ${opts.trials} trials each\n`,
);
console.log('| cluster | median | min | max | trials (ms) |');
console.log('| ------- | -----: | --: | --: | ----------- |');
for (const [server, times] of results) {
  const s = summary(times);
  const label = server === 'xetcd' ? 'xetcd over NATS' : 'etcd 3.4';
  console.log(
    `| ${label} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${times.map((t) => t.toFixed(0)).join(', ')} |`,
  );
}
const x = results.get('xetcd');
const e = results.get('etcd');
if (x && e)
  console.log(`\nratio of medians xetcd/etcd: ${(summary(x).median / summary(e).median).toFixed(2)}`);
