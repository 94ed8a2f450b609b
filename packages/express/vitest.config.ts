import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
import { serverTestFiles, testPostgresProbe } from '../testing/src/server-gate.ts';

export default defineConfig(async () => {
  // Test files that need a Postgres server and Redis (the others run on the in-memory adapters).
  const include = await serverTestFiles({
    files: readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts')),
    pattern: /\.servers\.test\.ts$/,
    what: '@writethrough/express',
    run: 'pnpm --filter @writethrough/express test',
    redis: true,
    postgres: testPostgresProbe(pg.Client),
  });
  return {
    resolve: {
      // Tests run against the sources of core and testing, so a change there needs no build to be seen here.
      alias: [
        {
          find: /^@writethrough\/core\/prometheus$/,
          replacement: fileURLToPath(new URL('../core/src/prometheus.ts', import.meta.url)),
        },
        {
          find: /^@writethrough\/core$/,
          replacement: fileURLToPath(new URL('../core/src/index.ts', import.meta.url)),
        },
        {
          find: /^@writethrough\/testing$/,
          replacement: fileURLToPath(new URL('../testing/src/index.ts', import.meta.url)),
        },
      ],
    },
    test: {
      include: include.map((f) => `test/${f}`),
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
