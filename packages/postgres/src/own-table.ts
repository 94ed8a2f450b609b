/**
 * The SQL of the own-table mode: the user's table (a key column, a bigint version column, the
 * entity's columns) plus a companion tombstone table `<table>_wt_tombstones(key, version,
 * deleted_at)` that keeps the version of each delete, since a delete removes the user's row.
 *
 * How versions follow commit order per key here. A delete removes the row, so there is no row whose
 * lock every writer of a key takes (a re-create inserts a new row). Instead every write of a key
 * first takes a transaction-level advisory lock on a hash of (table, key), held until its commit,
 * and only then draws `nextval` — both in one expression, `nextval(CASE WHEN
 * pg_advisory_xact_lock(…) IS NULL THEN seq ELSE seq END)`, where the argument (the lock) is
 * necessarily evaluated before the call. A later writer of the key waits for the lock, i.e. for the
 * earlier writer's commit, before it draws: versions of a key increase in commit order, across
 * delete and re-create. A hash collision between two keys only makes them wait for each other.
 * Every write takes the advisory lock before any row lock of the key (an UPDATE or DELETE evaluates
 * it while qualifying the row, before locking it; an INSERT in its SELECT list), so the two kinds of
 * lock cannot deadlock each other.
 */
import { InvalidArgumentError } from '@writethrough/core';
import { quoteIdentifier, quoteLiteral } from './identifiers.js';
import { type OutboxNames, outboxInsert, outboxMigration } from './outbox-sql.js';
import type { Statements } from './sql.js';

/** The Postgres types a key column may have (keys are always strings in the cache). */
export type OwnTableKeyType = 'text' | 'uuid' | 'bigint' | 'integer';

const KEY_TYPES: readonly OwnTableKeyType[] = ['text', 'uuid', 'bigint', 'integer'];

/** Where an own table lives and what the library adds next to it (the options of `migrate` in this mode). */
export interface OwnTableSchemaOptions {
  /** The schema of the table. Default `public`. */
  readonly schema?: string | undefined;
  /** Your table (it must exist; `migrate` does not create it). */
  readonly table: string;
  /** The key column: a primary key or unique column. */
  readonly key: string;
  /**
   * The SQL type of the key column: `text` (default; also right for `varchar`), `uuid`, `bigint`
   * or `integer`. Keys must be in the type's canonical text form (lower-case uuid, decimal without
   * leading zeros or `+`), so that one row has exactly one cache key; others are refused.
   */
  readonly keyType?: OwnTableKeyType | undefined;
  /** The version column (`bigint`). Default `version`. */
  readonly version?: string | undefined;
  /** The sequence of versions. Default `<table>_wt_version_seq`, in the same schema. */
  readonly sequence?: string | undefined;
  /** The companion tombstone table. Default `<table>_wt_tombstones`, in the same schema. */
  readonly tombstones?: string | undefined;
  /**
   * `migrate` also adds the version column when it is missing (`ALTER TABLE … ADD COLUMN IF NOT
   * EXISTS … bigint NOT NULL DEFAULT nextval(…)`, which rewrites the table under an exclusive lock).
   * Default false: `migrate` refuses and names the statement, and `migrationSql` prints it as a comment.
   */
  readonly addVersionColumn?: boolean | undefined;
}

/** The validated, quoted names of an own table. */
export interface OwnTableNames {
  readonly qualifiedTable: string;
  readonly qualifiedSequence: string;
  readonly qualifiedTombstones: string;
  readonly key: string;
  readonly keyType: OwnTableKeyType;
  readonly version: string;
  /** The advisory-lock prefix of a key: `writethrough:"schema"."table":` as a SQL literal. */
  readonly lockPrefix: string;
  /** The advisory-lock key text of `migrate`. */
  readonly migrateLockName: string;
  readonly addVersionColumn: boolean;
  /** `"schema"."table"` unquoted-ish text for `to_regclass` (the quoted form). */
  readonly regclassText: string;
  /** The version column's plain name, for the catalog check. */
  readonly versionName: string;
  /** The schema and table as given (unquoted, validated). */
  readonly plain: { readonly schema: string; readonly table: string };
  /** The index of the tombstone table by `deleted_at` (unqualified: an index lives in its table's schema). */
  readonly tombstonesAgeIndex: string;
}

