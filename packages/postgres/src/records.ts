/**
 * `postgresRecords`: a `RecordStore` on a Postgres table (key/value mode), through any client with
 * `query(text, params)` — a `pg.Pool`, a `pg.Client` or a PGlite instance. Versions come from one
 * sequence, drawn under the key's row lock (see `statements` in sql.ts for why that follows commit
 * order); a delete keeps a tombstone row at the delete's version.
 */

import { createHash } from 'node:crypto';
import {
  AbortedError,
  CacheClosedError,
  type ErrorClass,
  InvalidArgumentError,
  type RecordCallOptions,
  type RecordRead,
  type RecordStore,
  RecordStoreError,
  type RecordWriteOptions,
  SerializationError,
  VersionConflictError,
  WriteThroughError,
} from '@writethrough/core';
import { classifyPostgresError, sqlStateOf } from './classify.js';
import { arrayLiteral } from './identifiers.js';
import { migrate } from './migrate.js';
import { integerOption } from './options.js';
import {
  type OutboxNames,
  type OutboxOptions,
  type OutboxStatements,
  outboxStatements,
  resolveOutbox,
} from './outbox-sql.js';
import {
  type ColumnMapping,
  isOwnTable,
  type OwnTableKeyType,
  type OwnTableSchemaOptions,
  ownStatements,
  resolveColumns,
  resolveOwnNames,
  validateOwnKey,
} from './own-table.js';
import { resolveNames, type Statements, statements, type TableOptions } from './sql.js';

/**
 * What the store needs from a client: `query(text, params)` resolving to `{ rows }` of plain
 * objects keyed by column name. A `pg.Pool`, a `pg.Client` and a PGlite instance all fit; `pg` is
 * never imported by this package.
 */
