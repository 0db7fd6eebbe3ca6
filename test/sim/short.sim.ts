/**
 * A short simulation for the mutation campaign (`npm run mutate`, see
 * stryker.config.json): every regression script and a few dozen generated
 * seeds, a few seconds in all, so that each of a few thousand mutants of the
 * core can be run against it. Not part of `npx vitest run` (its name does not
 * end in .test.ts); CI runs the full set in sim.test.ts.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkScriptFile } from '../unit/raft/datadriven.js';
import { runSeed } from './runner.js';
import { clusterScript } from './script.js';

const regressions = join(dirname(fileURLToPath(import.meta.url)), 'regressions');

describe('short simulation', () => {
  for (const file of readdirSync(regressions).filter((f) => f.endsWith('.txt'))) {
    it(`regression ${file.replace(/\.txt$/, '')}`, () =>
      checkScriptFile(join(regressions, file), clusterScript()));
  }

  for (const nodes of [3, 5] as const) {
    it(`generated schedules of ${nodes} voters`, () => {
      for (let seed = 1; seed <= 20; seed++) {
        const r = runSeed(nodes * 1000 + seed, { nodes, steps: 500 });
        expect(r.violation?.message, `seed ${nodes * 1000 + seed}`).toBeUndefined();
      }
    });
  }
});
