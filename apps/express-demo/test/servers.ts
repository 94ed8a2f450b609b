/** Where the tests find Postgres, Redis and Chromium (imported by vitest.config.ts too: no package imports). */
import { existsSync } from 'node:fs';

/** The test Postgres as a URL: `DATABASE_URL`, else 127.0.0.1:5432 database `test`. */
export function postgresUrl(): string {
  return process.env.DATABASE_URL || `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/test`;
}

/** Debian's Chromium (`apt-get install chromium`), or `CHROMIUM_PATH`; undefined when there is none. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}