/** Whether options ask for the own-table mode (they name a key column or columns). */
export function isOwnTable(options: object): boolean {
  const o = options as { key?: unknown; columns?: unknown };
  return o.key !== undefined || o.columns !== undefined;
}

/** Validates and quotes the names of an own table; throws `InvalidArgumentError`. */
export function resolveOwnNames(options: OwnTableSchemaOptions): OwnTableNames {
  const schemaName = options.schema ?? 'public';
  const tableName: unknown = options.table;
  const schema = quoteIdentifier(schemaName, 'schema');
  const table = quoteIdentifier(tableName, 'table (own-table mode needs your table’s name)');
  const keyName: unknown = options.key;
  const key = quoteIdentifier(keyName, 'key column');
  const versionName = options.version ?? 'version';
  const version = quoteIdentifier(versionName, 'version column');
  if (keyName === versionName) throw new InvalidArgumentError('the key and version columns must differ');
  const keyType = options.keyType ?? 'text';
  if (!KEY_TYPES.includes(keyType)) {
    throw new InvalidArgumentError(
      `keyType must be one of ${KEY_TYPES.join(', ')}; got ${JSON.stringify(keyType)}`,
    );
  }
  const sequence = quoteIdentifier(
    options.sequence ?? `${tableName as string}_wt_version_seq`,
    options.sequence === undefined
      ? 'the sequence name derived from the table (pass `sequence`)'
      : 'sequence',
  );
  const tombstones = quoteIdentifier(
    options.tombstones ?? `${tableName as string}_wt_tombstones`,
    options.tombstones === undefined
      ? 'the tombstone table name derived from the table (pass `tombstones`)'
      : 'tombstones',
  );
  const qualifiedTable = `${schema}.${table}`;
  return {
    qualifiedTable,
    qualifiedSequence: `${schema}.${sequence}`,
    qualifiedTombstones: `${schema}.${tombstones}`,
    key,
    keyType,
    version,
    lockPrefix: quoteLiteral(`writethrough:${qualifiedTable}:`),
    migrateLockName: `writethrough:migrate:${schemaName}.${tableName as string}`,
    addVersionColumn: options.addVersionColumn === true,
    regclassText: qualifiedTable,
    versionName,
    plain: { schema: schemaName, table: tableName as string },
    tombstonesAgeIndex: quoteIdentifier(
      `${options.tombstones ?? `${tableName as string}_wt_tombstones`}_age`.slice(0, 63),
      'the tombstone age index name',
    ),
  };
}

/** The mapped columns: value field → column name, validated. */
export interface ColumnMapping {
  /** [field, column] in the order given. */
  readonly pairs: readonly (readonly [string, string])[];
  /** The column names (unquoted, validated). */
  readonly columns: ReadonlySet<string>;
}

/** Validates `columns` (an array of names mapped 1:1, or `{ field: column }`). */
export function resolveColumns(columns: unknown, names: { key: string; version: string }): ColumnMapping {
  let pairs: [string, string][];
  if (Array.isArray(columns)) pairs = columns.map((c) => [c as string, c as string]);
  else if (columns !== null && typeof columns === 'object')
    pairs = Object.entries(columns as Record<string, unknown>).map(([f, c]) => [f, c as string]);
  else
    throw new InvalidArgumentError(
      'own-table mode needs `columns`: an array of column names, or { field: column }',
    );
  if (pairs.length === 0) throw new InvalidArgumentError('`columns` must name at least one column');
  const seen = new Set<string>();
  for (const [, column] of pairs) {
    quoteIdentifier(column, 'a mapped column');
    if (column === names.key || column === names.version) {
      throw new InvalidArgumentError(
        `\`columns\` must not include the key or version column (${JSON.stringify(column)}): the store writes those itself`,
      );
    }
    if (seen.has(column))
      throw new InvalidArgumentError(`the column ${JSON.stringify(column)} is mapped twice`);
    seen.add(column);
  }
  return { pairs, columns: seen };
}

const CANONICAL_KEY: Record<Exclude<OwnTableKeyType, 'text'>, RegExp> = {
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  bigint: /^(?:0|-?[1-9][0-9]{0,18})$/,
  integer: /^(?:0|-?[1-9][0-9]{0,9})$/,
};
const RANGE = {
  bigint: [-(2n ** 63n), 2n ** 63n - 1n],
  integer: [-(2n ** 31n), 2n ** 31n - 1n],
} as const;

