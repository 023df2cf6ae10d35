import { defineConfig } from 'vitest/config';

// Benchmarks are not tests: they run only with `npm run bench`, one file at a time, and print figures.
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ['verbose'],
  },
});
