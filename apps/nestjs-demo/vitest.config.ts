import { readdirSync } from 'node:fs';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
// By path, as the other apps do: the package's index imports vitest, which a config file must not.
import { serverTestFiles, testPostgresProbe } from '../../packages/testing/src/server-gate.ts';

export default defineConfig(async () => {
  // Test files that need a Postgres server and Redis.
  const files = await serverTestFiles({
    files: readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts')),
    pattern: /\.servers\.test\.ts$/,
    what: 'nestjs-demo',
    run: 'pnpm --filter nestjs-demo test',
    redis: true,
    postgres: testPostgresProbe(pg.Client),
  });
  return {
    test: {
      include: files.map((f) => `test/${f}`),
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
