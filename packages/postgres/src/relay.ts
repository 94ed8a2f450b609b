/**
 * `outboxRelay`: applies the outbox rows of writes that never settled — a writer that crashed after
 * its commit, a cache tier that could not be reached, an unknown outcome — to the cache, then
 * deletes them. At least once: a row is deleted only after `cache.invalidate(key, version)`
 * succeeded, and applying it twice is harmless (invalidate only removes entries older than the
 * version and raises the floor, so it can never remove a newer write or install anything).
 *
 * One leader at a time: each relay tries a session-level advisory lock on its own connection; the
 * one that holds it works, the others wait and try again every interval. The lock goes with the
 * session, so a leader that dies (or loses its connection) hands over within one interval. Leadership
 * is only an efficiency: two relays applying the same row would still be correct.
 *
 * No NOTIFY: writers never signal the relay. A row only matters to the relay once it is older than
 * `graceMs` (until then its writer is still expected to settle it), so polling every `intervalMs`
 * is all the wake-up there is, and the write path pays nothing for it.
 */
import { CacheClosedError, InvalidArgumentError, type WriteThroughError } from '@writethrough/core';
import { arrayLiteral } from './identifiers.js';
import { bounded, integerOption } from './options.js';
import { type OutboxStatements, outboxNamesOf, outboxStatements } from './outbox-sql.js';

/** A dedicated connection of the relay: a new, not yet connected `pg.Client` (only what it uses). */
export interface RelayConnection {
  connect(): Promise<unknown>;
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  end(): Promise<void>;
}

/** Where the relay reads the outbox: a `PostgresRecords` created with `outbox`. */
export interface RelaySource {
  /** The quoted outbox table; undefined when the store has no outbox. */
  readonly outboxTable: string | undefined;
  /** The store's client (used when the relay has no connection of its own). */
  readonly client: QueryClient;
}

interface QueryClient {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** What the relay applies rows to: a `WriteThroughCache` (its `invalidate`). */
export interface RelayTarget {
  invalidate(key: string, version?: number): Promise<void>;
}

/** Options of `outboxRelay`. */
export interface OutboxRelayOptions {
  /** The records store whose outbox to relay (created with `outbox`). */
  readonly records: RelaySource;
  /** The cache the rows are applied to. */
  readonly cache: RelayTarget;
  /**
   * Makes a new, not yet connected `pg.Client` for the relay's session (it holds the leader lock):
   * `() => new pg.Client({ connectionString, application_name: 'wt-relay' })`. The relay connects it,
   * owns it, ends it on `close()`, and calls the factory again after a loss. Without it (PGlite, a
   * single process) the relay works through the records' client and is always the leader.
   */
  readonly connect?: (() => RelayConnection | Promise<RelayConnection>) | undefined;
  /** How often a pass runs, ms. Default 1000. */
  readonly intervalMs?: number | undefined;
  /**
   * A row is applied once it is this old, ms: before that its writer is expected to settle it.
   * Default 2000. 0 applies every row at once (correct, but it repeats every healthy write's work).
   */
  readonly graceMs?: number | undefined;
  /** Rows per pass (a full pass runs the next one at once). Default 500. */
  readonly batchSize?: number | undefined;
  /** Bound of each statement on the relay's own connection and of connecting, ms; past it the connection is dropped. Default 10 000. */
  readonly timeoutMs?: number | undefined;
  /** Starts passes on its own. Default true; false: call `runOnce()` yourself. */
  readonly autoStart?: boolean | undefined;
  /** Receives background errors (a pass that failed, a row the cache refused). Default: ignored. */
  readonly onError?: ((error: unknown) => void) | undefined;
}

/** What the relay did; for tests and metrics. */
export interface OutboxRelayStats {
  /** Passes run as the leader. */
  passes: number;
  /** Rows applied and deleted. */
  applied: number;
  /** Rows whose key the cache refused as invalid: deleted without applying (reported to onError). */
  refused: number;
  /** Rows kept for a later pass because the cache could not apply them. */
  retried: number;
  /** Passes that failed (a query, or the connection). */
  failures: number;
  /** Times this relay became the leader. */
  elected: number;
}

/** The result of one pass. */
export interface RelayPass {
  /** Whether this relay was the leader for the pass (only the leader applies rows). */
  readonly leader: boolean;
  /** Rows applied and deleted. */
  readonly applied: number;
  /** Rows kept for a later pass. */
  readonly retried: number;
}

/** Starts a relay of `records`' outbox onto `cache`; see `OutboxRelayOptions`. */
export function outboxRelay(options: OutboxRelayOptions): OutboxRelay {
  return new OutboxRelay(options);
}

/** The outbox relay; see `outboxRelay`. */
export class OutboxRelay {
  readonly stats: OutboxRelayStats = {
    passes: 0,
    applied: 0,
    refused: 0,
    retried: 0,
    failures: 0,
    elected: 0,
  };
  readonly #sql: OutboxStatements;
  readonly #shared: QueryClient;
  readonly #cache: RelayTarget;
  readonly #connect: (() => RelayConnection | Promise<RelayConnection>) | undefined;
  readonly #intervalMs: number;
  readonly #graceMs: number;
  readonly #batchSize: number;
  readonly #timeoutMs: number;
  readonly #onError: (error: unknown) => void;
  #connection: RelayConnection | undefined;
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RelayPass> | undefined;
  #closed = false;

