import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
import { redisTestsAvailable } from '../testing/src/redis-server.ts';
import { postgresConfig, postgresDescription } from './test/server-config.ts';

/** Test files that need a Postgres server and Redis (the others run on the in-memory adapters). */
const NEEDS_SERVERS = /\.servers\.test\.ts$/;
const RUN = 'pnpm --filter @writethrough/nestjs test';

/** Whether the test Postgres answers `SELECT 1` within 3 s; the reason when it does not. */
async function postgresReason(): Promise<string | undefined> {
  const client = new pg.Client({ ...postgresConfig(), connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

export default defineConfig(async () => {
  const files = readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts'));
  const serverFiles = files.filter((f) => NEEDS_SERVERS.test(f));
  let include = files;
  if (serverFiles.length > 0) {
    const what = `@writethrough/nestjs (${serverFiles.join(', ')})`;
    // DESIGN §6: with CI=true a missing server fails the run (redisTestsAvailable throws, and so
    // does the Postgres check below); on a laptop these files are skipped by name, loudly.
    const redis = await redisTestsAvailable(what, { run: RUN });
    const reason = await postgresReason();
    if (reason !== undefined) {
      const message =
        `${what}: no Postgres at ${postgresDescription()} (${reason}). Start one (apt-get install postgresql, ` +
        `brew install postgresql) or set DATABASE_URL, then run: ${RUN}`;
      if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
      console.warn(`\n  SKIPPED — ${message}\n`);
    }
    if (redis.skip || reason !== undefined) include = files.filter((f) => !NEEDS_SERVERS.test(f));
  }
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
