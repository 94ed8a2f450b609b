/**
 * L1 hit throughput: every contender holds the 100k hottest keys of the Zipf(0.99)/1M-key trace,
 * then replays the part of the trace that falls on those keys, so every get is a hit. Sync
 * contenders are called in a plain loop; async ones are awaited one after the other, as a request
 * handler would. Each contender is built and timed in a process of its own (`l1-hit-child.ts`), so
 * no contender's inline caches, heap or garbage collections weigh on another's: with all of them
 * in one heap, collections took a third of the time and favoured whichever ran with the least
 * live data.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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
/** Processes per contender, started in turn (contender 1, 2, …, 8, 1, 2, …), so slow spells of the machine fall on all of them. */
const PROCESSES = 3;
/** Timed rounds in each process; a contender's figure is the best of PROCESSES × ROUNDS. */
const ROUNDS = 3;
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

/** A contender, built and ready to be timed. */
interface Timed {
  /** Performs CHUNK gets along the hot trace. */
  readonly chunk: () => unknown;
  /** Gets that found nothing so far (must stay 0). */
  readonly misses: () => number;
  readonly close?: () => Promise<void>;
}

interface Contender {
  readonly name: string;
  readonly kind: 'sync' | 'async';
  readonly note?: string;
  /** Builds and warms the contender over the hot trace, or says why it cannot be measured. */
  readonly make: (hot: readonly string[]) => Promise<Timed | { readonly skipped: string }>;
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

/** Replays `hot` through `get` in chunks of CHUNK, counting the gets that found nothing. */
function syncLoop(hot: readonly string[], get: (key: string) => unknown): Timed {
  const n = hot.length;
  let i = 0;
  let misses = 0;
  return {
    chunk: () => {
      for (let j = 0; j < CHUNK; j++) {
        if (get(hot[i]!) === undefined) misses++;
        if (++i === n) i = 0;
      }
    },
    misses: () => misses,
  };
}

export const CONTENDERS: readonly Contender[] = [
  {
    name: '`Map.get` (sync floor)',
    kind: 'sync',
    make: async (hot) => {
      const { key } = workload();
      const map = new Map<string, Value>();
      for (let r = 0; r < HOT; r++) map.set(key(r), userOf(r));
      return syncLoop(hot, (k) => map.get(k));
    },
  },
  {
    name: '`await asyncMap.get` (async floor)',
    kind: 'async',
    make: async (hot) => {
      const { key } = workload();
      const asyncMap = new AsyncMap<Value>();
      for (let r = 0; r < HOT; r++) asyncMap.map.set(key(r), userOf(r));
      const n = hot.length;
      let i = 0;
      let misses = 0;
      return {
        chunk: async () => {
          for (let j = 0; j < CHUNK; j++) {
            if ((await asyncMap.get(hot[i]!)) === undefined) misses++;
            if (++i === n) i = 0;
          }
        },
        misses: () => misses,
      };
    },
  },
  {
    name: '`lru-cache` `get`',
    kind: 'sync',
    make: async (hot) => {
      const { key } = workload();
      const lru = new LRUCache<string, Value>({ max: CAPACITY });
      for (let r = 0; r < HOT; r++) lru.set(key(r), userOf(r));
      return syncLoop(hot, (k) => lru.get(k));
    },
  },
  {
    name: 'writethrough `memoryStore().getSync`',
    kind: 'sync',
    make: async (hot) => {
      const { key } = workload();
      const core = await loadCore();
      const absent = missing(core, 'memoryStore');
      if (absent !== undefined || core.memoryStore === undefined) return { skipped: absent ?? 'missing' };
      const tier: BenchTier = core.memoryStore({ maxEntries: CAPACITY });
      await fillTierBulk(tier, HOT, (r) => ({ key: key(r), payload: userOf(r) }));
      const loop = syncLoop(hot, (k) => (tier.getSync(k, LEASE).kind === 'hit' ? true : undefined));
      return { ...loop, close: () => tier.close() };
    },
  },
  {
    name: 'writethrough `await cache.get` (L1 hit)',
    kind: 'async',
    make: async (hot) => {
      const { key } = workload();
      const core = await loadCore();
      const absent = missing(core, 'createCache', 'memoryStore', 'memoryRecords');
      if (
        absent !== undefined ||
        core.createCache === undefined ||
        core.memoryStore === undefined ||
        core.memoryRecords === undefined
      ) {
        return { skipped: absent ?? 'missing' };
      }
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
      const n = hot.length;
      let i = 0;
      let misses = 0;
      const before = records.calls?.get ?? 0;
      return {
        chunk: async () => {
          for (let j = 0; j < CHUNK; j++) {
            if ((await cache.get(hot[i]!)) === undefined) misses++;
            if (++i === n) i = 0;
          }
        },
        // A get that reached the record store was not an L1 hit.
        misses: () => misses + ((records.calls?.get ?? 0) - before),
        close: async () => {
          await cache.close?.();
          await records.close?.();
        },
      };
    },
  },
  {
    name: 'BentoCache (memory) `await bento.get({ key })`',
    kind: 'async',
    note: 'memory driver (lru-cache) with its default serialization',
    make: async (hot) => {
      const { key } = workload();
      const bento = new BentoCache({
        default: 'memory',
        stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: CAPACITY })) },
      });
      for (let r = 0; r < HOT; r++) await bento.set({ key: key(r), value: userOf(r) });
      const n = hot.length;
      let i = 0;
      let misses = 0;
      return {
        chunk: async () => {
          for (let j = 0; j < CHUNK; j++) {
            if ((await bento.get<Value>({ key: hot[i]! })) === undefined) misses++;
            if (++i === n) i = 0;
          }
        },
        misses: () => misses,
        close: () => bento.disconnectAll(),
      };
    },
  },
  {
    name: 'cache-manager 7 `await cache.get`',
    kind: 'async',
    note: '`createCache()` defaults: one Keyv in-memory store',
    make: async (hot) => {
      const { key } = workload();
      const manager = createCacheManager();
      for (let r = 0; r < HOT; r++) await manager.set(key(r), userOf(r));
      const n = hot.length;
      let i = 0;
      let misses = 0;
      return {
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
      };
    },
  },
  {
    name: 'cacheable 2 `await cacheable.get`',
    kind: 'async',
    note: '`new Cacheable()` defaults: Keyv over CacheableMemory (clones on get)',
    make: async (hot) => {
      const { key } = workload();
      const cacheable = new Cacheable();
      for (let r = 0; r < HOT; r++) await cacheable.set(key(r), userOf(r));
      const n = hot.length;
      let i = 0;
      let misses = 0;
      return {
        chunk: async () => {
          for (let j = 0; j < CHUNK; j++) {
            if ((await cacheable.get<Value>(hot[i]!)) === undefined) misses++;
            if (++i === n) i = 0;
          }
        },
        misses: () => misses,
        close: () => cacheable.disconnect(),
      };
    },
  },
];