/** Refuses a key that is not the canonical text of a `keyType` value. */
export function validateOwnKey(key: string, keyType: OwnTableKeyType): void {
  if (keyType === 'text') return;
  let ok = CANONICAL_KEY[keyType].test(key);
  if (ok && keyType !== 'uuid') {
    const [min, max] = RANGE[keyType];
    const n = BigInt(key);
    ok = n >= min && n <= max;
  }
  if (!ok) {
    throw new InvalidArgumentError(
      `the key ${JSON.stringify(key)} is not a canonical ${keyType} (${keyType === 'uuid' ? 'lower-case, hyphenated' : 'decimal, no leading zeros or +, in range'}): one row must have exactly one key`,
      { key },
    );
  }
}

/** `jsonb_build_object` over the mapped columns of alias `r`, in chunks (a function takes at most 100 arguments). */
function rowJson(alias: string, columns: readonly string[]): string {
  const chunks: string[] = [];
  for (let i = 0; i < columns.length; i += 50) {
    const args = columns
      .slice(i, i + 50)
      .map((c) => `${quoteLiteral(c)}, ${alias}.${quoteIdentifier(c, 'column')}`)
      .join(', ');
    chunks.push(`jsonb_build_object(${args})`);
  }
  return `(${chunks.join(' || ')})::text`;
}

/**
 * The statements of the own-table mode, with the same parameters and answer columns as the
 * key/value mode's (`Statements`): `value` is the JSON object of the mapped columns, `deleted` true
 * when the row is absent (then `version` is the tombstone's, or null).
 */
export function ownStatements(
  names: OwnTableNames,
  columns: readonly string[],
  outbox?: OutboxNames,
): Statements {
  const t = names.qualifiedTable;
  const b = names.qualifiedTombstones;
  const k = names.key;
  const v = names.version;
  const kt = names.keyType;
  const seq = quoteLiteral(names.qualifiedSequence);
  /** Takes the key's advisory lock (until commit), then draws a version. */
  const next = (keyText: string) =>
    `nextval(CASE WHEN pg_advisory_xact_lock(hashtextextended(${names.lockPrefix} || ${keyText}, 0)) IS NULL THEN ${seq}::regclass ELSE ${seq}::regclass END)`;
  const cols = columns.map((c) => quoteIdentifier(c, 'column'));
  const colList = cols.join(', ');
  const fromP = cols.map((c) => `p.${c}`).join(', ');
  const setExcluded = cols.map((c) => `${c} = excluded.${c}`).join(', ');
  const setFromP = cols.map((c) => `${c} = p.${c}`).join(', ');
  const populate = (json: string) => `jsonb_populate_record(NULL::${t}, ${json}) AS p`;
  const read = (keyExpr: string) =>
    `(SELECT 1) AS one LEFT JOIN ${t} AS r ON r.${k} = ${keyExpr} LEFT JOIN ${b} AS b ON b.key = ${keyExpr}`;
  const answer = `COALESCE(r.${v}, b.version)::text AS version, (r.${k} IS NULL) AS deleted`;
  // With an outbox, each write statement also inserts its (version, key) row (see outbox-sql.ts).
  const o = outboxInsert(outbox, '$1::text');
  const snapshot = (withs: string) =>
    `WITH ${withs}${o}
SELECT (SELECT w.version::text FROM w) AS written, ${answer}
FROM ${read(`$1::${kt}`)}`;
  const insert = (json: string) => `INSERT INTO ${t} AS t (${k}, ${v}, ${colList})
SELECT $1::${kt}, ${next('$1::text')}, ${fromP} FROM ${populate(json)}`;
  const deleteWith = (condition: string) =>
    `v AS MATERIALIZED (SELECT ${next('$1::text')} AS version),
d AS (DELETE FROM ${t} WHERE ${k} = $1::${kt}${condition} AND (SELECT v.version FROM v) IS NOT NULL RETURNING ${k}),
w AS (INSERT INTO ${b} AS b (key, version, deleted_at) SELECT d.${k}, v.version, clock_timestamp() FROM d CROSS JOIN v
  ON CONFLICT (key) DO UPDATE SET version = excluded.version, deleted_at = clock_timestamp() RETURNING version)`;
  return {
    get: `SELECT ${rowJson('r', columns)} AS value, ${answer}
FROM ${read(`$1::${kt}`)} WHERE r.${k} IS NOT NULL OR b.key IS NOT NULL`,
    getMany: `SELECT u.k AS key, ${rowJson('r', columns)} AS value, ${answer}
FROM unnest($1::text[]) AS u(k) LEFT JOIN ${t} AS r ON r.${k} = u.k::${kt} LEFT JOIN ${b} AS b ON b.key = u.k::${kt}
WHERE r.${k} IS NOT NULL OR b.key IS NOT NULL`,
    // The version drawn in the SELECT list (under the key's lock) is kept on either path.
    set:
      outbox === undefined
        ? `${insert('$2::jsonb')}
ON CONFLICT (${k}) DO UPDATE SET ${v} = excluded.${v}, ${setExcluded}
RETURNING ${v}::text AS version`
        : `WITH w AS (${insert('$2::jsonb')}
ON CONFLICT (${k}) DO UPDATE SET ${v} = excluded.${v}, ${setExcluded}
RETURNING ${v} AS version)${o}
SELECT version::text AS version FROM w`,
    create: snapshot(`w AS (${insert('$2::jsonb')}
ON CONFLICT (${k}) DO NOTHING RETURNING ${v} AS version)`),
    update:
      snapshot(`w AS (UPDATE ${t} AS t SET ${v} = ${next('$1::text')}, ${setFromP} FROM ${populate('$2::jsonb')}
WHERE t.${k} = $1::${kt} AND t.${v} = $3 RETURNING t.${v} AS version)`),
    delete: snapshot(deleteWith('')),
    deleteIf: snapshot(deleteWith(` AND ${v} = $2`)),
    setMany: (() => {
      const upsertMany = `INSERT INTO ${t} AS t (${k}, ${v}, ${colList})
SELECT u.k::${kt}, ${next('u.k')}, ${fromP}
FROM unnest($1::text[], $2::jsonb[]) WITH ORDINALITY AS u(k, j, n) CROSS JOIN LATERAL ${populate('u.j')} ORDER BY u.n
ON CONFLICT (${k}) DO UPDATE SET ${v} = excluded.${v}, ${setExcluded}`;
      return outbox === undefined
        ? `${upsertMany}
RETURNING ${k}::text AS key, ${v}::text AS version`
        : `WITH w AS (${upsertMany}
RETURNING ${k}::text AS key, ${v} AS version)${outboxInsert(outbox)}
SELECT key, version::text AS version FROM w`;
    })(),
  };
}

