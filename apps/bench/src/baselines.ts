/**
 * The caching patterns of the article's comparison table, written as small baselines for the
 * `article` benchmark (they are not library features): no cache, cache-aside, read-through and
 * write-back. Each works on two narrow interfaces, a key-value cache (Redis in the benchmark) and
 * a versioned table (Postgres in the benchmark), so their logic is tested here without servers.
 *
 * Every value is a writer id `w` (unique per write) with the row's version. A cache entry is the
 * text `<version>:<w>`.
 */

/** A row of the table every pattern shares: `(key text primary key, value jsonb, version bigint)`. */
export interface Row {
  /** The writer id stored in the row's value. */
  readonly w: string;
  readonly version: number;
}

/** A row as the write-back flusher writes it: the version was assigned by the cache. */
export interface VersionedRow extends Row {
  readonly key: string;
}

/** The system of record. */
export interface Table {
  /** The row of `key`, or undefined when there is none. */
  select(key: string): Promise<Row | undefined>;
  /** Writes `w` and increments the row's version in the same statement; resolves to the new version. */
  upsert(key: string, w: string): Promise<number>;
  /** Writes rows with the versions given, in one statement; a row keeps its value when its version is higher. */
  writeRows(rows: readonly VersionedRow[]): Promise<void>;
}

/** The shared cache (Redis in the benchmark). */
export interface KeyValue {
  /** The entry's text, or null. */
  get(key: string): Promise<string | null>;
  /** Stores the entry, with a time to live in ms when `ttlMs` is given. */
  set(key: string, text: string, ttlMs?: number): Promise<void>;
  /** Stores the entry when the key has none (no time to live); resolves to whether it did. */
  setIfAbsent(key: string, text: string): Promise<boolean>;
  del(key: string): Promise<void>;
  /**
   * Atomically replaces the entry `<v>:<old>` with `<v + 1>:<w>` and resolves to `v + 1`; resolves to
   * undefined when the key has no entry.
   */
  bump(key: string, w: string): Promise<number | undefined>;
}

/** Where a read was answered from. */
export type ReadSource = 'cache' | 'db';

/** What a read returns. */
export interface ReadResult {
  /** The writer id, or null when the key has no row. */
  readonly w: string | null;
  /** The version read (undefined when the key has no row). */
  readonly version: number | undefined;
  readonly source: ReadSource;
}

/** One of the patterns: reads and writes of one key at a time. */
export interface Pattern {
  read(key: string): Promise<ReadResult>;
  /** Writes the writer id `w`; resolves to the version acknowledged. */
  write(key: string, w: string): Promise<{ version: number }>;
  /** Stops background work (write-back: flushes what is queued first). */
  close(): Promise<void>;
}

/** The cache entry of a row. */
export function encodeEntry(row: Row): string {
  return `${row.version}:${row.w}`;
}

/** A cache entry back to its row; throws on a malformed entry. */
export function decodeEntry(text: string): Row {
  const colon = text.indexOf(':');
  const version = colon > 0 ? Number(text.slice(0, colon)) : Number.NaN;
  if (!Number.isSafeInteger(version)) throw new Error(`malformed cache entry ${JSON.stringify(text)}`);
  return { w: text.slice(colon + 1), version };
}

function fromRow(row: Row | undefined, source: ReadSource): ReadResult {
  return row === undefined
    ? { w: null, version: undefined, source }
    : { w: row.w, version: row.version, source };
}

/** No cache: every read is a `SELECT`, every write an upsert. */
export class NoCache implements Pattern {
  constructor(readonly table: Table) {}

  async read(key: string): Promise<ReadResult> {
    return fromRow(await this.table.select(key), 'db');
  }

  async write(key: string, w: string): Promise<{ version: number }> {
    return { version: await this.table.upsert(key, w) };
  }

  async close(): Promise<void> {}
}

/**
 * Cache-aside: the application reads the cache, and on a miss reads the table and fills the cache
 * with a time to live; a write updates the table, then deletes the cache entry. Absent rows are not
 * cached. Nothing orders a fill against a write: a read that loaded the old row before a write and
 * fills after the write's delete leaves the old value in the cache until it expires.
 */
export class CacheAside implements Pattern {
  constructor(
    readonly kv: KeyValue,
    readonly table: Table,
    readonly ttlMs: number,
  ) {}

  async read(key: string): Promise<ReadResult> {
    const text = await this.kv.get(key);
    if (text !== null) return fromRow(decodeEntry(text), 'cache');
    const row = await this.table.select(key);
    if (row !== undefined) await this.kv.set(key, encodeEntry(row), this.ttlMs);
    return fromRow(row, 'db');
  }

  async write(key: string, w: string): Promise<{ version: number }> {
    const version = await this.table.upsert(key, w);
    await this.kv.del(key);
    return { version };
  }

  async close(): Promise<void> {}
}

/**
 * Read-through: the cache loads a missing key itself (one load per key at a time in a process, the
 * other readers of the key wait for it) and keeps it for a time to live; writes go to the table
 * only, so a cached entry stays until it expires.
 */
