/**
 * The write path on memoryRecords: (a) what the engine adds to one awaited write (`cache.set`
 * against `records.set` on the same kind of store, L1 only); (b) throughput of 64 concurrent
 * writers on distinct keys, with and without write batching, at zero latency, at 1 ms per
 * record-store call, and at 1 ms behind a pool of 10 connections (a database's usual shape).
 */
import type { RecordCallOptions, RecordRead, RecordStore, RecordWriteOptions } from '@writethrough/core';
import { type BenchCache, type BenchRecords, type Core, loadCore, missing } from './core.js';
import { collect, perOp, sleep } from './measure.js';
import { num, ratio, type Section } from './report.js';

/** Keys the sequential writer cycles through. */
const SEQ_KEYS = 10_000;
/** Writes per timed call in (a). */
const CHUNK = 250;
/** Concurrent writers in (b), each on its own keys. */
const WRITERS = 64;
/** Keys per writer in (b). */
const KEYS_PER_WRITER = 32;
/** Batching under test. */
const BATCH = { maxSize: 64, maxWaitMs: 1 } as const;
/** Connections of the pooled scenario. */
const POOL = 10;
/** Timed and warm-up durations of each concurrent run, ms. */
const RUN_MS = 1_000;
const WARMUP_MS = 200;

interface Row {
  readonly id: number;
  readonly name: string;
  readonly tags: readonly string[];
}

function rowOf(i: number): Row {
  return { id: i, name: `row ${i}`, tags: ['a', 'b'] };
}

/**
 * A record store behind a pool of `size` connections: at most `size` calls run at once, the others
 * wait in FIFO order, as with a database driver's connection pool.
 */
class Pooled<V> implements RecordStore<V> {
  readonly #inner: RecordStore<V>;
  readonly #waiting: (() => void)[] = [];
  #free: number;

  constructor(inner: RecordStore<V>, size: number) {
    this.#inner = inner;
    this.#free = size;
  }

  async #with<T>(call: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await call();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }

  get(key: string, options?: RecordCallOptions): Promise<RecordRead<V>> {
    return this.#with(() => this.#inner.get(key, options));
  }
  getMany(keys: readonly string[], options?: RecordCallOptions): Promise<Map<string, RecordRead<V>>> {
    return this.#with(() => this.#inner.getMany(keys, options));
  }
  set(key: string, value: V, options?: RecordWriteOptions): Promise<{ version: number }> {
    return this.#with(() => this.#inner.set(key, value, options));
  }
  setMany(
    entries: readonly { key: string; value: V }[],
    options?: RecordCallOptions,
  ): Promise<Map<string, { version: number }>> {
    return this.#with(() => this.#inner.setMany(entries, options));
  }
  delete(key: string, options?: RecordWriteOptions): Promise<{ deleted: boolean; version: number }> {
    return this.#with(() => this.#inner.delete(key, options));
  }
  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}

interface Writer {
  set(key: string, value: Row): Promise<unknown>;
  close(): Promise<void>;
  /** Record-store calls (set / setMany) the run made, when the store counts them. */
  calls(): string;
}

interface Scenario {
  readonly label: string;
  readonly latencyMs: number;
  readonly pool?: number;
}

type Variant = 'records.set' | 'cache.set' | 'cache.set batched';

function makeWriter(core: Core, scenario: Scenario, variant: Variant): Writer {
  const base = core.memoryRecords!<Row>({ latencyMs: scenario.latencyMs });
  const records: RecordStore<Row> = scenario.pool === undefined ? base : new Pooled(base, scenario.pool);
  const calls = () => {
    const c = (base as BenchRecords<Row>).calls;
    return c === undefined ? '' : `${num(c.set)} set, ${num(c.setMany)} setMany`;
  };
  if (variant === 'records.set') {
    return { set: (k, v) => records.set(k, v), close: async () => records.close?.(), calls };
  }
  const cache: BenchCache<Row> = core.createCache!<Row>({
    name: `bench-write-${variant === 'cache.set' ? 'plain' : 'batched'}`,
    records,
    l1: core.memoryStore!({ maxEntries: WRITERS * KEYS_PER_WRITER * 2 }),
    ...(variant === 'cache.set batched' ? { batch: BATCH } : {}),
  });
  return {
    set: (k, v) => cache.set(k, v),
    close: async () => {
      await cache.close?.();
      await records.close?.();
    },
    calls,
  };
}

/** Runs WRITERS concurrent loops for `ms` and returns writes per second. */
async function concurrent(writer: Writer, ms: number): Promise<number> {
  let writes = 0;
  const keys = Array.from({ length: WRITERS }, (_, w) =>
    Array.from({ length: KEYS_PER_WRITER }, (_, j) => `writer:${w}:${j}`),
  );
  const value = rowOf(1);
  // The deadline is read from the clock, not set by a timer: at zero latency every write settles on
  // the microtask queue and a timer would never get to run.
  const loop = async (w: number) => {
    const mine = keys[w]!;
    for (let j = 0; performance.now() < deadline; j++) {
      await writer.set(mine[j % KEYS_PER_WRITER]!, value);
      writes++;
    }
  };
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => loop(w)));
  const elapsed = performance.now() - start;
  return (writes / elapsed) * 1000;
}

