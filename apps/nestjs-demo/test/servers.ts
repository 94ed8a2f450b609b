/** Where the server tests find Postgres (imported by vitest.config.ts too: no package imports). */

/** The test Postgres as a URL: `DATABASE_URL`, else 127.0.0.1:5432 database `test`. */
export function postgresUrl(): string {
  return process.env.DATABASE_URL || `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/test`;
}
