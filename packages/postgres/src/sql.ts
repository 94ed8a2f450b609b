/**
 * The SQL of the key/value table mode, built once per store from validated, quoted identifiers.
 * Every value (keys, JSON, versions) is a bind parameter; nothing a caller passes is ever spliced in.
 */
import { quoteIdentifier, quoteLiteral } from './identifiers.js';
import { type OutboxNames, outboxInsert, outboxMigration } from './outbox-sql.js';

/** Where the records live. */
export interface TableOptions {
  /** The schema. Default `public`. */
  readonly schema?: string | undefined;
  /** The table. Default `writethrough_records`. */
  readonly table?: string | undefined;
  /**
   * The sequence every version is drawn from. Default `<table>_version_seq`, in the same schema.
   * Several tables may share one sequence; a version is still unique per key.
   */
  readonly sequence?: string | undefined;
}

/** The default table name. */
export const DEFAULT_TABLE = 'writethrough_records';
/** The default schema. */
export const DEFAULT_SCHEMA = 'public';

/** The resolved, quoted names of one table. */
export interface TableNames {
  readonly schema: string;
  readonly table: string;
  readonly sequence: string;
  /** `"schema"."table"` */
  readonly qualifiedTable: string;
  /** `"schema"."sequence"` */
  readonly qualifiedSequence: string;
  /** `"schema"."table_tombstones"` (the partial index of tombstones by time). */
  readonly tombstoneIndex: string;
  /** The advisory-lock key text of `migrate`. */
  readonly lockName: string;
  /** The schema and table as given (unquoted, validated). */
  readonly plain: { readonly schema: string; readonly table: string };
}

/** Validates and quotes the names; throws `InvalidArgumentError` for an invalid one. */
export function resolveNames(options: TableOptions = {}): TableNames {
  const schemaName = options.schema ?? DEFAULT_SCHEMA;
  const tableName = options.table ?? DEFAULT_TABLE;
  const sequenceName = options.sequence ?? `${tableName}_version_seq`;
  const schema = quoteIdentifier(schemaName, 'schema');
  const table = quoteIdentifier(tableName, 'table');
  const sequence = quoteIdentifier(
    sequenceName,
    options.sequence === undefined
      ? 'the sequence name derived from the table (pass `sequence`)'
      : 'sequence',
  );
  const tombstoneIndex = quoteIdentifier(
    `${tableName}_tombstones`.slice(0, 63),
    'the tombstone index name derived from the table',
  );
  return {
    schema,
    table,
    sequence,
    qualifiedTable: `${schema}.${table}`,
    qualifiedSequence: `${schema}.${sequence}`,
    tombstoneIndex,
    lockName: `writethrough:migrate:${schemaName}.${tableName}`,
    plain: { schema: schemaName, table: tableName },
  };
}

/**
 * The statements that create the schema, the sequence, the table and its index, each idempotent
 * (`IF NOT EXISTS`). `migrate` runs them in one transaction behind an advisory lock.
 */
export function migrationStatements(names: TableNames): string[] {
  const { schema, qualifiedTable: t, qualifiedSequence: s } = names;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${schema}`,
    `CREATE SEQUENCE IF NOT EXISTS ${s} AS bigint`,
    // One row per key, also after a delete: a deleted key keeps its row as a tombstone
    // (deleted = true, value = JSON null) at the delete's version, so `get` answers that version
    // and every write to the key takes the same row lock.
    `CREATE TABLE IF NOT EXISTS ${t} (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  version bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
    `CREATE INDEX IF NOT EXISTS ${names.tombstoneIndex} ON ${t} (updated_at) WHERE deleted`,
  ];
}

/**
 * The migration as one script behind an advisory lock. `explicit`: wrapped in BEGIN and COMMIT (for
 * psql and migration tools). Without it the script relies on Postgres running a multi-statement
 * simple query as one implicit transaction, which also rolls back entirely on an error instead of
 * leaving the connection inside a failed transaction block (as an explicit BEGIN would).
 */
export function migrationScript(names: TableNames, explicit = false, outbox?: OutboxNames): string {
  return [
    ...(explicit ? ['BEGIN'] : []),
    `SELECT pg_advisory_xact_lock(hashtextextended(${quoteLiteral(names.lockName)}, 0))`,
    ...migrationStatements(names),
    ...(outbox === undefined ? [] : [outboxMigration(outbox)]),
    ...(explicit ? ['COMMIT'] : []),
  ]
    .map((statement) => `${statement};`)
    .join('\n');
}

/** The statements of the store, by operation. */
export interface Statements {
  /** $1 key → value, version, deleted */
  readonly get: string;
  /** $1 text[] of keys → key, value, version, deleted */
  readonly getMany: string;
  /** $1 key, $2 JSON → version */
  readonly set: string;
  /** $1 key, $2 JSON → written, version, deleted (the row as the statement's snapshot saw it) */
  readonly create: string;
  /** $1 key, $2 JSON, $3 expected version → written, version, deleted */
  readonly update: string;
  /** $1 key → written, version, deleted */
  readonly delete: string;
  /** $1 key, $2 expected version → written, version, deleted */
  readonly deleteIf: string;
  /** $1 text[] of keys, $2 jsonb[] of values → key, version */
  readonly setMany: string;
}

