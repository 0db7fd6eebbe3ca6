import { defineConfig } from 'vitest/config';

/**
 * The tests the mutation campaign runs against each mutant of the Raft core
 * (stryker.config.json): the raft unit tests, the role chart's tests and a
 * short simulation.
 */
export default defineConfig({
  test: {
    include: [
      'test/unit/raft/**/*.test.ts',
      'test/unit/machines/raft-role*.test.ts',
      'test/sim/short.sim.ts',
    ],
    testTimeout: 120_000,
  },
});
