import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Simulated runs go last: the fault scenarios that generate schedules
 * (faults.test.ts), then the short simulation. A mutant the unit tests kill
 * stops there (Stryker bails at the first failure), so one killed by a
 * simulated run is one the unit tests let through: a rule the simulation
 * alone guards.
 */
class UnitTestsFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number =>
      f.moduleId.endsWith('.sim.ts') ? 2 : f.moduleId.endsWith('/faults.test.ts') ? 1 : 0;
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * The tests the mutation campaign runs against each mutant of the Raft core
 * (stryker.config.json): the raft unit tests, the role chart's tests and a
 * short simulation.
 */
export default defineConfig({
  test: {
    include: ['test/unit/raft/**/*.test.ts', 'test/unit/machines/raftRole*.test.ts', 'test/sim/short.sim.ts'],
    testTimeout: 120_000,
    sequence: { sequencer: UnitTestsFirst },
  },
});