/*
 * How versions follow commit order per key.
 *
 * Every version comes from one sequence, and the `nextval` whose result is committed is always
 * evaluated while the writer holds the key's row lock, which it keeps until its commit (every
 * statement here is its own transaction). A later writer of the key can only take that lock after
 * the earlier one committed, so its `nextval` runs after the earlier one's: versions of one key
 * increase in the order the writes commit. Sequences are never rolled back, so no version is ever
 * handed out twice, and a tombstone keeps the row (and its lock) after a delete, so a re-create is
 * one more write to the same row and gets a higher version.
 *
 * - `INSERT … ON CONFLICT (key) DO UPDATE SET version = nextval(…)`: when the key exists, Postgres
 *   first locks the conflicting row (waiting for a writer in flight to commit, then locking the row
 *   as that writer left it) and only then computes the SET list, so `nextval` runs under the lock.
 *   The `nextval` in VALUES is computed before the lock, but it is only kept when the row did not
 *   exist, and then no committed version of the key exists to order against (a concurrent inserter
 *   of the same key waits for this one's commit, then takes the DO UPDATE path with a fresh
 *   `nextval`). Values drawn and not kept leave gaps, which are allowed.
 * - `UPDATE … SET version = nextval(…) WHERE key = $1 AND version = $n`: the SET list is computed
 *   for the row in the statement's snapshot, before the lock; but if any writer changed the row
 *   after that snapshot, the UPDATE waits for it to commit and re-evaluates the row (EvalPlanQual,
 *   the mechanism that makes `SET n = n + 1` safe under READ COMMITTED): the WHERE is checked
 *   against the committed row and the SET list, `nextval` included, is computed again, now under
 *   the lock. A writer that committed before the snapshot drew its `nextval` before it.
 *
 * The conditional statements also read the row as the statement's snapshot saw it (the main query
 * of a statement with a data-modifying WITH does not see that WITH's effects). When nothing was
 * written and that snapshot explains why (another version, or no live row), the call reports it:
 * the snapshot is a moment inside the call. When it does not (a writer committed after the
 * snapshot), the call runs again.
 */
export function statements(names: TableNames, outbox?: OutboxNames): Statements {
  const t = names.qualifiedTable;
  const next = `nextval(${quoteLiteral(names.qualifiedSequence)}::regclass)`;
  // With an outbox, each write statement also inserts its (version, key) row: one statement, so the
  // row commits exactly when the write does.
  const o = outboxInsert(outbox, '$1::text');
  const snapshot = (write: string) =>
    `WITH w AS (${write} RETURNING version)${o}
SELECT (SELECT w.version::text FROM w) AS written, r.version::text AS version, r.deleted
FROM (SELECT 1) AS one LEFT JOIN ${t} AS r ON r.key = $1`;
  const upsert = `INSERT INTO ${t} AS t (key, value, version) VALUES ($1, $2::jsonb, ${next})
ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = ${next}, deleted = false, updated_at = now()`;
  return {
    get: `SELECT value::text AS value, version::text AS version, deleted FROM ${t} WHERE key = $1`,
    getMany: `SELECT key, value::text AS value, version::text AS version, deleted FROM ${t} WHERE key = ANY($1::text[])`,
    set:
      outbox === undefined
        ? `${upsert}
RETURNING version::text AS version`
        : `WITH w AS (${upsert}
RETURNING version)${o}
SELECT version::text AS version FROM w`,
    create: snapshot(`${upsert}
WHERE t.deleted`),
    update: snapshot(
      `UPDATE ${t} SET value = $2::jsonb, version = ${next}, deleted = false, updated_at = now()
WHERE key = $1 AND version = $3 AND NOT deleted`,
    ),
    delete: snapshot(
      `UPDATE ${t} SET value = 'null'::jsonb, version = ${next}, deleted = true, updated_at = clock_timestamp()
WHERE key = $1 AND NOT deleted`,
    ),
    deleteIf: snapshot(
      `UPDATE ${t} SET value = 'null'::jsonb, version = ${next}, deleted = true, updated_at = clock_timestamp()
WHERE key = $1 AND version = $2 AND NOT deleted`,
    ),
    // One statement: every row commits or none does. Keys are distinct (deduplicated before), since
    // ON CONFLICT DO UPDATE refuses to touch a row twice in one statement.
    setMany: (() => {
      const upsertMany = `INSERT INTO ${t} AS t (key, value, version)
SELECT k, v, ${next} FROM unnest($1::text[], $2::jsonb[]) WITH ORDINALITY AS u(k, v, n) ORDER BY n
ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = ${next}, deleted = false, updated_at = now()`;
      return outbox === undefined
        ? `${upsertMany}
RETURNING key, version::text AS version`
        : `WITH w AS (${upsertMany}
RETURNING key, version)${outboxInsert(outbox)}
SELECT key, version::text AS version FROM w`;
    })(),
  };
}
