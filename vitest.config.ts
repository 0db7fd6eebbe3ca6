import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Records the processes helpers start; stops any a killed worker left behind.
    globalSetup: ['test/globalSetup.ts'],
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'machines/**/*.test.ts'],
    // Two cores: real-process tests share them, so keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
