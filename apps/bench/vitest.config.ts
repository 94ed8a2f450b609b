import { defineConfig } from 'vitest/config';

// Only the pure parts of the benchmarks are tested here (charts, RESULTS.md, the baselines' logic
// on in-memory fakes): no server, no timing. The benchmarks themselves run with `pnpm start`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 10_000,
  },
});