export interface PostgresClient {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Options of `postgresRecords`. */
export interface PostgresRecordsOptions extends TableOptions {
  /** The client every statement goes through. The store never ends it: `close()` leaves it open. */
  readonly client: PostgresClient;
  /**
   * Runs `migrate` (idempotent) before the first call. Default false: run `migrate` yourself, or the
   * SQL of `migrationSql`, before using the store.
   */
  readonly migrate?: boolean | undefined;
  /** The transactional outbox (see the README): every write also records (version, key) in the same statement. Default off. */
  readonly outbox?: boolean | OutboxOptions | undefined;
  /**
   * Sends the store's statements as named prepared statements (parsed and planned once per
   * connection). Default: true for a `pg.Pool` or `pg.Client`, false for PGlite. Turn it off behind
   * PgBouncer in transaction mode older than 1.21 (or without `max_prepared_statements`).
   */
  readonly prepare?: boolean | undefined;
}

/**
 * Options of `postgresRecords` in the own-table mode: your table as it is (a key column, a `bigint`
 * version column, and the entity's columns mapped to and from the value). See the README.
 */
export interface OwnTableOptions<V = unknown> extends OwnTableSchemaOptions {
  /** The client every statement goes through. The store never ends it: `close()` leaves it open. */
  readonly client: PostgresClient;
  /**
   * The mapped columns: `['name', 'email']` maps value fields to columns of the same names;
   * `{ createdAt: 'created_at' }` maps field → column. Columns of the table not named here are
   * neither written nor read (they keep their values, or their defaults on insert).
   */
  readonly columns: readonly string[] | Readonly<Record<string, string>>;
  /**
   * Turns a value into the row: an object keyed by mapped column names (a missing one is written
   * as NULL). Default: the mapping of `columns`; the value must be an object whose every defined
   * field is mapped. The row goes to Postgres as JSON (`jsonb_populate_record`), so each column
   * receives the JSON form of its field (a `Date` as its ISO string).
   */
  readonly toRow?: ((value: V) => Record<string, unknown>) | undefined;
  /**
   * Turns a row back into the value: it receives the mapped columns as JSON gives them
   * (`jsonb_build_object`: numbers, strings, booleans, nested JSON, null for NULL; timestamps as
   * ISO strings). Default: the mapping of `columns`, every field present (null for NULL).
   */
  readonly fromRow?: ((row: Record<string, unknown>) => V) | undefined;
  /** Runs `migrate` (idempotent) before the first call. Default false. */
  readonly migrate?: boolean | undefined;
  /** The transactional outbox (see the README): every write also records (version, key) in the same statement. Default off. */
  readonly outbox?: boolean | OutboxOptions | undefined;
  /**
   * Sends the store's statements as named prepared statements (parsed and planned once per
   * connection). Default: true for a `pg.Pool` or `pg.Client`, false for PGlite. Turn it off behind
   * PgBouncer in transaction mode older than 1.21 (or without `max_prepared_statements`).
   */
  readonly prepare?: boolean | undefined;
}

/**
 * Whether statements go as named prepared statements: options.prepare, else true for a `pg.Pool` or
 * `pg.Client` (they have `connect`), false for anything else (PGlite takes no statement config).
 */
function shouldPrepare(client: PostgresClient, prepare: boolean | undefined): boolean {
  if (prepare !== undefined) {
    if (typeof prepare !== 'boolean')
      throw new InvalidArgumentError(`prepare must be a boolean, got ${typeof prepare}`);
    return prepare;
  }
  return typeof (client as { connect?: unknown }).connect === 'function';
}

/** The name of a prepared statement: a hash of its text (one text, one name, on every connection). */
function statementName(text: string): string {
  return `wt_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
}

/** A write stops retrying its conditional statement after this many rounds (each one saw a concurrent commit). */
const MAX_ROUNDS = 16;

type Row = Record<string, unknown>;

/** A `pg` client, which also takes a statement config (`{ name, text, values }`). */
interface PreparingClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/** Creates a `RecordStore` on a Postgres table; see `PostgresRecordsOptions`. */
export function postgresRecords<V = unknown>(
  options: PostgresRecordsOptions | OwnTableOptions<V>,
): PostgresRecords<V> {
  return new PostgresRecords<V>(options);
}

/** The Postgres `RecordStore`; see `postgresRecords`. */
export class PostgresRecords<V = unknown> implements RecordStore<V> {
  readonly #client: PostgresClient;
  readonly #table: string;
  readonly #sql: Statements;
  readonly #options: PostgresRecordsOptions | OwnTableOptions<V>;
  /** The own-table mode's codec; undefined in the key/value mode. */
  readonly #own: OwnCodec<V> | undefined;
  #ready: Promise<void> | undefined;
  #closed = false;
  readonly #outbox: OutboxNames | undefined;
  /** The outbox's statements (the cleanup deletes rows as the relay does). */
  readonly #outboxSql: OutboxStatements | undefined;
  /** Statement text → prepared statement name, when statements are prepared. */
  readonly #names: Map<string, string> | undefined;
  readonly #cleanupIntervalMs: number;
  readonly #maxPendingCleanup: number;
  /** Versions of settled writes whose outbox rows are still to be deleted. */
  #settled: string[] = [];
  #cleanupTimer: NodeJS.Timeout | undefined;
  #cleaning: Promise<void> | undefined;
  readonly #outboxStats = { settled: 0, cleaned: 0, cleanupErrors: 0, droppedToRelay: 0 };

  constructor(options: PostgresRecordsOptions | OwnTableOptions<V>) {
    if (typeof options?.client?.query !== 'function') {
      throw new InvalidArgumentError(
        'postgresRecords needs a client with query(text, params): a pg.Pool, a pg.Client or PGlite',
      );
    }
    this.#client = options.client;
    this.#names = shouldPrepare(options.client, options.prepare) ? new Map() : undefined;
    if (isOwnTable(options)) {
      const own = options as OwnTableOptions<V>;
      const names = resolveOwnNames(own);
      const mapping = resolveColumns(own.columns, { key: own.key, version: own.version ?? 'version' });
      for (const [name, fn] of [
        ['toRow', own.toRow],
        ['fromRow', own.fromRow],
      ] as const) {
        if (fn !== undefined && typeof fn !== 'function')
          throw new InvalidArgumentError(`${name} must be a function`);
      }
      this.#table = names.qualifiedTable;
      this.#outbox = resolveOutbox(options.outbox, names.plain);
      this.#sql = ownStatements(names, [...mapping.columns], this.#outbox);
      this.#own = { mapping, keyType: names.keyType, toRow: own.toRow, fromRow: own.fromRow };
    } else {
      const names = resolveNames(options as TableOptions);
      this.#table = names.qualifiedTable;
      this.#outbox = resolveOutbox(options.outbox, names.plain);
      this.#sql = statements(names, this.#outbox);
      this.#own = undefined;
    }
    this.#outboxSql = this.#outbox === undefined ? undefined : outboxStatements(this.#outbox);
    const outboxOptions: OutboxOptions =
      typeof options.outbox === 'object' && options.outbox !== null ? options.outbox : {};
    this.#cleanupIntervalMs = integerOption(
      'outbox.cleanupIntervalMs',
      outboxOptions.cleanupIntervalMs,
      250,
      1,
    );
    this.#maxPendingCleanup = integerOption(
      'outbox.maxPendingCleanup',
      outboxOptions.maxPendingCleanup,
      100_000,
      1,
    );
    this.#options = options;
  }

  /** The quoted `"schema"."table"` of the outbox, or undefined without one. */
  get outboxTable(): string | undefined {
    return this.#outbox?.qualified;
  }

  /** The client the store's statements go through (the relay reads the outbox through it too). */
  get client(): PostgresClient {
    return this.#client;
  }

  /** Counters of the outbox cleanup: settled writes, rows deleted, failed cleanups, writes left to the relay. */
  get outboxStats(): Readonly<{
    settled: number;
    cleaned: number;
    cleanupErrors: number;
    droppedToRelay: number;
  }> {
    return { ...this.#outboxStats };
  }

  /**
   * The engine reports writes every tier holds: their outbox rows are deleted in the next cleanup
   * (one `DELETE … WHERE version = ANY($1)` per `cleanupIntervalMs`), so the relay only meets the
   * rows of writes that did not settle (a crash, a tier that could not be reached, an unknown outcome).
   */
  settled(writes: readonly { readonly key: string; readonly version: number }[]): void {
    if (this.#outbox === undefined || this.#closed) return;
    for (const write of writes) {
      if (this.#settled.length >= this.#maxPendingCleanup) {
        this.#outboxStats.droppedToRelay++;
        continue;
      }
      this.#settled.push(String(write.version));
      this.#outboxStats.settled++;
    }
    if (this.#cleanupTimer === undefined && this.#settled.length > 0) {
      this.#cleanupTimer = setTimeout(() => {
        this.#cleanupTimer = undefined;
        void this.flushOutbox();
      }, this.#cleanupIntervalMs);
      this.#cleanupTimer.unref?.();
    }
  }

  /** Deletes the outbox rows of the writes reported settled so far (the periodic cleanup, now). */
  async flushOutbox(): Promise<void> {
    if (this.#outbox === undefined) return;
    while (this.#cleaning !== undefined) await this.#cleaning;
    if (this.#settled.length === 0) return;
    const versions = this.#settled;
    this.#settled = [];
    const run = async () => {
      for (let i = 0; i < versions.length; i += 1000) {
        const chunk = versions.slice(i, i + 1000);
        try {
          await this.#client.query(this.#outboxSql!.remove, [arrayLiteral(chunk)]);
          this.#outboxStats.cleaned += chunk.length;
        } catch {
          // The rows stay: the relay applies them once more (harmless) and deletes them.
          this.#outboxStats.cleanupErrors++;
        }
      }
    };
    this.#cleaning = run().finally(() => {
      this.#cleaning = undefined;
    });
    await this.#cleaning;
  }

  /** The quoted `"schema"."table"` this store reads and writes. */
  get table(): string {
    return this.#table;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Reads a key in one statement; a deleted key answers `found: false` at the delete's version, an unknown key at 0. */
  async get(key: string, options: RecordCallOptions = {}): Promise<RecordRead<V>> {
    this.#validateKey(key);
    const rows = await this.#query('get', key, false, this.#sql.get, [key], options.signal);
    return this.#readRow(rows[0], key);
  }

  /** Reads many keys in one statement (`key = ANY($1)`); every key asked for is in the map. */
  async getMany(
    keys: readonly string[],
    options: RecordCallOptions = {},
  ): Promise<Map<string, RecordRead<V>>> {
    for (const key of keys) this.#validateKey(key);
    const result = new Map<string, RecordRead<V>>();
    if (keys.length === 0) {
      this.#checkCall('getMany', undefined, options.signal);
      return result;
    }
    const unique = [...new Set(keys)];
    const rows = await this.#query(
      'getMany',
      undefined,
      false,
      this.#sql.getMany,
      [arrayLiteral(unique)],
      options.signal,
    );
    const byKey = new Map<string, Row>();
    for (const row of rows) byKey.set(String(row.key), row);
    for (const key of keys) result.set(key, this.#readRow(byKey.get(key), key));
    return result;
  }

  /**
   * Writes a value at a new version (one upsert). With `ifVersion` it is a compare-and-set done by
   * the database: `ifVersion: 0` inserts only if the key is absent or deleted, `ifVersion: n`
   * updates only the live row at version n; otherwise `VersionConflictError` with the current version.
   */
  async set(key: string, value: V, options: RecordWriteOptions = {}): Promise<{ version: number }> {
    this.#validateKey(key);
    const { ifVersion, signal } = options;
    validateIfVersion(ifVersion, key);
    const json = this.#encode(value, key);
    if (ifVersion === undefined) {
      const rows = await this.#query('set', key, true, this.#sql.set, [key, json], signal);
      return { version: versionOf(rows[0]?.version, key) };
    }
    const text = ifVersion === 0 ? this.#sql.create : this.#sql.update;
    const params = ifVersion === 0 ? [key, json] : [key, json, String(ifVersion)];
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const row = (await this.#query('set', key, true, text, params, signal))[0] ?? {};
      if (row.written != null) return { version: versionOf(row.written, key) };
      const current = liveVersion(row, key);
      // The snapshot explains the refusal: report it. Otherwise a writer committed after the snapshot.
      if (current !== ifVersion) throw new VersionConflictError(ifVersion, current, { key });
    }
    throw contended('set', key);
  }

  /**
   * Writes many rows in one statement (one multi-row upsert): every row commits or none does.
   * A key given twice is written once, with its last value.
   */
  async setMany(
    entries: readonly { key: string; value: V }[],
    options: RecordCallOptions = {},
  ): Promise<Map<string, { version: number }>> {
    const last = new Map<string, string>();
    for (const entry of entries) {
      this.#validateKey(entry?.key);
      const json = this.#encode(entry.value, entry.key);
      last.delete(entry.key);
      last.set(entry.key, json);
    }
    const result = new Map<string, { version: number }>();
    if (last.size === 0) {
      this.#checkCall('setMany', undefined, options.signal);
      return result;
    }
    const keys = [...last.keys()];
    const rows = await this.#query(
      'setMany',
      keys.length === 1 ? keys[0] : undefined,
      true,
      this.#sql.setMany,
      [arrayLiteral(keys), arrayLiteral([...last.values()])],
      options.signal,
    );
    for (const row of rows) {
      const key = String(row.key);
      result.set(key, { version: versionOf(row.version, key) });
    }
    if (result.size !== keys.length) {
      throw new RecordStoreError(`setMany answered ${result.size} rows for ${keys.length} keys`, {
        retryable: false,
        outcome: 'unknown',
      });
    }
    return result;
  }

  /**
   * Deletes a key at a new version, keeping a tombstone row. Deleting an absent or deleted key
   * commits nothing and answers its absence version (the tombstone's, or 0). `ifVersion` as in `set`.
   */
  async delete(
    key: string,
    options: RecordWriteOptions = {},
  ): Promise<{ deleted: boolean; version: number }> {
    this.#validateKey(key);
    const { ifVersion, signal } = options;
    validateIfVersion(ifVersion, key);
    if (ifVersion === 0) {
      // Only if absent: nothing to delete; a live row is a conflict.
      const read = this.#readRow(
        (await this.#query('delete', key, false, this.#sql.get, [key], signal))[0],
        key,
      );
      if (read.found) throw new VersionConflictError(0, read.version, { key });
      return { deleted: false, version: read.version };
    }
    const text = ifVersion === undefined ? this.#sql.delete : this.#sql.deleteIf;
    const params = ifVersion === undefined ? [key] : [key, String(ifVersion)];
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const row = (await this.#query('delete', key, true, text, params, signal))[0] ?? {};
      if (row.written != null) return { deleted: true, version: versionOf(row.written, key) };
      const current = liveVersion(row, key);
      if (ifVersion === undefined) {
        if (current === 0)
          return { deleted: false, version: row.version == null ? 0 : versionOf(row.version, key) };
      } else if (current !== ifVersion) {
        throw new VersionConflictError(ifVersion, current, { key });
      }
    }
    throw contended('delete', key);
  }

  /**
   * `RecordStoreError`: its own flags. The errors this store throws before any effect (version
   * conflict, abort, closed, invalid argument, serialization): not retryable, failed. A raw driver
   * error (never thrown by this store, which wraps them): classified as for a write.
   */
  classifyError(error: unknown): ErrorClass {
    if (error instanceof RecordStoreError) return { retryable: error.retryable, outcome: error.outcome };
    if (error instanceof WriteThroughError) return { retryable: false, outcome: 'failed' };
    return classifyPostgresError(error, { write: true });
  }

  /** Closes the store: later calls throw `CacheClosedError`. The client stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.#cleanupTimer !== undefined) clearTimeout(this.#cleanupTimer);
    this.#cleanupTimer = undefined;
    await this.flushOutbox();
    this.#closed = true;
  }

  #validateKey(key: unknown): asserts key is string {
    validateKey(key);
    if (this.#own !== undefined) validateOwnKey(key, this.#own.keyType);
  }

  #encode(value: V, key: string): string {
    return this.#own === undefined
      ? encodeValue(value, key)
      : encodeValue(ownRow(this.#own, value, key), key);
  }

  #readRow(row: Row | undefined, key: string): RecordRead<V> {
    const own = this.#own;
    if (own === undefined) return readRow<V>(row, key);
    return readRow<V>(row, key, (text) =>
      ownValue(own, decodeValue<Record<string, unknown>>(text, key), key),
    );
  }

  #checkCall(op: string, key: string | undefined, signal: AbortSignal | undefined): void {
    if (this.#closed) throw new CacheClosedError('the record store is closed', { key });
    if (signal?.aborted) throw new AbortedError(`${op} was aborted`, { key, cause: signal.reason });
  }

  async #query(
    op: string,
    key: string | undefined,
    write: boolean,
    text: string,
    params: unknown[],
    signal: AbortSignal | undefined,
  ): Promise<Row[]> {
    this.#checkCall(op, key, signal);
    if (this.#options.migrate === true) {
      this.#ready ??= migrate(this.#client, this.#options).catch((error: unknown) => {
        this.#ready = undefined;
        throw error;
      });
      await this.#ready;
      this.#checkCall(op, key, signal);
    }
    let pending: Promise<{ rows: unknown[] }>;
    try {
      const names = this.#names;
      if (names === undefined) {
        pending = this.#client.query(text, params);
      } else {
        let name = names.get(text);
        if (name === undefined) {
          name = statementName(text);
          names.set(text, name);
        }
        pending = (this.#client as unknown as PreparingClient).query({ name, text, values: params });
      }
    } catch (error) {
      throw wrapError(error, op, key, write);
    }
    try {
      const result = signal === undefined ? await pending : await raceAbort(pending, signal, op, key, write);
      return result.rows as Row[];
    } catch (error) {
      if (error instanceof WriteThroughError) throw error;
      throw wrapError(error, op, key, write);
    }
  }
}

/** Wraps a driver error in a `RecordStoreError` with its classification, the key and the cause. */
function wrapError(error: unknown, op: string, key: string | undefined, write: boolean): RecordStoreError {
  const { retryable, outcome } = classifyPostgresError(error, { write });
  const state = sqlStateOf(error);
  const what = key === undefined ? op : `${op} of key ${JSON.stringify(key)}`;
  const detail = `${state === undefined ? '' : `[${state}] `}${error instanceof Error ? error.message : String(error)}`;
  const tail = outcome === 'unknown' ? ' (it may have committed)' : '';
  return new RecordStoreError(`${what} failed${tail}: ${detail}`, { key, cause: error, retryable, outcome });
}

/**
 * Stops waiting when `signal` aborts. A read throws `AbortedError`. A write whose statement was sent
 * may still commit, so it throws a `RecordStoreError` with outcome `unknown` (cause: the abort).
 */
function raceAbort<T>(
  pending: Promise<T>,
  signal: AbortSignal,
  op: string,
  key: string | undefined,
  write: boolean,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const aborted = new AbortedError(`${op} was aborted`, { key, cause: signal.reason });
      if (!write) return reject(aborted);
      reject(
        new RecordStoreError(
          `${op}${key === undefined ? '' : ` of key ${JSON.stringify(key)}`} was aborted while its statement was in flight; it may have committed`,
          { key, cause: aborted, retryable: false, outcome: 'unknown' },
        ),
      );
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function contended(op: string, key: string): RecordStoreError {
  return new RecordStoreError(
    `${op} of key ${JSON.stringify(key)}: the key changed under ${MAX_ROUNDS} conditional statements in a row; nothing was written`,
    { key, retryable: true, outcome: 'failed' },
  );
}

function readRow<V>(
  row: Row | undefined,
  key: string,
  decode: (text: unknown) => V = (text) => decodeValue<V>(text, key),
): RecordRead<V> {
  if (row === undefined) return { found: false, version: 0 };
  const version = versionOf(row.version, key);
  if (isTrue(row.deleted)) return { found: false, version };
  return { found: true, value: decode(row.value), version };
}

/** The own-table mode's mapping between values and rows. */
interface OwnCodec<V> {
  readonly mapping: ColumnMapping;
  readonly keyType: OwnTableKeyType;
  readonly toRow: ((value: V) => Record<string, unknown>) | undefined;
  readonly fromRow: ((row: Record<string, unknown>) => V) | undefined;
}

/** The row of a value (column → field value), checked: only mapped columns. */
function ownRow<V>(own: OwnCodec<V>, value: V, key: string): Record<string, unknown> {
  let row: unknown;
  if (own.toRow !== undefined) {
    try {
      row = own.toRow(value);
    } catch (error) {
      throw new SerializationError(`toRow failed for key ${JSON.stringify(key)}`, { key, cause: error });
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new SerializationError(`toRow must answer an object of columns (key ${JSON.stringify(key)})`, {
        key,
      });
    }
    for (const column of Object.keys(row)) {
      if (!own.mapping.columns.has(column)) {
        throw new InvalidArgumentError(
          `toRow answered the column ${JSON.stringify(column)}, which is not in \`columns\` (key ${JSON.stringify(key)})`,
          { key },
        );
      }
    }
    return row as Record<string, unknown>;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SerializationError(
      `the value of key ${JSON.stringify(key)} must be an object whose fields map to columns (or pass toRow/fromRow)`,
      { key },
    );
  }
  const fields = value as Record<string, unknown>;
  const mapped = new Set<string>();
  const out: Record<string, unknown> = {};
  for (const [field, column] of own.mapping.pairs) {
    mapped.add(field);
    out[column] = fields[field];
  }
  for (const field of Object.keys(fields)) {
    if (!mapped.has(field) && fields[field] !== undefined) {
      throw new InvalidArgumentError(
        `the value of key ${JSON.stringify(key)} has the field ${JSON.stringify(field)}, which maps to no column (it would be lost)`,
        { key },
      );
    }
  }
  return out;
}

