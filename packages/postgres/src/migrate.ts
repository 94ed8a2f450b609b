/**
 * `migrate`: creates the schema, the sequence, the table and its index, idempotently, in one
 * transaction behind an advisory lock (so concurrent migrations of the same table wait for each
 * other). `migrationSql`: the same SQL as text, for teams that run their own migrations.
 */
import { RecordStoreError } from '@writethrough/core';
import { classifyPostgresError, sqlStateOf } from './classify.js';
import { type OutboxOptions, resolveOutbox } from './outbox-sql.js';
import {
  addVersionColumnSql,
  isOwnTable,
  type OwnTableSchemaOptions,
  ownMigrationScript,
  resolveOwnNames,
} from './own-table.js';
import { migrationScript, resolveNames, type TableOptions } from './sql.js';

/** A client `migrate` can run a multi-statement script on: PGlite's `exec`, or `query(text)` (pg's simple protocol). */
export interface MigrationClient {
  query(text: string, params?: unknown[]): Promise<unknown>;
  exec?(text: string): Promise<unknown>;
}

/**
 * Options of `migrate` and `migrationSql`: where the records live. The key/value mode's
 * `TableOptions`, or the own-table mode's options (they name a `key` column; the same object you
 * pass to `postgresRecords` works).
 */
export type MigrationOptions = (TableOptions | OwnTableSchemaOptions) & {
  /** Also creates the transactional outbox table (see `postgresRecords`'s `outbox`). */
  readonly outbox?: boolean | OutboxOptions | undefined;
};

/**
 * The migration as SQL text: `BEGIN`, an advisory lock, `CREATE SCHEMA / SEQUENCE / TABLE / INDEX
 * IF NOT EXISTS`, `COMMIT`. Running it twice changes nothing.
 */
export function migrationSql(options: MigrationOptions = {}): string {
  if (isOwnTable(options)) {
    const names = resolveOwnNames(options as OwnTableSchemaOptions);
    return `${ownMigrationScript(names, true, resolveOutbox(options.outbox, names.plain))}\n`;
  }
  const names = resolveNames(options as TableOptions);
  return `${migrationScript(names, true, resolveOutbox(options.outbox, names.plain))}\n`;
}

/**
 * Creates what `postgresRecords` needs (idempotent). With a pg.Pool or pg.Client the script goes as
 * one simple-protocol query (no parameters), with PGlite through `exec`; either way one implicit
 * transaction, rolled back entirely on an error.
 */
export async function migrate(client: MigrationClient, options: MigrationOptions = {}): Promise<void> {
  if (isOwnTable(options)) return migrateOwnTable(client, options as OwnTableSchemaOptions, options.outbox);
  const names = resolveNames(options as TableOptions);
  await run(client, migrationScript(names, false, resolveOutbox(options.outbox, names.plain)));
}

/**
 * The own-table mode: your table must exist. Creates the sequence and the tombstone table; the
 * version column only with `addVersionColumn` — without it a missing version column is refused,
 * with the statement that adds it in the message.
 */
async function migrateOwnTable(
  client: MigrationClient,
  options: OwnTableSchemaOptions,
  outboxOption: MigrationOptions['outbox'],
): Promise<void> {
  const names = resolveOwnNames(options);
  const outbox = resolveOutbox(outboxOption, names.plain);
  let found: { has_table: unknown; has_version: unknown } | undefined;
  try {
    const result = (await client.query(
      `SELECT to_regclass($1) IS NOT NULL AS has_table,
  EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped) AS has_version`,
      [names.regclassText, names.versionName],
    )) as { rows: { has_table: unknown; has_version: unknown }[] };
    found = result.rows[0];
  } catch (error) {
    throw migrateError(error);
  }
  if (!isTrue(found?.has_table)) {
    throw new RecordStoreError(
      `migrate: the table ${names.qualifiedTable} does not exist; in the own-table mode it is yours to create`,
      { retryable: false, outcome: 'failed' },
    );
  }
  if (!isTrue(found?.has_version) && !names.addVersionColumn) {
    throw new RecordStoreError(
      `migrate: the table ${names.qualifiedTable} has no version column ${names.version}. Add it (after the sequence exists; it rewrites the table), or pass addVersionColumn: true:\n${addVersionColumnSql(names)};`,
      { retryable: false, outcome: 'failed' },
    );
  }
  await run(client, ownMigrationScript(names, false, outbox));
}

function isTrue(value: unknown): boolean {
  return value === true || value === 't' || value === 'true';
}

function migrateError(error: unknown): RecordStoreError {
  const { retryable } = classifyPostgresError(error, { write: false });
  const state = sqlStateOf(error);
  return new RecordStoreError(
    `migrate failed: ${state === undefined ? '' : `[${state}] `}${error instanceof Error ? error.message : String(error)}`,
    { cause: error, retryable, outcome: 'failed' },
  );
}

async function run(client: MigrationClient, script: string): Promise<void> {
  try {
    if (typeof client.exec === 'function') await client.exec(script);
    else await client.query(script);
  } catch (error) {
    throw migrateError(error);
  }
}
