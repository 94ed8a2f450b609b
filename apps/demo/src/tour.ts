/**
 * The tour: the four behaviours of the article this project grew from (basic write-through, retry,
 * versioned writes, batching), run on in-memory stores with seeded faults, done the way the engine
 * does them. `runTour` prints as it goes and returns the facts it saw, so a test can hold it to them.
 */
import {
  type CacheStats,
  createCache,
  type MemoryRecords,
  memoryRecords,
  RecordStoreError,
  VersionConflictError,
  WriteOutcomeUnknownError,
  type WriteThroughCache,
} from '@writethrough/core';

/** A row of the demo's tables. */
export type Doc = Readonly<Record<string, string | number>>;

/** A simulated database latency: fixed ms, or drawn from [min, max] by the seeded generator. */
export type DbLatency = number | { readonly min: number; readonly max: number };

/** Options of `runTour`. */
export interface TourOptions {
  /** Where each line of output goes. Default `console.log`. */
  readonly print?: (line: string) => void;
  /** Seed of the injected faults, the simulated latency and the retry jitter. Default 42. */
  readonly seed?: number;
  /** Latency of every database call, ms. Default 1 to 3 ms. */
  readonly dbLatencyMs?: DbLatency;
}

/** How one read was answered. */
export type ReadSource = 'l1' | 'database';

/** One retry the cache reported (its `retry` event). */
export interface RetrySeen {
  readonly attempt: number;
  readonly delayMs: number;
  /** The ceiling of the full-jitter draw: min(maxDelayMs, baseDelayMs * 2^(attempt-1)). */
  readonly capMs: number;
}

/** One `setMany` call that reached the database. */
export interface SetManyCall {
  readonly rows: number;
  readonly ok: boolean;
}

/** What the tour saw; `runTour` resolves with it. */
export interface TourFacts {
  readonly basic: {
    /** How each read of section 1 was answered, in order. */
    readonly reads: readonly { key: string; source: ReadSource; found: boolean }[];
    /** Versions the two writes committed at. */
    readonly versions: readonly number[];
  };
  readonly retry: {
    /** The retries of the write that met two transient failures. */
    readonly retries: readonly RetrySeen[];
    /** The version it committed at. */
    readonly committedVersion: number;
    /** The random-fault run: writes made, writes committed, retries taken. */
    readonly randomRun: { readonly writes: number; readonly committed: number; readonly retries: number };
    /** The write the database refused for good. */
    readonly permanent: {
      readonly code: string;
      readonly attempts: number;
      /** The value read back afterwards: the last committed one. */
      readonly readBack: Doc | undefined;
      readonly readBackSource: ReadSource;
      /** A new key whose first write was refused: still absent. */
      readonly newKeyAbsent: boolean;
    };
  };
  readonly versioned: {
    readonly readVersion: number;
    readonly writerAVersion: number;
    readonly conflict: {
      readonly code: string;
      readonly expectedVersion: number;
      readonly currentVersion: number;
    };
    readonly unknown: {
      readonly code: string;
      /** The value the next read returned, with its version and where it came from. */
      readonly readBack: Doc | undefined;
      readonly readBackVersion: number;
      readonly readBackSource: ReadSource;
      /** The value the write tried to commit (it did commit). */
      readonly attempted: Doc;
    };
  };
  readonly batch: {
    /** `setMany` calls made for the 64 concurrent writes, and the rows of each batch. */
    readonly setManyCalls: number;
    readonly batchSizes: readonly number[];
    readonly committed: number;
    /** The batch with one poison row: every `setMany` call of its splitting, in order. */
    readonly split: readonly SetManyCall[];
    readonly poisonKey: string;
    readonly poisonCode: string;
    readonly poisonAbsent: boolean;
    /** The other rows of that batch: committed and readable. */
    readonly othersCommitted: number;
  };
  /** `stats()` of the two caches at the end: `users` (sections 1-3) and `events` (section 4). */
  readonly stats: { readonly users: CacheStats; readonly events: CacheStats };
  /** Reads the tour compared with the database's committed row (every read it made); all matched. */
  readonly checkedReads: number;
}

const RETRY = { attempts: 4, baseDelayMs: 10, maxDelayMs: 100 } as const;
const BATCH = { maxSize: 64, maxWaitMs: 2 } as const;
const LEVELS = new Set(['INFO', 'WARN', 'ERROR']);

