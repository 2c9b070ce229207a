// Vitest: unit tests of pure logic (test/unit) and SDK tests against the real server (test/server).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/server/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The server tests start one streamgate each; keep the 2-core machine unhurried.
    fileParallelism: false,
  },
});