/** The value of a row (the mapped columns as JSON gave them). */
function ownValue<V>(own: OwnCodec<V>, row: Record<string, unknown>, key: string): V {
  if (own.fromRow !== undefined) {
    try {
      return own.fromRow(row);
    } catch (error) {
      throw new SerializationError(`fromRow failed for key ${JSON.stringify(key)}`, { key, cause: error });
    }
  }
  const value: Record<string, unknown> = {};
  for (const [field, column] of own.mapping.pairs) value[field] = row[column];
  return value as V;
}

/** The live version in a snapshot row: 0 when the key is absent or deleted. */
function liveVersion(row: Row, key: string): number {
  if (row.version == null || isTrue(row.deleted)) return 0;
  return versionOf(row.version, key);
}

function isTrue(value: unknown): boolean {
  return value === true || value === 't' || value === 'true';
}

function versionOf(value: unknown, key: string): number {
  const version = typeof value === 'bigint' ? Number(value) : Number(value);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new RecordStoreError(
      `the database answered an invalid version ${String(value)} for key ${JSON.stringify(key)}`,
      {
        key,
        retryable: false,
        outcome: 'unknown',
      },
    );
  }
  return version;
}

/** A JSON escape Postgres refuses in jsonb: NUL, or a lone surrogate (JSON.stringify escapes only those). */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;

