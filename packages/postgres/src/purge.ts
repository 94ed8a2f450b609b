/**
 * `purgeTombstones`: deletes tombstones older than a retention bound, in short bounded batches, in
 * both modes — the tombstone rows of the key/value table (`deleted = true`, aged by `updated_at`)
 * and the rows of an own table's companion `<table>_wt_tombstones` (aged by `deleted_at`).
 *
 * Why a tombstone has to stay for a while. A tombstone is what lets a read of a deleted key answer
 * `{ found: false, version: <the delete's> }` instead of `{ found: false, version: 0 }` ("never
 * existed"). The cache tiers order everything by version: a reader that loaded the pre-delete value
 * (version v < the delete's) before the delete and fills the cache late, a write acknowledged late,
 * a delayed bus message, are all refused while something still remembers the delete's version — the
 * writers' marks and floors, the fill leases, cached absences. Once every one of them has expired, the
 * tombstone is the only record of that version: if it is gone too, the database answers version 0
 * and a late fill of the pre-delete value (v > 0) looks newer than "never existed", resurrecting the
 * deleted value (P6). So a tombstone must outlive every cache mark, floor, lease and cached absence
 * and every read or write still in flight: `olderThanMs` is at least `MIN_TOMBSTONE_AGE_MS` (one
 * minute, not below the engine's defaults: mark TTL 30 s, lease TTL 5 s, cached absences 60 s), and
 * should be well above the TTLs you configured and the longest a request may take.
 *
 * The age is counted from the delete's `clock_timestamp()`, taken while it holds the key's lock (a
 * delete that waited on a lock does not commit a tombstone that already looks old); the commit
 * follows within the statement. Keep `olderThanMs` well above the longest a request may take,
 * which the default of one day comfortably is.
 *
 * Versions still increase after a purge: they come from a sequence, which never goes back, so a key
 * re-created after its tombstone was purged gets a version above the delete's.
 *
 * Each batch is one statement, its own transaction, that locks at most `batchSize` tombstones with
 * `FOR UPDATE SKIP LOCKED` (a tombstone some writer holds is skipped, never waited for) and deletes
 * them by key, with the tombstone condition checked again on the row it deletes. Safe against a
 * concurrent re-create or re-delete of the same key: a writer holding the row makes the purge skip
 * it; a writer that committed after the batch's snapshot left a row that no longer matches when
 * the lock re-reads it (EvalPlanQual re-evaluates `deleted`/`updated_at`, or `deleted_at`, on the
 * latest version: a re-created row is not deleted, a re-delete is younger than the bound), so it
 * is not deleted.
 */
import { AbortedError, InvalidArgumentError, RecordStoreError } from '@writethrough/core';
import { classifyPostgresError, sqlStateOf } from './classify.js';
import { isOwnTable, type OwnTableSchemaOptions, resolveOwnNames } from './own-table.js';
import { resolveNames, type TableOptions } from './sql.js';

/** The shortest retention `purgeTombstones` accepts: one minute. */
export const MIN_TOMBSTONE_AGE_MS = 60_000;
/** The retention when `olderThanMs` is not given: one day. */
export const DEFAULT_TOMBSTONE_AGE_MS = 86_400_000;
/** Tombstones deleted per statement when `batchSize` is not given. */
export const DEFAULT_PURGE_BATCH_SIZE = 1000;
const MAX_BATCH_SIZE = 100_000;
/** 100 years: beyond it `now() - interval` may leave the timestamp range. */
const MAX_TOMBSTONE_AGE_MS = 100 * 365 * 86_400_000;

