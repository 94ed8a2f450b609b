import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
import { serverConfig, serverDescription } from './test/server-config.ts';

/** Test files that need a Postgres server (the others use PGlite or nothing, and always run). */
const NEEDS_SERVER = /\.pg\.test\.ts$/;

/** Whether the test server answers `SELECT 1` within 3 s; the reason when it does not. */
async function serverReason(): Promise<string | undefined> {
  const client = new pg.Client({ ...serverConfig(), connectionTimeoutMillis: 3_000 });
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
  const serverFiles = files.filter((f) => NEEDS_SERVER.test(f));
  const reason = serverFiles.length > 0 ? await serverReason() : undefined;
  let include = files;
  if (reason !== undefined) {
    // DESIGN §6: with CI=true a missing server fails the run; on a laptop the server-backed files are
    // skipped by name, loudly, with the line that runs them, and the PGlite files still run.
    const message =
      `@writethrough/postgres (${serverFiles.join(', ')}): no Postgres at ${serverDescription()} (${reason}). ` +
      'Start one (apt-get install postgresql, brew install postgresql) or set DATABASE_URL, then run: ' +
      'pnpm --filter @writethrough/postgres test';
    if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
    console.warn(`\n  SKIPPED — ${message}\n`);
    include = files.filter((f) => !NEEDS_SERVER.test(f));
  }
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