function encodeValue(value: unknown, key: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new SerializationError(`the value of key ${JSON.stringify(key)} cannot be stored as JSON`, {
      key,
      cause: error,
    });
  }
  if (json === undefined) {
    throw new SerializationError(`the value of key ${JSON.stringify(key)} is not JSON (${typeof value})`, {
      key,
    });
  }
  if (json.includes('\\u') && UNSTORABLE_ESCAPE.test(json)) {
    throw new InvalidArgumentError(
      `the value of key ${JSON.stringify(key)} contains a NUL character (\\u0000) or a lone surrogate, which Postgres jsonb cannot store`,
      { key },
    );
  }
  return json;
}

function decodeValue<V>(value: unknown, key: string): V {
  if (typeof value !== 'string') {
    throw new SerializationError(`the database answered a non-text value for key ${JSON.stringify(key)}`, {
      key,
    });
  }
  try {
    return JSON.parse(value) as V;
  } catch (error) {
    throw new SerializationError(`the stored value of key ${JSON.stringify(key)} is not valid JSON`, {
      key,
      cause: error,
    });
  }
}

const LONE_SURROGATE = /\p{Cs}/u;

function validateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`a key must be a string, got ${typeof key}`);
  if (key.includes('\u0000')) {
    throw new InvalidArgumentError(
      `the key ${JSON.stringify(key)} contains a NUL character (\\u0000), which Postgres text cannot store`,
      { key },
    );
  }
  if (LONE_SURROGATE.test(key)) {
    throw new InvalidArgumentError(
      `the key ${JSON.stringify(key)} contains a lone surrogate, which is not valid UTF-8 (it would be stored as U+FFFD and collide with other keys)`,
      { key },
    );
  }
}

function validateIfVersion(ifVersion: number | undefined, key: string): void {
  if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
    throw new InvalidArgumentError(`ifVersion must be an integer >= 0, got ${ifVersion}`, { key });
  }
}
