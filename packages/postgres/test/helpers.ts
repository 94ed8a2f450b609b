/**
 * Test helpers: the server the tests use (`DATABASE_URL`, else 127.0.0.1:5432 database `test` as
 * `PGUSER` or `postgres`), a throwaway schema per test file, and a PGlite per file.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import {
  testPostgresConfig as serverConfig,
  testPostgresWhere as serverDescription,
} from '@writethrough/testing';
import pg from 'pg';
import { migrate, type PostgresRecordsOptions, postgresRecords } from '../src/index.ts';

export { serverConfig, serverDescription };

/** A fresh pool on the test server. */
export function newPool(max = 10): pg.Pool {
  const pool = new pg.Pool({ ...serverConfig(), max });
  // An idle client whose backend is terminated emits 'error' on the pool; the tests that do this expect it.
  pool.on('error', () => {});
  return pool;
}

/** A random schema name, unique per test file run. */
export function randomSchema(): string {
  return `wt_test_${randomBytes(6).toString('hex')}`;
}

/** A schema of its own on the test server: created and migrated by `setup`, dropped by `teardown`. */
export function serverSchema(options: { table?: string; migrate?: boolean } = {}) {
  const schema = randomSchema();
  const table = options.table ?? 'records';
  let pool: pg.Pool | undefined;
  return {
    schema,
    table,
    get pool(): pg.Pool {
      if (pool === undefined) throw new Error('serverSchema: setup() was not called');
      return pool;
    },
    /** Creates the schema, and migrates `table` in it unless `migrate: false`. */
    async setup(): Promise<void> {
      pool = newPool();
      if (options.migrate === false) await pool.query(`CREATE SCHEMA "${schema}"`);
      else await migrate(pool, { schema, table });
    },
    async teardown(): Promise<void> {
      if (pool === undefined) return;
      try {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await pool.end();
      }
    },
    store<V = unknown>(extra: Partial<PostgresRecordsOptions> = {}) {
      return postgresRecords<V>({ client: this.pool, schema, table, ...extra });
    },
  };
}

/** An in-memory PGlite, migrated. */
export async function newPglite(options: { schema?: string; table?: string } = {}): Promise<PGlite> {
  const db = new PGlite();
  await migrate(db, options);
  return db;
}