  constructor(options: OutboxRelayOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('outboxRelay needs options: { records, cache }');
    }
    const table = options.records?.outboxTable;
    if (typeof table !== 'string') {
      throw new InvalidArgumentError(
        'outboxRelay needs records created with an outbox: postgresRecords({ …, outbox: true })',
      );
    }
    if (typeof options.cache?.invalidate !== 'function') {
      throw new InvalidArgumentError('outboxRelay needs a cache with invalidate(key, version)');
    }
    if (options.connect !== undefined && typeof options.connect !== 'function') {
      throw new InvalidArgumentError('connect must be a function that makes a new pg.Client');
    }
    this.#sql = outboxStatements(outboxNamesOf(table));
    this.#shared = options.records.client;
    this.#cache = options.cache;
    this.#connect = options.connect;
    this.#intervalMs = integerOption('intervalMs', options.intervalMs, 1000, 1);
    this.#graceMs = integerOption('graceMs', options.graceMs, 2000, 0);
    this.#batchSize = integerOption('batchSize', options.batchSize, 500, 1);
    this.#timeoutMs = integerOption('timeoutMs', options.timeoutMs, 10_000, 1);
    this.#onError = options.onError ?? (() => {});
    if (options.autoStart !== false) this.#schedule(0);
  }

  /** Whether this relay holds the leader lock (always true without `connect`). */
  get leader(): boolean {
    return this.#connect === undefined ? !this.#closed : this.#leader;
  }