export class ReadThrough implements Pattern {
  readonly #loads = new Map<string, Promise<Row | undefined>>();

  constructor(
    readonly kv: KeyValue,
    readonly table: Table,
    readonly ttlMs: number,
  ) {}

  async read(key: string): Promise<ReadResult> {
    const text = await this.kv.get(key);
    if (text !== null) return fromRow(decodeEntry(text), 'cache');
    return fromRow(await this.#load(key), 'db');
  }

  #load(key: string): Promise<Row | undefined> {
    let load = this.#loads.get(key);
    if (load === undefined) {
      load = (async () => {
        try {
          const row = await this.table.select(key);
          if (row !== undefined) await this.kv.set(key, encodeEntry(row), this.ttlMs);
          return row;
        } finally {
          this.#loads.delete(key);
        }
      })();
      this.#loads.set(key, load);
    }
    return load;
  }

  async write(key: string, w: string): Promise<{ version: number }> {
    return { version: await this.table.upsert(key, w) };
  }

  async close(): Promise<void> {}
}

/**
 * The rows a write-back cache owes the table: at most one per key (a newer write of a key replaces
 * the queued one, which it supersedes), taken oldest key first.
 */
export class WriteBackQueue {
  readonly #dirty = new Map<string, Row>();

  get size(): number {
    return this.#dirty.size;
  }

  /** Queues a row; a row with a lower version than the queued one of its key is ignored. */
  add(key: string, w: string, version: number): void {
    const queued = this.#dirty.get(key);
    if (queued !== undefined && queued.version >= version) return;
    this.#dirty.set(key, { w, version });
  }

  /** Removes and returns up to `max` rows, oldest queued key first. */
  take(max: number): VersionedRow[] {
    const rows: VersionedRow[] = [];
    for (const [key, row] of this.#dirty) {
      if (rows.length >= max) break;
      rows.push({ key, w: row.w, version: row.version });
    }
    for (const row of rows) this.#dirty.delete(row.key);
    return rows;
  }
}

/** Options of the write-back baseline. */
export interface WriteBackOptions {
  /** Interval of the background flush, ms. */
  readonly flushMs: number;
  /** Rows per flush statement; a write that fills a batch starts a flush at once. */
  readonly maxBatch: number;
}

/**
 * Write-back: a write replaces the cache entry (its version incremented in the cache, atomically)
 * and is acknowledged; the table is written later, in batches, by a background flusher. A read
 * answers from the cache, and fills a missing entry from the table without a time to live (only
 * when the key has none, so a fill never replaces a newer write). What is queued when the process
 * dies is lost to the table.
 */
export class WriteBack implements Pattern {
  readonly queue = new WriteBackQueue();
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #flushing: Promise<void> | undefined;
  /** Rows written to the table, and flush statements. */
  flushed = 0;
  flushes = 0;

  constructor(
    readonly kv: KeyValue,
    readonly table: Table,
    readonly options: WriteBackOptions,
  ) {
    if (options.flushMs > 0)
      this.#timer = setInterval(() => void this.flush().catch(() => {}), options.flushMs);
  }

  async read(key: string): Promise<ReadResult> {
    const text = await this.kv.get(key);
    if (text !== null) return fromRow(decodeEntry(text), 'cache');
    return fromRow(await this.#fill(key), 'db');
  }

  /** Fills the entry of `key` from the table unless the cache has one; resolves to the entry's row. */
  async #fill(key: string): Promise<Row | undefined> {
    const row = await this.table.select(key);
    if (row === undefined) return undefined;
    if (await this.kv.setIfAbsent(key, encodeEntry(row))) return row;
    const text = await this.kv.get(key);
    return text === null ? row : decodeEntry(text);
  }

  async write(key: string, w: string): Promise<{ version: number }> {
    let version = await this.kv.bump(key, w);
    if (version === undefined) {
      // The key is not cached: its version lives in the table until the cache holds it.
      const row = await this.#fill(key);
      version = row === undefined ? undefined : await this.kv.bump(key, w);
      if (version === undefined) {
        version = (row?.version ?? 0) + 1;
        if (!(await this.kv.setIfAbsent(key, encodeEntry({ w, version })))) return this.write(key, w);
      }
    }
    this.queue.add(key, w, version);
    if (this.queue.size >= this.options.maxBatch) void this.flush().catch(() => {});
    return { version };
  }

  /** Writes every queued row to the table (one flush at a time; a failed batch is queued again). */
  flush(): Promise<void> {
    if (this.#flushing === undefined) {
      // Cleared in a callback, which runs after the assignment even when the queue is empty.
      const run = this.#drain().finally(() => {
        if (this.#flushing === run) this.#flushing = undefined;
      });
      this.#flushing = run;
    }
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.queue.size > 0) {
      const rows = this.queue.take(this.options.maxBatch);
      try {
        await this.table.writeRows(rows);
      } catch (error) {
        for (const row of rows) this.queue.add(row.key, row.w, row.version);
        throw error;
      }
      this.flushed += rows.length;
      this.flushes++;
    }
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#flushing?.catch(() => {});
    await this.flush();
  }
}
