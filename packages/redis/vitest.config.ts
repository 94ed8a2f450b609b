import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run against the sources of core and testing, so a change there needs no build to be seen here.
    alias: {
      '@writethrough/core': fileURLToPath(new URL('../core/src/index.ts', import.meta.url)),
      '@writethrough/testing': fileURLToPath(new URL('../testing/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The fault tests start and kill their own redis-server processes: one file at a time.
    fileParallelism: false,
  },
});
