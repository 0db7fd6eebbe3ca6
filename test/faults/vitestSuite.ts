// The fault cases as vitest tests (CI's short form: each case once, on the short
// settings): one test per case, sharing the suite's clusters, stopped after the file.
import { afterAll, describe, expect, it } from 'vitest';
import { SHORT_SETTINGS } from './harness.js';
import type { FaultCase } from './harness.js';
import { FaultSuite } from './suite.js';

/** A failing run is repeated with XETCD_FAULT_SEED=<the seed it printed>. */
const SEED = Number(process.env['XETCD_FAULT_SEED'] ?? Date.now() % 1_000_000);

export function faultTests(title: string, cases: readonly FaultCase[]): void {
  const suite = new FaultSuite(SHORT_SETTINGS);
  afterAll(() => suite.stop(), 60_000);
  describe(title, () => {
    for (const [i, fault] of cases.entries()) {
      it(
        fault.name,
        async () => {
          const r = await suite.run(fault, SEED + i);
          expect(r.problems, `seed ${r.seed}\n${r.notes.join('\n')}`).toEqual([]);
        },
        180_000,
      );
    }
  });
}
