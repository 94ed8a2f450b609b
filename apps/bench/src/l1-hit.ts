/**
 * L1 hit throughput: every contender holds the 100k hottest keys of the Zipf(0.99)/1M-key trace,
 * then replays the part of the trace that falls on those keys, so every get is a hit. Sync
 * contenders are called in a plain loop; async ones are awaited one after the other, as a request
 * handler would. Each contender has its own loop (no shared call site), so no contender's inline
 * caches are polluted by another's.
 */
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createCache as createCacheManager } from 'cache-manager';
import { Cacheable } from 'cacheable';
import { LRUCache } from 'lru-cache';
import { type BenchCache, type BenchTier, fillTierBulk, LEASE, loadCore, missing } from './core.js';
import { collect, perOp } from './measure.js';
import { num, ratio, type Section } from './report.js';
import { workload } from './zipf.js';

/** Keys every cache holds (the hottest ranks). */
const HOT = 100_000;
/** Capacity given to bounded caches: room to spare, so none evicts. */
const CAPACITY = 200_000;
/** Gets per timed call. */
const CHUNK = 1_000;
/** Measurement rounds (contenders alternate; the best mean of the rounds is kept). */
const ROUNDS = 5;
/** The project's target: our awaited hit within this factor of the awaited async Map.get. */
const TARGET = 1.4;

export interface Value {
  readonly id: number;
  readonly name: string;
  readonly score: number;
}

export function userOf(rank: number): Value {
  return { id: rank, name: `user ${rank}`, score: rank % 97 };
}

/** The async floor: a `get` that is async and does nothing but `Map.get`. */
class AsyncMap<V> {
  readonly map = new Map<string, V>();
  async get(key: string): Promise<V | undefined> {
    return this.map.get(key);
  }
}

interface Contender {
  readonly name: string;
  readonly kind: 'sync' | 'async';
  readonly note?: string;
  /** Performs CHUNK gets along the hot trace. */
  readonly chunk?: () => unknown;
  /** Gets that found nothing so far (must stay 0). */
  readonly misses?: () => number;
  /** Why it was not measured. */
  readonly skipped?: string | undefined;
  readonly close?: () => Promise<void>;
}

/** A cursor over the hot trace shared by nothing: each contender gets its own. */
function hotTrace(): string[] {
  const { trace, key } = workload();
  const hot: string[] = [];
  for (let i = 0; i < trace.length; i++) {
    const rank = trace[i]!;
    if (rank < HOT) hot.push(key(rank));
  }
  return hot;
}

