import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { redisTestsAvailable } from '../testing/src/redis-server.ts';

/** Test files that start redis-server processes of their own (they need the binary, not just a server). */
const STARTS_SERVERS = /(faults|cluster)\.test\.ts$/;

export default defineConfig(async () => {
  const files = readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts'));
  // DESIGN §6: without a server, on a laptop, these tests are skipped by name with the line that would
  // run them; with CI=true a missing server throws here and the run fails.
  const own = await redisTestsAvailable(
    `@writethrough/redis (${files.filter((f) => STARTS_SERVERS.test(f)).join(', ')})`,
    { needBinary: true },
  );
  const any = own.skip
    ? await redisTestsAvailable(
        `@writethrough/redis (${files.filter((f) => !STARTS_SERVERS.test(f)).join(', ')})`,
      )
    : own;
  const include = any.skip ? [] : own.skip ? files.filter((f) => !STARTS_SERVERS.test(f)) : files;
  return {
    resolve: {
      // Tests run against the sources of core and testing, so a change there needs no build to be seen here.
      alias: {
        '@writethrough/core': fileURLToPath(new URL('../core/src/index.ts', import.meta.url)),
        '@writethrough/testing': fileURLToPath(new URL('../testing/src/index.ts', import.meta.url)),
      },
    },
    test: {
      include: include.map((f) => `test/${f}`),
      passWithNoTests: any.skip,
      testTimeout: 30_000,
      hookTimeout: 60_000,
      // The fault tests start and kill their own redis-server processes: one file at a time.
      fileParallelism: false,
    },
  };
});
