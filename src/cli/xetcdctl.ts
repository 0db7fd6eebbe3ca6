// `xetcdctl`: the operations that work on a member's files rather than through
// its API. etcdctl does everything else against xetcd unchanged; what it cannot
// do is build an xetcd data dir, so `snapshot restore` lives here.
import { Command, CommanderError } from 'commander';
import { restoreDataDirFromSnapshot } from './snapshotRestore.js';
import { createLogger } from '../logging.js';

export async function runXetcdctl(
  argv: string[],
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  const program = new Command('xetcdctl')
    .description('Offline tools for xetcd data dirs (use etcdctl for everything that talks to a member).')
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err });
  const snapshot = program
    .command('snapshot')
    .description('Snapshot files (etcd 3.4 format, from etcdctl snapshot save).');
  let code = 0;
  snapshot
    .command('restore <file>')
    .description('Build a new xetcd data dir from a snapshot of etcd or xetcd; start a new cluster on it.')
    .requiredOption('--data-dir <dir>', 'the data dir to create (must not exist)')
    .action(async (file: string, opts: { dataDir: string }) => {
      const logger = createLogger({ level: 'warn' });
      try {
        const summary = await restoreDataDirFromSnapshot({ snapshot: file, dataDir: opts.dataDir, logger });
        out(
          `restored ${summary.keys} keys at revision ${summary.revision} (compacted at ${summary.compactRevision}), ${summary.leases} leases into ${opts.dataDir}\n` +
            `start it as a new cluster: xetcd --data-dir ${opts.dataDir} --initial-cluster-state new ...\n`,
        );
      } catch (e) {
        err(`xetcdctl: ${e instanceof Error ? e.message : String(e)}\n`);
        code = 1;
      }
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    throw e;
  }
  return code;
}

const code = await runXetcdctl(
  process.argv.slice(2),
  (t) => process.stdout.write(t),
  (t) => process.stderr.write(t),
);
process.exitCode = code;
