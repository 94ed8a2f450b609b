import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
import { serverTestFiles, testPostgresProbe } from '../testing/src/server-gate.ts';

export default defineConfig(async () => {
  // Test files that need a Postgres server (the others use PGlite or nothing, and always run).
  const include = await serverTestFiles({
    files: readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts')),
    pattern: /\.pg\.test\.ts$/,
    what: '@writethrough/postgres',
    run: 'pnpm --filter @writethrough/postgres test',
    postgres: testPostgresProbe(pg.Client),
  });
  return {
    resolve: {
      // Tests run against the sources of core and testing, so a change there needs no build to be seen here.
      alias: {
        '@writethrough/core': fileURLToPath(new URL('../core/src/index.ts', import.meta.url)),
        '@writethrough/testing': fileURLToPath(new URL('../testing/src/index.ts', import.meta.url)),
        '@writethrough/redis': fileURLToPath(new URL('../redis/src/index.ts', import.meta.url)),
      },
    },
    test: {
      include: include.map((f) => `test/${f}`),
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
