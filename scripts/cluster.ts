/**
 * `npm run cluster`: the docker-compose cluster on this machine without Docker
 * (as etcd's Procfile does): a nats-server and three members on loopback,
 * client ports 2379, 22379 and 32379, data under ./cluster.xetcd. Ctrl-C stops
 * everything; running it again restarts the same cluster from its data.
 *
 *   npm run cluster [-- --data-dir DIR] [--nats-port 4222]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: 'cluster.xetcd' },
    'nats-port': { type: 'string', default: '4222' },
  },
});
const dataDir = resolve(values['data-dir']);
const natsPort = Number(values['nats-port']);

const members = [
  { name: 'xetcd1', clientPort: 2379 },
  { name: 'xetcd2', clientPort: 22379 },
  { name: 'xetcd3', clientPort: 32379 },
];
// Peer URLs name the members (their identity); NATS carries the traffic, nothing listens on them.
const peerUrl = (name: string): string => `http://${name}.local:2380`;
const initialCluster = members.map((m) => `${m.name}=${peerUrl(m.name)}`).join(',');

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

function launch(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const log = createWriteStream(join(dataDir, `${name}.log`), { flags: 'a' });
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`${name} exited (${signal ?? code}); see ${join(dataDir, `${name}.log`)}`);
  });
  children.push({ name, child });
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

async function stopAll(): Promise<void> {
  stopping = true;
  // Members first, so none of them spends its last moments without NATS.
  const order = [...children].reverse();
  for (const { child } of order) child.kill('SIGTERM');
  await Promise.all(
    order.map(({ child }) => new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)))),
  );
}

await mkdir(dataDir, { recursive: true });
const natsConf = join(dataDir, 'nats.conf');
await writeFile(natsConf, `listen: 127.0.0.1:${natsPort}\nmax_payload: 2MB\n`);
launch('nats-server', 'nats-server', ['-c', natsConf]);
for (const m of members) {
  launch(m.name, process.execPath, ['bin/xetcd.js'], {
    XETCD_NAME: m.name,
    XETCD_DATA_DIR: join(dataDir, m.name),
    XETCD_LISTEN_CLIENT_URLS: `http://127.0.0.1:${m.clientPort}`,
    XETCD_ADVERTISE_CLIENT_URLS: `http://127.0.0.1:${m.clientPort}`,
    XETCD_INITIAL_ADVERTISE_PEER_URLS: peerUrl(m.name),
    XETCD_INITIAL_CLUSTER: initialCluster,
    XETCD_INITIAL_CLUSTER_TOKEN: 'xetcd-local',
    XETCD_NATS_SERVERS: `nats://127.0.0.1:${natsPort}`,
  });
}
process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

const endpoints = members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
console.log(
  `starting nats-server on 127.0.0.1:${natsPort} and ${members.length} members; logs in ${dataDir}`,
);
const deadline = Date.now() + 60_000;
while (!(await Promise.all(members.map((m) => healthy(m.clientPort)))).every(Boolean)) {
  if (Date.now() > deadline || stopping) {
    console.error(`the cluster did not become healthy within 60 s; see the logs in ${dataDir}`);
    await stopAll();
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));
}
console.log(`endpoints: ${endpoints}`);
console.log(`try: etcdctl --endpoints ${endpoints} endpoint status -w table`);
console.log('cluster ready (Ctrl-C stops it)');
