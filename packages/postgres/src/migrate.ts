/**
 * `migrate`: creates the schema, the sequence, the table and its index, idempotently, in one
 * transaction behind an advisory lock (so concurrent migrations of the same table wait for each
 * other). `migrationSql`: the same SQL as text, for teams that run their own migrations.
 */
import { RecordStoreError } from '@writethrough/core';
import { classifyPostgresError, sqlStateOf } from './classify.js';
import { migrationScript, resolveNames, type TableOptions } from './sql.js';

/** A client `migrate` can run a multi-statement script on: PGlite's `exec`, or `query(text)` (pg's simple protocol). */
export interface MigrationClient {
  query(text: string, params?: unknown[]): Promise<unknown>;
  exec?(text: string): Promise<unknown>;
}

/** Options of `migrate` and `migrationSql`: where the records live. */
export type MigrationOptions = TableOptions;

/**
 * The migration as SQL text: `BEGIN`, an advisory lock, `CREATE SCHEMA / SEQUENCE / TABLE / INDEX
 * IF NOT EXISTS`, `COMMIT`. Running it twice changes nothing.
 */
export function migrationSql(options: MigrationOptions = {}): string {
  return `${migrationScript(resolveNames(options), true)}\n`;
}

/**
 * Creates what `postgresRecords` needs (idempotent). With a pg.Pool or pg.Client the script goes as
 * one simple-protocol query (no parameters), with PGlite through `exec`; either way one implicit
 * transaction, rolled back entirely on an error.
 */
export async function migrate(client: MigrationClient, options: MigrationOptions = {}): Promise<void> {
  const script = migrationScript(resolveNames(options));
  try {
    if (typeof client.exec === 'function') await client.exec(script);
    else await client.query(script);
  } catch (error) {
    const { retryable } = classifyPostgresError(error, { write: false });
    const state = sqlStateOf(error);
    throw new RecordStoreError(
      `migrate failed: ${state === undefined ? '' : `[${state}] `}${error instanceof Error ? error.message : String(error)}`,
      { cause: error, retryable, outcome: 'failed' },
    );
  }
}
