/** Where the tests find Postgres (imported by vitest.config.ts too, so it imports nothing of the package). */
import type pg from 'pg';

/** The connection settings of the test server. */
export function serverConfig(): pg.PoolConfig {
  const url = process.env.DATABASE_URL;
  if (url) return { connectionString: url };
  return { host: '127.0.0.1', port: 5432, database: 'test', user: process.env.PGUSER ?? 'postgres' };
}

/** Where the tests look for Postgres, for messages. */
export function serverDescription(): string {
  return process.env.DATABASE_URL
    ? 'DATABASE_URL'
    : `127.0.0.1:5432 database test as ${process.env.PGUSER ?? 'postgres'}`;
}
