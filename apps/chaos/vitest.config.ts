import { readdirSync } from 'node:fs';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
// By path: the testing package's index imports vitest, which a config file must not.
import { serverTestFiles, testPostgresProbe } from '../../packages/testing/src/server-gate.ts';

/** Test files that need Postgres and redis-server (the others are pure: the checkers, the history). */
const NEEDS_SERVERS = /\.servers\.test\.ts$/;

export default defineConfig(async () => {
  const files = await serverTestFiles({
    files: readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts')),
    pattern: NEEDS_SERVERS,
    what: '@writethrough/chaos',
    run: 'pnpm --filter @writethrough/chaos test',
    redis: true,
    postgres: testPostgresProbe(pg.Client),
  });
  return {
    test: {
      include: files.map((f) => `test/${f}`),
      testTimeout: 30_000,
      hookTimeout: 60_000,
      // The server tests each run three instance processes on two cores: one file at a time.
      fileParallelism: false,
    },
  };
});
