/**
 * The quorum rules as transcripts (transcripts/quorum/*.txt, the format of
 * datadriven.ts), after etcd's quorum/testdata:
 *
 *   committed voters=(1 2 3) [outgoing=(3 4 5)] acked=(1=100 2=101)
 *       the highest index a quorum acknowledged (a missing voter acked 0)
 *   vote voters=(1 2 3) [outgoing=(...)] votes=(1=y 2=n)
 *       won, lost or pending (a missing voter has not answered)
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { jointCommittedIndex, jointVoteResult } from '../../../src/raft/quorum/joint.js';
import { checkScriptFile, keyArgs, type Directive } from './datadriven.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'transcripts', 'quorum');

const ids = (list: readonly string[] = []): Set<bigint> => new Set(list.map(BigInt));

function pairs(list: readonly string[] = []): Map<bigint, string> {
  return new Map(
    list.map((p) => {
      const [id, v] = p.split('=');
      return [BigInt(id!), v!];
    }),
  );
}

function run(d: Directive): string[] {
  const [name] = d.command.split(/\s+/);
  const args = keyArgs(d.command);
  const voters = { incoming: ids(args.get('voters')), outgoing: ids(args.get('outgoing')) };
  switch (name) {
    case 'committed': {
      const acked = pairs(args.get('acked'));
      const index = jointCommittedIndex(voters, (id) => {
        const v = acked.get(id);
        return v === undefined ? undefined : Number(v);
      });
      return [index === Infinity ? 'infinity' : String(index)];
    }
    case 'vote': {
      const votes = new Map([...pairs(args.get('votes'))].map(([id, v]) => [id, v === 'y']));
      return [jointVoteResult(voters, votes)];
    }
    default:
      throw new Error(`line ${d.line}: unknown command ${name}`);
  }
}

describe('quorum transcripts', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')))
    it(file.replace(/\.txt$/, ''), () => checkScriptFile(join(dir, file), run));
});