/** What `purgeTombstones` needs of a client: a `pg.Pool`, a `pg.Client` or PGlite. */
export interface PurgeClient {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** How much to purge. */
export interface PurgeBounds {
  /**
   * Only tombstones older than this go (by the server's clock: `updated_at`, or `deleted_at` in the
   * own-table mode). Default one day; at least `MIN_TOMBSTONE_AGE_MS` (60,000) — see the module
   * comment for why.
   */
  readonly olderThanMs?: number | undefined;
  /** Tombstones deleted per statement (each one a short transaction). Default 1000, at most 100,000. */
  readonly batchSize?: number | undefined;
  /** Stop after this many tombstones in total. Default: no bound (until a batch comes back short). */
  readonly maxRows?: number | undefined;
  /** Stops before the next batch (the batch in flight still commits) with `AbortedError`. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Options of `purgeTombstones`: where the tombstones are — the same options as `migrate` (the
 * key/value mode's `TableOptions`, or the own-table options naming a `key` column) — and the bounds.
 */
export type PurgeOptions = (TableOptions | OwnTableSchemaOptions) & PurgeBounds;

/** The answer of `purgeTombstones`. */
export interface PurgeResult {
  /** How many tombstones were deleted. */
  readonly purged: number;
}

/**
 * The statement of one batch: `$1` the minimum age in milliseconds, `$2` the most rows to delete;
 * answers one row `{ purged }`. Exposed for tests; `purgeTombstones` runs it.
 */
export function purgeStatement(options: TableOptions | OwnTableSchemaOptions = {}): string {
  const cutoff = `now() - $1::bigint * interval '1 millisecond'`;
  if (isOwnTable(options)) {
    const b = resolveOwnNames(options as OwnTableSchemaOptions).qualifiedTombstones;
    // The oldest first, through the index on deleted_at that `migrate` creates.
    return `WITH doomed AS (
  SELECT key FROM ${b} WHERE deleted_at < ${cutoff} ORDER BY deleted_at LIMIT $2::int FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM ${b} AS b WHERE b.key = ANY (ARRAY(SELECT key FROM doomed)) AND b.deleted_at < ${cutoff} RETURNING 1
)
SELECT count(*)::int AS purged FROM gone`;
  }
  const t = resolveNames(options as TableOptions).qualifiedTable;
  // The oldest first, through the partial index on updated_at WHERE deleted; deleted by primary key.
  return `WITH doomed AS (
  SELECT key FROM ${t} WHERE deleted AND updated_at < ${cutoff} ORDER BY updated_at LIMIT $2::int FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM ${t} AS t WHERE t.key = ANY (ARRAY(SELECT key FROM doomed)) AND t.deleted AND t.updated_at < ${cutoff} RETURNING 1
)
SELECT count(*)::int AS purged FROM gone`;
}

/**
 * Deletes tombstones older than `olderThanMs` (default one day, at least one minute), in batches of
 * `batchSize` (default 1000), each one short statement that never waits for a row lock, until a
 * batch deletes fewer than it asked for or `maxRows` were deleted. Run it periodically (say hourly
 * or daily) from one place; concurrent runs are safe (they skip each other's rows).
 *
 * Throws `InvalidArgumentError` for invalid options (before any statement) and `RecordStoreError`
 * (with the SQLSTATE in its message and the driver error as `cause`) when a statement fails; the
 * batches before it stay committed.
 */
export async function purgeTombstones(client: PurgeClient, options: PurgeOptions = {}): Promise<PurgeResult> {
  if (typeof client?.query !== 'function') {
    throw new InvalidArgumentError(
      'purgeTombstones needs a client with query(text, params): a pg.Pool, a pg.Client or PGlite',
    );
  }
  const olderThanMs = integerOption('olderThanMs', options.olderThanMs, DEFAULT_TOMBSTONE_AGE_MS, {
    min: MIN_TOMBSTONE_AGE_MS,
    max: MAX_TOMBSTONE_AGE_MS,
    why: ': a tombstone must outlive every cache mark, lease and read in flight, or a late fill of the pre-delete value would be taken for newer than "never existed"',
  });
  const batchSize = integerOption('batchSize', options.batchSize, DEFAULT_PURGE_BATCH_SIZE, {
    min: 1,
    max: MAX_BATCH_SIZE,
  });
  const maxRows = integerOption('maxRows', options.maxRows, Number.POSITIVE_INFINITY, {
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
  });
  const text = purgeStatement(options);
  const { signal } = options;
  let purged = 0;
  for (;;) {
    if (signal?.aborted) throw new AbortedError(`purgeTombstones aborted after ${purged} tombstones`);
    const limit = Math.min(batchSize, maxRows - purged);
    let count: number;
    try {
      const result = await client.query(text, [olderThanMs, limit]);
      count = Number((result.rows[0] as { purged?: unknown } | undefined)?.purged ?? 0);
    } catch (error) {
      throw purgeError(error, purged);
    }
    purged += count;
    if (count < limit || purged >= maxRows) return { purged };
  }
}

function integerOption(
  name: string,
  value: unknown,
  fallback: number,
  bounds: { min: number; max: number; why?: string },
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    throw new InvalidArgumentError(
      `purgeTombstones: ${name} must be an integer from ${bounds.min} to ${bounds.max}; got ${String(value)}${bounds.why ?? ''}`,
    );
  }
  return value;
}

function purgeError(error: unknown, purged: number): RecordStoreError {
  // A lost connection may have committed the batch in flight: harmless, the purge is idempotent.
  const { retryable, outcome } = classifyPostgresError(error, { write: true });
  const state = sqlStateOf(error);
  return new RecordStoreError(
    `purgeTombstones failed after ${purged} tombstones: ${state === undefined ? '' : `[${state}] `}${error instanceof Error ? error.message : String(error)}`,
    { cause: error, retryable, outcome },
  );
}