async function build(hot: readonly string[]): Promise<Contender[]> {
  const { key } = workload();
  const n = hot.length;
  const contenders: Contender[] = [];

  // 1. Map.get (the sync floor).
  {
    const map = new Map<string, Value>();
    for (let r = 0; r < HOT; r++) map.set(key(r), userOf(r));
    let i = 0;
    let misses = 0;
    contenders.push({
      name: '`Map.get` (sync floor)',
      kind: 'sync',
      chunk: () => {
        for (let j = 0; j < CHUNK; j++) {
          if (map.get(hot[i]!) === undefined) misses++;
          if (++i === n) i = 0;
        }
      },
      misses: () => misses,
    });
  }

  // 2. await asyncMap.get (the async floor).
  {
    const asyncMap = new AsyncMap<Value>();
    for (let r = 0; r < HOT; r++) asyncMap.map.set(key(r), userOf(r));
    let i = 0;
    let misses = 0;
    contenders.push({
      name: '`await asyncMap.get` (async floor)',
      kind: 'async',
      chunk: async () => {
        for (let j = 0; j < CHUNK; j++) {
          if ((await asyncMap.get(hot[i]!)) === undefined) misses++;
          if (++i === n) i = 0;
        }
      },
      misses: () => misses,
    });
  }

  // 3. lru-cache get (sync).
  {
    const lru = new LRUCache<string, Value>({ max: CAPACITY });
    for (let r = 0; r < HOT; r++) lru.set(key(r), userOf(r));
    let i = 0;
    let misses = 0;
    contenders.push({
      name: '`lru-cache` `get`',
      kind: 'sync',
      chunk: () => {
        for (let j = 0; j < CHUNK; j++) {
          if (lru.get(hot[i]!) === undefined) misses++;
          if (++i === n) i = 0;
        }
      },
      misses: () => misses,
    });
  }

  const core = await loadCore();

  // 4. memoryStore().getSync (our L1 tier, sync).
  {
    const absent = missing(core, 'memoryStore');
    if (absent !== undefined || core.memoryStore === undefined) {
      contenders.push({ name: 'writethrough `memoryStore().getSync`', kind: 'sync', skipped: absent });
    } else {
      const tier: BenchTier = core.memoryStore({ maxEntries: CAPACITY });
      await fillTierBulk(tier, HOT, (r) => ({ key: key(r), payload: userOf(r) }));
      let i = 0;
      let misses = 0;
      contenders.push({
        name: 'writethrough `memoryStore().getSync`',
        kind: 'sync',
        chunk: () => {
          for (let j = 0; j < CHUNK; j++) {
            if (tier.getSync(hot[i]!, LEASE).kind !== 'hit') misses++;
            if (++i === n) i = 0;
          }
        },
        misses: () => misses,
        close: () => tier.close(),
      });
    }
  }

  // 5. await cache.get (our engine, L1 only, values already cached).
  {
    const absent = missing(core, 'createCache', 'memoryStore', 'memoryRecords');
    if (
      absent !== undefined ||
      core.createCache === undefined ||
      core.memoryStore === undefined ||
      core.memoryRecords === undefined
    ) {
      contenders.push({ name: 'writethrough `await cache.get` (L1 hit)', kind: 'async', skipped: absent });
    } else {
      const records = core.memoryRecords<Value>();
      const rows: { key: string; value: Value }[] = [];
      for (let r = 0; r < HOT; r++) rows.push({ key: key(r), value: userOf(r) });
      await records.setMany(rows);
      const cache: BenchCache<Value> = core.createCache<Value>({
        name: 'bench-l1',
        records,
        l1: core.memoryStore({ maxEntries: CAPACITY }),
      });
      // Read-through fill: the first get of each key loads it from the record store into L1 (a
      // thousand concurrent gets at a time, as concurrent requests would).
      for (let from = 0; from < HOT; from += 1_000) {
        const gets: Promise<unknown>[] = [];
        for (let r = from; r < Math.min(HOT, from + 1_000); r++) gets.push(cache.get(key(r)));
        await Promise.all(gets);
      }
      let i = 0;
      let misses = 0;
      const before = records.calls?.get;
      contenders.push({
        name: 'writethrough `await cache.get` (L1 hit)',
        kind: 'async',
        chunk: async () => {
          for (let j = 0; j < CHUNK; j++) {
            if ((await cache.get(hot[i]!)) === undefined) misses++;
            if (++i === n) i = 0;
          }
        },
        // A get that reached the record store was not an L1 hit.
        misses: () => misses + ((records.calls?.get ?? 0) - (before ?? 0)),
        close: async () => {
          await cache.close?.();
          await records.close?.();
        },
      });
    }
  }

  // 6. BentoCache, memory only.
  {
    const bento = new BentoCache({
      default: 'memory',
      stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: CAPACITY })) },
    });
    for (let r = 0; r < HOT; r++) await bento.set({ key: key(r), value: userOf(r) });
    let i = 0;
    let misses = 0;
    contenders.push({
      name: 'BentoCache (memory) `await bento.get({ key })`',
      kind: 'async',
      note: 'memory driver (lru-cache) with its default serialization',
      chunk: async () => {
        for (let j = 0; j < CHUNK; j++) {
          if ((await bento.get<Value>({ key: hot[i]! })) === undefined) misses++;
          if (++i === n) i = 0;
        }
      },
      misses: () => misses,
      close: () => bento.disconnectAll(),
    });
  }

  // 7. cache-manager 7, default store (Keyv over a Map).
  {
    const manager = createCacheManager();
    for (let r = 0; r < HOT; r++) await manager.set(key(r), userOf(r));
    let i = 0;
    let misses = 0;
    contenders.push({
      name: 'cache-manager 7 `await cache.get`',
      kind: 'async',
      note: '`createCache()` defaults: one Keyv in-memory store',
      chunk: async () => {
        for (let j = 0; j < CHUNK; j++) {
          if ((await manager.get<Value>(hot[i]!)) === undefined) misses++;
          if (++i === n) i = 0;
        }
      },
      misses: () => misses,
      close: async () => {
        await manager.disconnect();
      },
    });
  }

  // 8. cacheable 2, default memory primary.
  {
    const cacheable = new Cacheable();
    for (let r = 0; r < HOT; r++) await cacheable.set(key(r), userOf(r));
    let i = 0;
    let misses = 0;
    contenders.push({
      name: 'cacheable 2 `await cacheable.get`',
      kind: 'async',
      note: '`new Cacheable()` defaults: Keyv over CacheableMemory (clones on get)',
      chunk: async () => {
        for (let j = 0; j < CHUNK; j++) {
          if ((await cacheable.get<Value>(hot[i]!)) === undefined) misses++;
          if (++i === n) i = 0;
        }
      },
      misses: () => misses,
      close: () => cacheable.disconnect(),
    });
  }

  return contenders;
}