  /**
   * Runs one pass now (after the one in progress, if any): becomes the leader if it can, then
   * applies up to `batchSize` rows older than `graceMs` and deletes them.
   */
  async runOnce(): Promise<RelayPass> {
    if (this.#closed) throw new CacheClosedError('the outbox relay is closed');
    while (this.#running !== undefined) await this.#running.catch(() => undefined);
    const pass = this.#pass();
    this.#running = pass;
    try {
      return await pass;
    } finally {
      this.#running = undefined;
    }
  }

  /** Rows in the outbox, of any age (settled rows not yet cleaned up included). */
  async pending(): Promise<number> {
    const result = await this.#shared.query(this.#sql.count);
    return Number((result.rows[0] as { n: unknown }).n);
  }

  /** Stops the passes, releases the leader lock and ends the relay's own connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
    await this.#drop();
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.runOnce().then(
        (pass) =>
          this.#schedule(
            pass.leader && pass.applied + pass.retried >= this.#batchSize ? 0 : this.#intervalMs,
          ),
        (error: unknown) => {
          if (this.#closed) return;
          this.#onError(error);
          this.#schedule(this.#intervalMs);
        },
      );
    }, delayMs);
    this.#timer.unref?.();
  }

  async #pass(): Promise<RelayPass> {
    let client: QueryClient;
    try {
      client = await this.#lead();
    } catch (error) {
      this.stats.failures++;
      await this.#drop();
      throw error;
    }
    if (!this.leader) return { leader: false, applied: 0, retried: 0 };
    this.stats.passes++;
    let rows: { key: string; version: number }[];
    try {
      const result = await client.query(this.#sql.pending, [this.#graceMs, this.#batchSize]);
      rows = (result.rows as { key: unknown; version: unknown }[]).map((r) => ({
        key: String(r.key),
        version: Number(r.version),
      }));
    } catch (error) {
      this.stats.failures++;
      if (this.#connect !== undefined) await this.#drop();
      throw error;
    }
    if (rows.length === 0) return { leader: true, applied: 0, retried: 0 };
    // One invalidate per key, at its highest version (it covers the lower ones).
    const highest = new Map<string, number>();
    for (const { key, version } of rows) highest.set(key, Math.max(highest.get(key) ?? 0, version));
    const done = new Set<string>();
    let refused = 0;
    await Promise.all(
      [...highest].map(async ([key, version]) => {
        try {
          await this.#cache.invalidate(key, version);
          done.add(key);
        } catch (error) {
          if (REFUSED.has((error as WriteThroughError)?.code)) {
            // The cache will never accept this key (written around it): applying it can never succeed.
            refused += rows.filter((r) => r.key === key).length;
            done.add(key);
          }
          this.#onError(error);
        }
      }),
    );
    const remove = rows.filter((r) => done.has(r.key));
    const retried = rows.length - remove.length;
    this.stats.retried += retried;
    if (remove.length > 0) {
      try {
        await client.query(this.#sql.remove, [arrayLiteral(remove.map((r) => String(r.version)))]);
      } catch (error) {
        // Applied but not deleted: the next pass applies them again (harmless).
        this.stats.failures++;
        if (this.#connect !== undefined) await this.#drop();
        throw error;
      }
    }
    const applied = remove.length - refused;
    this.stats.applied += applied;
    this.stats.refused += refused;
    return { leader: true, applied, retried };
  }

  /** The client of the pass: the relay's own connection, as the leader if it can be. */
  async #lead(): Promise<QueryClient> {
    if (this.#connect === undefined) return this.#shared;
    const ms = this.#timeoutMs;
    let connection = this.#connection;
    if (connection === undefined) {
      connection = await this.#connect();
      const lost = () => {
        if (this.#connection === connection) {
          this.#connection = undefined;
          this.#leader = false;
        }
      };
      connection.on('error', (error) => {
        lost();
        this.#onError(error);
      });
      connection.on('end', lost);
      this.#connection = connection;
      try {
        await bounded(connection.connect(), ms, () => timedOut('connecting', ms));
      } catch (error) {
        lost();
        await connection.end().catch(() => undefined);
        throw error;
      }
    }
    if (!this.#leader) {
      const result = await bounded(connection.query(this.#sql.tryLead), ms, () =>
        timedOut('the leader lock', ms),
      );
      const got = (result.rows[0] as { got: unknown } | undefined)?.got;
      if (got === true || got === 't') {
        this.#leader = true;
        this.stats.elected++;
      }
    }
    const own = connection;
    return {
      query: (text, params) => bounded(own.query(text, params), ms, () => timedOut('a relay statement', ms)),
    };
  }

  async #drop(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#leader = false;
    if (connection !== undefined) {
      await bounded(connection.end(), this.#timeoutMs, () =>
        timedOut('ending the connection', this.#timeoutMs),
      ).catch(() => undefined);
    }
  }
}

/** The error of a relay step that took longer than its bound. */
function timedOut(what: string, ms: number): Error {
  return new Error(`outbox relay: ${what} took longer than ${ms} ms`);
}

/** Errors by which a cache refuses a key for good (it is invalid, or over its size limit). */
const REFUSED = new Set<unknown>(['WT_INVALID_ARGUMENT', 'WT_SIZE_LIMIT']);
