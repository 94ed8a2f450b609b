import { defineConfig } from 'vitest/config';

// npm install in a fresh project fetches the packages' third-party dependencies (and vitest): allow minutes.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
