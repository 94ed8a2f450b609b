import { readdirSync } from 'node:fs';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
// By path, as the other apps do: the package's index imports vitest, which a config file must not.
import { redisTestsAvailable } from '../../packages/testing/src/redis-server.ts';
import { postgresUrl } from './test/servers.ts';

/** Test files that need a Postgres server and Redis. */
const NEEDS_SERVERS = /\.servers\.test\.ts$/;
const RUN = 'pnpm --filter nestjs-demo test';

/** Whether the test Postgres answers `SELECT 1` within 3 s; the reason when it does not. */
async function postgresReason(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: postgresUrl(), connectionTimeoutMillis: 3_000 });
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
  let files = readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts'));
  const serverFiles = files.filter((f) => NEEDS_SERVERS.test(f));
  if (serverFiles.length > 0) {
    const what = `nestjs-demo (${serverFiles.join(', ')})`;
    // DESIGN §6: with CI=true a missing server fails the run (redisTestsAvailable throws, and so
    // does the Postgres check below); without it these files are skipped by name, loudly.
    const redis = await redisTestsAvailable(what, { run: RUN });
    const reason = await postgresReason();
    if (reason !== undefined) {
      const message =
        `${what}: no Postgres at ${process.env.DATABASE_URL ? 'DATABASE_URL' : '127.0.0.1:5432 database test'} ` +
        `(${reason}). Start one (apt-get install postgresql) or set DATABASE_URL, then run: ${RUN}`;
      if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
      console.warn(`\n  SKIPPED — ${message}\n`);
    }
    if (redis.skip || reason !== undefined) files = files.filter((f) => !NEEDS_SERVERS.test(f));
  }
  return {
    test: {
      include: files.map((f) => `test/${f}`),
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