/** What a child process reports for its contender. */
export type ChildResult =
  | { readonly mean: number; readonly p50: number; readonly misses: number; readonly rounds: number[] }
  | { readonly skipped: string };

/** Runs in the child: builds contender `index`, times it ROUNDS times, keeps the best mean and median. */
export async function measureOne(index: number): Promise<ChildResult> {
  const contender = CONTENDERS[index];
  if (contender === undefined) throw new Error(`no l1-hit contender ${index}`);
  const built = await contender.make(hotTrace());
  if ('skipped' in built) return { skipped: built.skipped };
  collect();
  let mean = Number.POSITIVE_INFINITY;
  let p50 = Number.POSITIVE_INFINITY;
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const stats = await perOp(built.chunk, CHUNK, { budgetMs: 300 });
    rounds.push(stats.mean);
    mean = Math.min(mean, stats.mean);
    p50 = Math.min(p50, stats.p50);
  }
  const misses = built.misses();
  await built.close?.();
  return { mean, p50, misses, rounds };
}

const run = promisify(execFile);

/** Starts a fresh Node process (same flags as this one) that measures contender `index`. */
async function inChild(index: number): Promise<ChildResult> {
  const child = fileURLToPath(new URL('./l1-hit-child.ts', import.meta.url));
  const { stdout } = await run(process.execPath, [...process.execArgv, child, String(index)], {
    maxBuffer: 1 << 20,
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as ChildResult;
}

export async function runL1Hit(): Promise<Section> {
  const hot = hotTrace();
  const results = new Map<Contender, ChildResult>();
  /** Each pass's best mean per contender: the processes of one pass ran side by side in time. */
  const perPass = new Map<Contender, number[]>();
  for (let pass = 0; pass < PROCESSES; pass++) {
    for (const [index, c] of CONTENDERS.entries()) {
      const began = performance.now();
      const result = await inChild(index);
      const took = ((performance.now() - began) / 1000).toFixed(1);
      process.stdout.write(
        'skipped' in result
          ? `  l1-hit: ${c.name}: ${result.skipped}\n`
          : `  l1-hit ${pass + 1}/${PROCESSES}: ${c.name}: ${result.rounds.map((ns) => ns.toFixed(1)).join(' / ')} ns/get (${took} s)\n`,
      );
      if (!('skipped' in result)) perPass.set(c, [...(perPass.get(c) ?? []), result.mean]);
      const prev = results.get(c);
      if (prev === undefined || 'skipped' in prev || 'skipped' in result) results.set(c, result);
      else {
        results.set(c, {
          mean: Math.min(prev.mean, result.mean),
          p50: Math.min(prev.p50, result.p50),
          misses: prev.misses + result.misses,
          rounds: [...prev.rounds, ...result.rounds],
        });
      }
    }
  }

  const best = (c: Contender | undefined) => {
    const result = c === undefined ? undefined : results.get(c);
    return result === undefined || 'skipped' in result ? undefined : result;
  };
  const floor = CONTENDERS.find((c) => c.name.includes('async floor'));
  const floorNs = best(floor)?.mean ?? Number.NaN;
  const syncFloorNs = best(CONTENDERS[0])?.mean ?? Number.NaN;
  const rows = CONTENDERS.map((c) => {
    const result = results.get(c);
    if (result === undefined || 'skipped' in result) {
      return [c.name, c.kind, 'n/a', 'n/a', 'n/a', 'n/a', result?.skipped ?? ''];
    }
    const notes = [
      c.note,
      result.misses > 0 ? `**${num(result.misses)} misses: not all hits**` : undefined,
    ].filter(Boolean);
    return [
      c.name,
      c.kind,
      num(result.mean, 1),
      num(result.p50, 1),
      ratio(result.mean / floorNs),
      ratio(result.mean / syncFloorNs),
      notes.join('; '),
    ];
  });

  const notes: string[] = [];
  const engine = best(CONTENDERS.find((c) => c.name.includes('cache.get')));
  if (engine === undefined) {
    notes.push(`Target (our awaited hit ≤ ${TARGET}× the awaited async \`Map.get\`): not measured yet.`);
  } else {
    // The verdict pairs each pass's engine process with that pass's floor process and takes the
    // median of those ratios: a floor process that drew a lucky memory layout (it happens: the
    // floor's best varies 390–550 ns between processes here) then sways one pair, not the verdict.
    const engineC = CONTENDERS.find((c) => c.name.includes('cache.get'))!;
    const pairs = (perPass.get(engineC) ?? []).map((ns, i) => ns / (perPass.get(floor!)?.[i] ?? Number.NaN));
    const sorted = [...pairs].sort((a, b) => a - b);
    const paired = sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
    const r = engine.mean / floorNs;
    notes.push(
      `Target: our awaited hit ≤ ${TARGET}× the awaited async \`Map.get\` — median of the ${pairs.length} ` +
        `per-pass ratios ${ratio(paired)} (${pairs.map((x) => ratio(x)).join(', ')}); best against best ` +
        `${ratio(r)}: **${paired <= TARGET ? 'met' : 'missed'}**.`,
    );
  }
  notes.push(
    `Hot trace: ${num(hot.length)} gets (the requests of the 2M-request trace that fall on the ${num(HOT)} ` +
      `hottest keys), replayed in order, ${num(CHUNK)} gets per timed call; each contender runs in a ` +
      `fresh Node process of its own (${PROCESSES} processes per contender, started in turn) and its figure ` +
      `is the best of ${PROCESSES * ROUNDS} rounds.`,
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