/** The statement that adds the version column (printed, or run by `migrate` with `addVersionColumn`). */
export function addVersionColumnSql(names: OwnTableNames): string {
  return `ALTER TABLE ${names.qualifiedTable} ADD COLUMN IF NOT EXISTS ${names.version} bigint NOT NULL DEFAULT nextval(${quoteLiteral(names.qualifiedSequence)}::regclass)`;
}

/**
 * The migration of the own-table mode: the sequence and the tombstone table (each `IF NOT
 * EXISTS`), and the version column when `addVersionColumn` (else, with `explicit`, as a comment).
 */
export function ownMigrationScript(names: OwnTableNames, explicit = false, outbox?: OutboxNames): string {
  const lines = [
    ...(explicit ? ['BEGIN;'] : []),
    `SELECT pg_advisory_xact_lock(hashtextextended(${quoteLiteral(names.migrateLockName)}, 0));`,
    `CREATE SEQUENCE IF NOT EXISTS ${names.qualifiedSequence} AS bigint;`,
    names.addVersionColumn
      ? `${addVersionColumnSql(names)};`
      : explicit
        ? `-- Your table needs a bigint version column; add it (or pass addVersionColumn: true):\n-- ${addVersionColumnSql(names)};`
        : '',
    // One row per deleted key: the version of its latest delete. Kept after a re-create (the
    // live row then answers, with a higher version); old ones go with purgeTombstones.
    `CREATE TABLE IF NOT EXISTS ${names.qualifiedTombstones} (
  key ${names.keyType} PRIMARY KEY,
  version bigint NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now()
);`,
    // purgeTombstones reads the oldest first.
    `CREATE INDEX IF NOT EXISTS ${names.tombstonesAgeIndex} ON ${names.qualifiedTombstones} (deleted_at);`,
    ...(outbox === undefined ? [] : [`${outboxMigration(outbox)};`]),
    ...(explicit ? ['COMMIT;'] : []),
  ];
  return lines.filter((line) => line !== '').join('\n');
}