async function overhead(core: Core): Promise<{ rows: (string | number)[][]; ratio: number }> {
  const keys = Array.from({ length: SEQ_KEYS }, (_, i) => `seq:${i}`);
  const values = Array.from({ length: SEQ_KEYS }, (_, i) => rowOf(i));

  const direct = core.memoryRecords!<Row>();
  let i = 0;
  const directStats = await perOp(
    async () => {
      for (let j = 0; j < CHUNK; j++) {
        await direct.set(keys[i]!, values[i]!);
        if (++i === SEQ_KEYS) i = 0;
      }
    },
    CHUNK,
    { budgetMs: 800 },
  );
  await direct.close?.();

  const records = core.memoryRecords!<Row>();
  const cache = core.createCache!<Row>({
    name: 'bench-write-seq',
    records,
    l1: core.memoryStore!({ maxEntries: SEQ_KEYS * 2 }),
  });
  let k = 0;
  const engineStats = await perOp(
    async () => {
      for (let j = 0; j < CHUNK; j++) {
        await cache.set(keys[k]!, values[k]!);
        if (++k === SEQ_KEYS) k = 0;
      }
    },
    CHUNK,
    { budgetMs: 800 },
  );
  await cache.close?.();
  await records.close?.();

  process.stdout.write(
    `  write-path: records.set ${directStats.mean.toFixed(0)} ns, cache.set ${engineStats.mean.toFixed(0)} ns\n`,
  );
  const r = engineStats.mean / directStats.mean;
  return {
    ratio: r,
    rows: [
      ['`await records.set` (memoryRecords, direct)', num(directStats.mean), num(directStats.p50), ratio(1)],
      ['`await cache.set` (engine, L1 only)', num(engineStats.mean), num(engineStats.p50), ratio(r)],
    ],
  };
}

export async function runWritePath(): Promise<Section[]> {
  const core = await loadCore();
  const absent = missing(core, 'createCache', 'memoryStore', 'memoryRecords');
  if (absent !== undefined) {
    return [
      {
        title: 'Write path (memoryRecords)',
        what: 'Engine overhead per write, and batched vs unbatched throughput of 64 concurrent writers.',
        headers: ['measurement', 'result'],
        rows: [['all', absent]],
        notes: [],
      },
    ];
  }

  const seq = await overhead(core);

  const scenarios: Scenario[] = [
    { label: 'latency 0 (microtask)', latencyMs: 0 },
    { label: 'latency 1 ms', latencyMs: 1 },
    { label: `latency 1 ms, pool of ${POOL}`, latencyMs: 1, pool: POOL },
  ];
  const variants: Variant[] = ['records.set', 'cache.set', 'cache.set batched'];
  const rows: (string | number)[][] = [];
  const batchGain: string[] = [];
  for (const scenario of scenarios) {
    const rate = new Map<Variant, number>();
    const callsOf = new Map<Variant, string>();
    for (const variant of variants) {
      const warm = makeWriter(core, scenario, variant);
      await concurrent(warm, WARMUP_MS);
      await warm.close();
      collect();
      await sleep(5);
      const writer = makeWriter(core, scenario, variant);
      rate.set(variant, await concurrent(writer, RUN_MS));
      callsOf.set(variant, writer.calls());
      await writer.close();
      process.stdout.write(
        `  write-path ${scenario.label}: ${variant}: ${num(rate.get(variant)!)} writes/s\n`,
      );
    }
    const plain = rate.get('cache.set')!;
    const direct = rate.get('records.set')!;
    for (const variant of variants) {
      const r = rate.get(variant)!;
      rows.push([
        scenario.label,
        `\`${variant}\``,
        num(r),
        ratio(r / direct),
        variant === 'cache.set batched' ? ratio(r / plain) : variant === 'cache.set' ? ratio(1) : '',
        callsOf.get(variant) ?? '',
      ]);
    }
    batchGain.push(`${scenario.label}: ${ratio(rate.get('cache.set batched')! / plain)}`);
  }

  return [
    {
      title: 'Write path (a): engine overhead per write (memoryRecords, zero latency)',
      what:
        'Nanoseconds per awaited write, one writer, keys cycling over 10k: the engine (`cache.set`, L1 only, ' +
        'no batching) against the same record store called directly. Lower is better.',
      headers: ['writes via', 'ns/write (mean)', 'ns/write (median)', '× records.set'],
      rows: seq.rows,
      notes: [`Engine overhead per write: ${ratio(seq.ratio)} the bare \`records.set\`.`],
    },
    {
      title: 'Write path (b): 64 concurrent writers, batched vs unbatched',
      what:
        `Writes per second of ${WRITERS} concurrent writers on distinct keys, ${RUN_MS / 1000} s per row after a ` +
        `${WARMUP_MS} ms warm-up: the record store alone, the engine unbatched, and the engine batched ` +
        `(\`batch: { maxSize: ${BATCH.maxSize}, maxWaitMs: ${BATCH.maxWaitMs} }\`). Higher is better.`,
      headers: [
        'record store',
        'writes via',
        'writes/s',
        '× records.set',
        '× unbatched',
        'record-store calls',
      ],
      align: ['l', 'l', 'r', 'r', 'r', 'l'],
      rows,
      notes: [
        `Batched ÷ unbatched writes/s — ${batchGain.join('; ')}.`,
        'memoryRecords delays each call on its own timer and runs any number of calls at once, so latency alone ' +
          `does not queue writes; the pooled rows cap the calls in flight at ${POOL}, as a database pool does.`,
      ],
    },
  ];
}