/** Runs the tour; resolves with what it saw once both caches are closed. */
export async function runTour(options: TourOptions = {}): Promise<TourFacts> {
  const print = options.print ?? ((line: string) => console.log(line));
  const seed = options.seed ?? 42;
  const latencyMs = options.dbLatencyMs ?? { min: 1, max: 3 };
  const out = (line = ''): void => print(line);

  out('writethrough tour: a write-through cache in front of an in-memory database');
  out(
    `(memoryRecords with ${describeLatency(latencyMs)} per call and seeded faults, seed ${seed}; the default L1)`,
  );

  const db = memoryRecords<Doc>({ seed, latencyMs });
  const users = createCache<Doc>({
    name: 'users',
    records: db,
    ttlMs: 60_000,
    retry: { ...RETRY, random: seededRandom(seed) },
  });
  const checker = freshness();
  const watch = watchReads(users, db, checker);
  const retries: RetrySeen[] = [];
  users.on('retry', ({ attempt, delayMs }) => {
    retries.push({
      attempt,
      delayMs,
      capMs: Math.min(RETRY.maxDelayMs, RETRY.baseDelayMs * 2 ** (attempt - 1)),
    });
  });

  try {
    const basic = await basicWriteThrough(out, users, db, watch);
    const retry = await retryWithBackoff(out, users, db, watch, retries);
    const versioned = await versionedWrites(out, users, db, watch, checker);

    const eventsDb = memoryRecords<Doc>({
      seed,
      latencyMs,
      rejectValue: (_key, value) =>
        LEVELS.has(String(value.level))
          ? undefined
          : new Error(`level ${value.level} is not INFO, WARN or ERROR`),
    });
    const setManyCalls = observeSetMany(eventsDb);
    const events = createCache<Doc>({ name: 'events', records: eventsDb, batch: BATCH });
    let batch: TourFacts['batch'];
    try {
      batch = await batchedWrites(out, events, eventsDb, setManyCalls, checker);
    } finally {
      await events.close();
    }

    const stats = { users: users.stats(), events: events.stats() };
    printStats(out, stats);
    return { basic, retry, versioned, batch, stats, checkedReads: checker.count };
  } finally {
    await users.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Basic write-through
// ---------------------------------------------------------------------------------------------

async function basicWriteThrough(
  out: (line?: string) => void,
  users: WriteThroughCache<Doc>,
  db: MemoryRecords<Doc>,
  watch: ReadWatch,
): Promise<TourFacts['basic']> {
  heading(out, '1. Basic write-through: the database first, then the cache');
  const versions: number[] = [];
  for (const [key, value] of [
    ['user:1', { name: 'Alice', email: 'alice@example.com' }],
    ['user:2', { name: 'Bob', email: 'bob@example.com' }],
  ] as const) {
    const t = performance.now();
    const { version } = await users.set(key, value);
    versions.push(version);
    out(`   set ${key} ${show(value)}  -> database v${version}, then L1   ${ms(performance.now() - t)}`);
  }
  // A row that was in the database before the cache: its first read has to load it.
  const { version: carolVersion } = await db.set('user:3', { name: 'Carol', email: 'carol@example.com' });
  out(`   (user:3 is written straight to the database at v${carolVersion}, behind the cache's back)`);

  const reads: { key: string; source: ReadSource; found: boolean }[] = [];
  for (const key of ['user:1', 'user:1', 'user:2', 'user:3', 'user:3', 'user:4', 'user:4']) {
    const r = await watch.get(key);
    reads.push({ key, source: r.source, found: r.value !== undefined });
    const what =
      r.value !== undefined
        ? show(r.value)
        : r.source === 'l1'
          ? 'not found (a cached absence)'
          : 'not found (the absence is cached)';
    out(`   get ${key}  ${sourceLabel(r.source)}  ${what}   ${ms(r.ms)}`);
  }
  const s = users.stats();
  out(
    `   reads ${s.reads}: ${s.hits} hits, ${s.misses} misses (hit ratio ${pct(s.hitRatio)}); ` +
      `database reads ${db.calls.get}`,
  );
  return { reads, versions };
}

// ---------------------------------------------------------------------------------------------
// 2. Retry with exponential backoff and full jitter
// ---------------------------------------------------------------------------------------------

async function retryWithBackoff(
  out: (line?: string) => void,
  users: WriteThroughCache<Doc>,
  db: MemoryRecords<Doc>,
  watch: ReadWatch,
  retries: RetrySeen[],
): Promise<TourFacts['retry']> {
  heading(
    out,
    `2. Retry: exponential backoff with full jitter (${RETRY.attempts} tries, base ${RETRY.baseDelayMs} ms, ` +
      `cap ${RETRY.maxDelayMs} ms), transient errors only`,
  );
  out('   the database fails the next 2 writes with a transient error');
  db.failNext(2, 'transient', 'writes');
  retries.length = 0;
  const order = { total: 99.99, items: 3 };
  const { version } = await users.set('order:1', order);
  for (const r of retries) {
    out(`     try ${r.attempt} failed; sleeping ${ms(r.delayMs)} (drawn from 0..${r.capMs} ms)`);
  }
  out(`     try ${retries.length + 1} committed: order:1 ${show(order)} at v${version}`);
  const firstRetries = [...retries];

  out('   seeded random faults: 25% of writes fail (transient), 20 writes in a row');
  db.setFaults({ failureRate: 0.25, failureOps: 'writes' });
  retries.length = 0;
  let committed = 0;
  for (let i = 1; i <= 20; i++) {
    await users.set(`cart:${i}`, { items: i });
    committed++;
  }
  db.setFaults({ failureRate: 0 });
  const randomRun = { writes: 20, committed, retries: retries.length };
  out(`     ${committed}/20 committed after ${retries.length} retries`);

  out('   the database refuses the next write for good (a permanent error)');
  db.failNext(1, 'permanent', 'writes');
  retries.length = 0;
  let code = 'none';
  let attempts = 0;
  try {
    await users.set('order:1', { total: 0, items: 0 });
  } catch (error) {
    if (!(error instanceof RecordStoreError)) throw error;
    code = error.code;
    attempts = retries.length + 1;
    out(`   set order:1 {"total":0,"items":0}  -> ${error.name} after ${attempts} try: not retried`);
  }
  const back = await watch.get('order:1');
  out(`   get order:1  ${sourceLabel(back.source)}  ${show(back.value)}  (the last committed value)`);
  out('     the refused value never reached the cache, and the cached copy was dropped rather than kept');
  db.failNext(1, 'permanent', 'writes');
  try {
    await users.set('order:2', { total: 5, items: 1 });
  } catch (error) {
    if (!(error instanceof RecordStoreError)) throw error;
  }
  const order2 = await watch.get('order:2');
  out(`   set order:2 refused the same way; get order:2  ${sourceLabel(order2.source)}  not found`);
  return {
    retries: firstRetries,
    committedVersion: version,
    randomRun,
    permanent: {
      code,
      attempts,
      readBack: back.value,
      readBackSource: back.source,
      newKeyAbsent: order2.value === undefined,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Versioned writes
// ---------------------------------------------------------------------------------------------

async function versionedWrites(
  out: (line?: string) => void,
  users: WriteThroughCache<Doc>,
  db: MemoryRecords<Doc>,
  watch: ReadWatch,
  checker: Freshness,
): Promise<TourFacts['versioned']> {
  heading(out, '3. Versioned writes: compare-and-set in the database (ifVersion)');
  await users.set('product:1', { price: 29.99, stock: 100 });
  const entry = await users.getEntry('product:1');
  checker.check(db, 'product:1', entry?.value);
  if (entry === undefined) throw new Error('product:1 vanished');
  const readVersion = entry.version;
  out(
    `   getEntry product:1  ${show(entry.value)} at v${readVersion}; two writers both read v${readVersion}`,
  );

  const a = { price: 24.99, stock: 95 };
  const { version: writerAVersion } = await users.set('product:1', a, { ifVersion: readVersion });
  out(`   writer A: set ${show(a)} ifVersion ${readVersion}  -> committed v${writerAVersion}`);

  const b = { price: 19.99, stock: 90 };
  let conflict: TourFacts['versioned']['conflict'] | undefined;
  try {
    await users.set('product:1', b, { ifVersion: readVersion });
  } catch (error) {
    if (!(error instanceof VersionConflictError)) throw error;
    conflict = {
      code: error.code,
      expectedVersion: error.expectedVersion,
      currentVersion: error.currentVersion,
    };
    out(`   writer B: set ${show(b)} ifVersion ${readVersion}`);
    out(
      `     -> ${error.name}: expected v${error.expectedVersion}, the database has v${error.currentVersion}`,
    );
  }
  if (conflict === undefined) throw new Error('writer B was not refused');
  const now = await watch.get('product:1');
  out(`   get product:1  ${sourceLabel(now.source)}  ${show(now.value)}  (writer A's; B's never landed)`);

  out('   unknown outcome: the next write commits, then the connection drops before the answer');
  db.failAfterCommitNext(1);
  const attempted = { price: 22.49, stock: 93 };
  let unknownCode = 'none';
  try {
    await users.set('product:1', attempted, { ifVersion: writerAVersion });
  } catch (error) {
    if (!(error instanceof WriteOutcomeUnknownError)) throw error;
    unknownCode = error.code;
    out(`   set product:1 ${show(attempted)} ifVersion ${writerAVersion}`);
    out(`     -> ${error.name}: not retried blindly; the key was invalidated in every tier`);
  }
  const t = performance.now();
  const back = await users.getEntry('product:1');
  const elapsed = performance.now() - t;
  const source = watch.last();
  checker.check(db, 'product:1', back?.value);
  out(
    `   getEntry product:1  ${sourceLabel(source)}  ${show(back?.value)} at v${back?.version}   ${ms(elapsed)}`,
  );
  out(`     it did commit, and the old v${writerAVersion} is not served`);
  return {
    readVersion,
    writerAVersion,
    conflict,
    unknown: {
      code: unknownCode,
      readBack: back?.value,
      readBackVersion: back?.version ?? 0,
      readBackSource: source,
      attempted,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Batched writes
// ---------------------------------------------------------------------------------------------

async function batchedWrites(
  out: (line?: string) => void,
  events: WriteThroughCache<Doc>,
  db: MemoryRecords<Doc>,
  setManyCalls: SetManyCall[],
  checker: Freshness,
): Promise<TourFacts['batch']> {
  heading(out, `4. Batched writes: batch { maxSize: ${BATCH.maxSize}, maxWaitMs: ${BATCH.maxWaitMs} }`);
  const batchSizes: number[] = [];
  events.on('batch', ({ size }) => batchSizes.push(size));

  const t = performance.now();
  const results = await Promise.all(
    Array.from({ length: 64 }, (_, i) => events.set(`log:${i + 1}`, { level: 'INFO', seq: i + 1 })),
  );
  const elapsed = performance.now() - t;
  const versions = results.map((r) => r.version);
  const calls = db.calls.setMany;
  out(
    `   64 concurrent sets log:1..log:64  -> ${batchSizes.length} batch of ${batchSizes[0]} rows, ` +
      `${calls} setMany call, v${Math.min(...versions)}..v${Math.max(...versions)}   ${ms(elapsed)}`,
  );
  const committed = results.length;

  out('   16 concurrent sets; log:b11 has level BOGUS, which the database refuses (a constraint)');
  setManyCalls.length = 0;
  const keys = Array.from({ length: 16 }, (_, i) => `log:b${i + 1}`);
  const poisonKey = 'log:b11';
  const settled = await Promise.allSettled(
    keys.map((key, i) => events.set(key, { level: key === poisonKey ? 'BOGUS' : 'WARN', seq: i + 1 })),
  );
  const split = [...setManyCalls];
  out(`     setMany calls: ${split.map((c) => `${c.rows} ${c.ok ? 'ok' : 'refused'}`).join(', ')}`);
  let poisonCode = 'none';
  settled.forEach((s, i) => {
    if (keys[i] === poisonKey && s.status === 'rejected') {
      const error = s.reason as RecordStoreError;
      poisonCode = error.code;
      out(
        `     ${poisonKey}  -> ${error.name} ${error.code}: ${(error.cause as Error | undefined)?.message}`,
      );
    }
  });
  const read = await events.getMany(keys);
  for (const key of keys) checker.check(db, key, read.get(key));
  const othersCommitted = keys.filter((k) => k !== poisonKey && read.has(k)).length;
  out(`     the other ${othersCommitted} rows committed and read back; ${poisonKey} is not found`);
  return {
    setManyCalls: calls,
    batchSizes: batchSizes.slice(0, 1),
    committed,
    split,
    poisonKey,
    poisonCode,
    poisonAbsent: !read.has(poisonKey),
    othersCommitted,
  };
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

function printStats(out: (line?: string) => void, stats: TourFacts['stats']): void {
  heading(out, 'Stats (cache.stats())');
  const { users, events } = stats;
  const row = (label: string, a: string, b: string): void => out(`   ${label.padEnd(32)}${a.padEnd(28)}${b}`);
  // Every read asks L1 first, so its ratio is over all reads; L2 sees only what L1 missed.
  const tier = (s: CacheStats, t: 'l1' | 'l2'): string => {
    const looked = t === 'l1' ? s.reads : s.l2.hits + s.l2.misses;
    if (looked === 0) return t === 'l2' ? 'no L2 tier' : '-';
    return `${pct(s[t].hits / looked)} (${s[t].hits}/${looked})`;
  };
  const lat = (l: CacheStats['readLatency']): string =>
    l.count === 0 ? '-' : `${l.p50.toFixed(3)} / ${l.p90.toFixed(3)} / ${l.p99.toFixed(3)}`;
  row('', 'users (sections 1-3)', 'events (section 4)');
  row('reads', `${users.reads}`, `${events.reads}`);
  row('hit ratio, all tiers', pct(users.hitRatio), pct(events.hitRatio));
  row('hit ratio, L1', tier(users, 'l1'), tier(events, 'l1'));
  row('hit ratio, L2', tier(users, 'l2'), tier(events, 'l2'));
  row('database reads', `${users.recordReads}`, `${events.recordReads}`);
  row('read ms p50/p90/p99 (past L1)', lat(users.readLatency), lat(events.readLatency));
  row('write ms p50/p90/p99', lat(users.writeLatency), lat(events.writeLatency));
  row('writes acknowledged', `${users.writes}`, `${events.writes}`);
  row('write failures', `${users.writeFailures}`, `${events.writeFailures}`);
  row('retries', `${users.retries}`, `${events.retries}`);
  row('version conflicts', `${users.conflicts}`, `${events.conflicts}`);
  row('unknown outcomes', `${users.unknownOutcomes}`, `${events.unknownOutcomes}`);
  row(
    'batches (rows)',
    `${users.batches} (${users.batchedRows})`,
    `${events.batches} (${events.batchedRows})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface ReadWatch {
  /** Reads `key`, noting whether L1 answered or the database did. */
  get(key: string): Promise<{ value: Doc | undefined; source: ReadSource; ms: number }>;
  /** Where the last read was answered. */
  last(): ReadSource;
}

/** Tells where each read was answered, from the cache's `hit` and `miss` events, and checks its value. */
function watchReads(cache: WriteThroughCache<Doc>, db: MemoryRecords<Doc>, checker: Freshness): ReadWatch {
  let source: ReadSource = 'database';
  cache.on('hit', () => {
    source = 'l1';
  });
  cache.on('miss', () => {
    source = 'database';
  });
  return {
    async get(key) {
      source = 'database';
      const t = performance.now();
      const value = await cache.get(key);
      const elapsed = performance.now() - t;
      checker.check(db, key, value);
      return { value, source, ms: elapsed };
    },
    last: () => source,
  };
}

interface Freshness {
  /** Throws unless `value` is what the database holds for `key` now (its last committed row). */
  check(db: MemoryRecords<Doc>, key: string, value: Doc | undefined): void;
  readonly count: number;
}

/** The tour's own check of the promise: no read returns anything but the last committed value. */
function freshness(): Freshness {
  let count = 0;
  return {
    check(db, key, value) {
      const row = db.peek(key);
      const expected = row.found ? row.value : undefined;
      if (JSON.stringify(value) !== JSON.stringify(expected)) {
        throw new Error(`stale read of ${key}: got ${show(value)}, the database has ${show(expected)}`);
      }
      count++;
    },
    get count() {
      return count;
    },
  };
}

/** Records every `setMany` call that reaches the store: its rows and whether it committed. */
function observeSetMany(db: MemoryRecords<Doc>): SetManyCall[] {
  const calls: SetManyCall[] = [];
  const setMany = db.setMany.bind(db);
  db.setMany = async (entries, options) => {
    try {
      const result = await setMany(entries, options);
      calls.push({ rows: entries.length, ok: true });
      return result;
    } catch (error) {
      calls.push({ rows: entries.length, ok: false });
      throw error;
    }
  };
  return calls;
}

/** A small seeded generator (mulberry32) for the retry jitter, so the sleeps replay the same way. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function heading(out: (line?: string) => void, title: string): void {
  out();
  out(title);
}

function sourceLabel(source: ReadSource): string {
  return source === 'l1' ? 'L1 hit         ' : 'miss, database ';
}

function show(value: unknown): string {
  return value === undefined ? 'not found' : JSON.stringify(value);
}

function ms(value: number): string {
  return `${value.toFixed(3)} ms`;
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function describeLatency(latency: DbLatency): string {
  return typeof latency === 'number' ? `${latency} ms` : `${latency.min}-${latency.max} ms`;
}
