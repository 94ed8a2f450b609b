/**
 * The SQL of the transactional outbox: a table `<table>_wt_outbox(version, key, created_at)` beside
 * the records, one row per committed write, inserted by the write's own statement (a data-modifying
 * WITH), so the row exists exactly when the write committed.
 */
import { InvalidArgumentError } from '@writethrough/core';
import { quoteIdentifier, quoteLiteral } from './identifiers.js';

/** How the outbox is named and kept. `true` takes every default. */
export interface OutboxOptions {
  /** The outbox table, in the records' schema. Default `<table>_wt_outbox`. */
  readonly table?: string | undefined;
  /**
   * How often this instance deletes the rows of writes the engine reported as settled (every tier
   * held them), ms. Default 250. The relay applies only rows older than its `graceMs`, so this must
   * stay well below that.
   */
  readonly cleanupIntervalMs?: number | undefined;
  /**
   * At most this many settled rows wait for the cleanup; beyond it they are left to the relay
   * (which applies them once more, harmlessly). Default 100 000.
   */
  readonly maxPendingCleanup?: number | undefined;
}

/** The resolved names of an outbox. */
export interface OutboxNames {
  /** `"schema"."table_wt_outbox"` */
  readonly qualified: string;
  /** The advisory-lock key text of the relay's leader. */
  readonly leaderLockName: string;
}

/** Whether options enable the outbox, and its names; undefined when they do not. */
export function resolveOutbox(
  outbox: unknown,
  where: { schema: string; table: string },
): OutboxNames | undefined {
  if (outbox === undefined || outbox === false) return undefined;
  if (outbox !== true && (outbox === null || typeof outbox !== 'object' || Array.isArray(outbox))) {
    throw new InvalidArgumentError(
      `outbox must be true, false or { table?, cleanupIntervalMs?, maxPendingCleanup? }; got ${JSON.stringify(outbox)}`,
    );
  }
  const options = outbox === true ? {} : (outbox as OutboxOptions);
  const name = options.table ?? `${where.table}_wt_outbox`;
  const table = quoteIdentifier(
    name,
    options.table === undefined
      ? 'the outbox table name derived from the table (pass outbox.table)'
      : 'outbox.table',
  );
  const schema = quoteIdentifier(where.schema, 'schema');
  return outboxNamesOf(`${schema}.${table}`);
}

/** The names of an outbox from its quoted `"schema"."table"`. */
export function outboxNamesOf(qualified: string): OutboxNames {
  return { qualified, leaderLockName: `writethrough:outbox:${qualified}` };
}

/** The statement that creates the outbox table (idempotent). */
export function outboxMigration(names: OutboxNames): string {
  // version is unique across the table's keys (one sequence), so it is the primary key; rows are
  // short-lived (a queue), read oldest first by version.
  return `CREATE TABLE IF NOT EXISTS ${names.qualified} (
  version bigint PRIMARY KEY,
  key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
)`;
}

/**
 * The WITH item that records the write `w` (with columns `version` and, when `keyExpr` is
 * undefined, `key`) in the outbox, or '' without an outbox.
 */
export function outboxInsert(names: OutboxNames | undefined, keyExpr?: string): string {
  if (names === undefined) return '';
  const key = keyExpr ?? 'w.key';
  return `,
o AS (INSERT INTO ${names.qualified} (version, key) SELECT w.version, ${key} FROM w)`;
}

/** The relay's statements. */
export interface OutboxStatements {
  /** $1 grace ms, $2 limit → key, version (text), oldest first */
  readonly pending: string;
  /** $1 bigint[] of versions (array literal) → deleted rows */
  readonly remove: string;
  /** → got: this session now holds (or already held) the leader lock */
  readonly tryLead: string;
  /** → released */
  readonly unlead: string;
  /** → count of rows (any age) */
  readonly count: string;
}

export function outboxStatements(names: OutboxNames): OutboxStatements {
  const lock = `hashtextextended(${quoteLiteral(names.leaderLockName)}, 0)`;
  return {
    pending: `SELECT key, version::text AS version FROM ${names.qualified}
WHERE created_at <= now() - make_interval(secs => $1::float8 / 1000) ORDER BY version LIMIT $2`,
    remove: `DELETE FROM ${names.qualified} WHERE version = ANY($1::bigint[])`,
    tryLead: `SELECT pg_try_advisory_lock(${lock}) AS got`,
    unlead: `SELECT pg_advisory_unlock(${lock}) AS released`,
    count: `SELECT count(*)::int AS n FROM ${names.qualified}`,
  };
}
