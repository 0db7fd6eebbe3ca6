/**
 * Cluster transcripts, in the manner of etcd's raft testdata: each file under
 * transcripts/cluster/ is a script in the cluster language of the simulation
 * (test/sim/schedule.ts), run on the simulator with every safety property
 * checked, and under each command whose output matters, the output it must
 * print (test/unit/raft/datadriven.ts; XETCD_REWRITE=1 regenerates it).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { clusterScript } from '../../sim/script.js';
import { checkScriptFile } from './datadriven.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'transcripts', 'cluster');

describe('cluster transcripts', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')))
    it(file.replace(/\.txt$/, ''), () => checkScriptFile(join(dir, file), clusterScript()));
});
