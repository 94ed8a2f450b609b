import { readdirSync } from 'node:fs';
import pg from 'pg';
import { defineConfig } from 'vitest/config';
// By path, as packages/express does: the package's index imports vitest, which a config file must not.
import {
  missingServer as missing,
  serverTestFiles,
  testPostgresProbe,
} from '../../packages/testing/src/server-gate.ts';
import { chromiumPath } from './test/servers.ts';

/** Test files that need a Postgres server and Redis, and those that need Chromium. */
const NEEDS_SERVERS = /\.servers\.test\.ts$/;
const NEEDS_BROWSER = /\.browser\.test\.ts$/;
const RUN = 'pnpm --filter express-demo test';

export default defineConfig(async () => {
  let files = await serverTestFiles({
    files: readdirSync(new URL('./test', import.meta.url)).filter((f) => f.endsWith('.test.ts')),
    pattern: NEEDS_SERVERS,
    what: 'express-demo',
    run: RUN,
    redis: true,
    postgres: testPostgresProbe(pg.Client),
  });
  const browserFiles = files.filter((f) => NEEDS_BROWSER.test(f));
  if (browserFiles.length > 0 && chromiumPath() === undefined) {
    missing(
      `express-demo (${browserFiles.join(', ')}): no Chromium at /usr/bin/chromium (or CHROMIUM_PATH). ` +
        `Install Debian's: apt-get install -y chromium, then run: ${RUN}`,
    );
    files = files.filter((f) => !NEEDS_BROWSER.test(f));
  }
  return {
    test: {
      include: files.map((f) => `test/${f}`),
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