export async function runL1Hit(): Promise<Section> {
  const began = performance.now();
  const hot = hotTrace();
  const contenders = await build(hot);
  process.stdout.write(
    `  l1-hit: contenders warmed in ${((performance.now() - began) / 1000).toFixed(1)} s\n`,
  );
  collect();
  const best = new Map<Contender, { mean: number; p50: number }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of contenders) {
      if (c.chunk === undefined) continue;
      const stats = await perOp(c.chunk, CHUNK, { budgetMs: 300 });
      const prev = best.get(c);
      best.set(c, {
        mean: Math.min(prev?.mean ?? Number.POSITIVE_INFINITY, stats.mean),
        p50: Math.min(prev?.p50 ?? Number.POSITIVE_INFINITY, stats.p50),
      });
      process.stdout.write(`  l1-hit round ${round + 1}: ${c.name}: ${stats.mean.toFixed(1)} ns/get\n`);
    }
  }
  for (const c of contenders) await c.close?.();

  const floor = contenders.find((c) => c.name.includes('async floor'));
  const floorNs = floor === undefined ? Number.NaN : (best.get(floor)?.mean ?? Number.NaN);
  const syncFloor = contenders[0];
  const syncFloorNs = syncFloor === undefined ? Number.NaN : (best.get(syncFloor)?.mean ?? Number.NaN);
  const rows = contenders.map((c) => {
    const stats = best.get(c);
    if (stats === undefined) return [c.name, c.kind, 'n/a', 'n/a', 'n/a', 'n/a', c.skipped ?? ''];
    const misses = c.misses?.() ?? 0;
    const notes = [c.note, misses > 0 ? `**${num(misses)} misses: not all hits**` : undefined].filter(
      Boolean,
    );
    return [
      c.name,
      c.kind,
      num(stats.mean, 1),
      num(stats.p50, 1),
      ratio(stats.mean / floorNs),
      ratio(stats.mean / syncFloorNs),
      notes.join('; '),
    ];
  });

  const notes: string[] = [];
  const engine = contenders.find((c) => c.name.includes('cache.get'));
  const engineNs = engine === undefined ? undefined : best.get(engine)?.mean;
  if (engineNs === undefined) {
    notes.push(`Target (our awaited hit ≤ ${TARGET}× the awaited async \`Map.get\`): not measured yet.`);
  } else {
    const r = engineNs / floorNs;
    const medianRatio = (best.get(engine!)?.p50 ?? Number.NaN) / (best.get(floor!)?.p50 ?? Number.NaN);
    notes.push(
      `Target: our awaited hit ≤ ${TARGET}× the awaited async \`Map.get\` — measured ${ratio(r)} on means ` +
        `(${ratio(medianRatio)} on medians): **${r <= TARGET ? 'met' : 'missed'}**.`,
    );
  }
  notes.push(
    `Hot trace: ${num(hot.length)} gets (the requests of the 2M-request trace that fall on the ${num(HOT)} ` +
      `hottest keys), replayed in order, ${num(CHUNK)} gets per timed call; each figure is the best of ${ROUNDS} rounds.`,
  );
  return {
    title: 'L1 hit throughput (Zipf 0.99, every get a hit)',
    what:
      'Nanoseconds per get while every cache holds the 100k hottest keys of a Zipf(0.99) trace over 1M keys ' +
      'and the replayed requests fall only on those keys. Lower is better; the ratio columns divide by the ' +
      'awaited async `Map.get` (the async floor) and by the plain `Map.get` (the sync floor).',
    headers: ['contender', 'call', 'ns/get (mean)', 'ns/get (median)', '× async Map', '× Map', 'notes'],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'l'],
    rows,
    notes,
  };
}
