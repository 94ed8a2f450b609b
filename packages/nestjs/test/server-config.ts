/** Where the server tests find Postgres and Redis (imported by vitest.config.ts too: no package imports). */

/** Connection settings of the test Postgres: `DATABASE_URL`, else 127.0.0.1:5432 database `test`. */
export function postgresConfig():
  | { connectionString: string }
  | { host: string; port: number; database: string; user: string } {
  const url = process.env.DATABASE_URL;
  if (url) return { connectionString: url };
  return { host: '127.0.0.1', port: 5432, database: 'test', user: process.env.PGUSER ?? 'postgres' };
}

/** Where the tests look for Postgres, for messages. */
export function postgresDescription(): string {
  return process.env.DATABASE_URL
    ? 'DATABASE_URL'
    : `127.0.0.1:5432 database test as ${process.env.PGUSER ?? 'postgres'}`;
}
