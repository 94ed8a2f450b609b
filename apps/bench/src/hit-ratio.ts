/**
 * Hit ratio at a capacity of 10k entries on the shared Zipf(0.99)/1M-key trace of 2M requests,
 * starting empty; a miss inserts the key. LRU (lru-cache), our memoryStore (SIEVE, filled through
 * its lease protocol) and the static top-10k oracle; the peers' bounded memory stores are run on
 * the same trace through their synchronous store APIs (their policy, without their async wrappers).
 */
import { MemoryDriver } from 'bentocache/drivers/memory';
import { CacheableMemory } from 'cacheable';
import { LRUCache } from 'lru-cache';
import { type BenchTier, type Core, LEASE, LONG_TTL_MS, loadCore, missing } from './core.js';
import { collect } from './measure.js';
import { num, percent, ratio, type Section } from './report.js';
import { workload } from './zipf.js';

const CAPACITY = 10_000;
/** The project's target for our memoryStore. */
const TARGET = 0.62;
/** The tiny `maxLeases` the fill-cost probe compares the default with. */
const SMALL_LEASES = 16;
/** Requests of the trace replayed by the fill-cost probe. */
const PROBE_REQUESTS = 20_000;

interface Outcome {
  readonly name: string;
  readonly policy: string;
  /** Hits over the whole trace and over its second half (the cache is warm by then). */
  readonly hits?: number;
  readonly warmHits?: number;
  readonly ms?: number;
  readonly skipped?: string | undefined;
  readonly note?: string;
}

/** Replays the trace through `lookup` (true on a hit; on a miss it inserts) and counts hits. */
async function replay(
  name: string,
  policy: string,
  lookup: (rank: number, key: string) => boolean | Promise<boolean>,
  note?: string,
): Promise<Outcome> {
  const { trace, key } = workload();
  const half = trace.length >>> 1;
  collect();
  const start = performance.now();
  let hits = 0;
  let warmHits = 0;
  for (let i = 0; i < trace.length; i++) {
    const rank = trace[i]!;
    let hit = lookup(rank, key(rank));
    if (typeof hit !== 'boolean') hit = await hit;
    if (hit) {
      hits++;
      if (i >= half) warmHits++;
    }
  }
  const ms = performance.now() - start;
  process.stdout.write(`  hit-ratio: ${name}: ${percent(hits / trace.length)}\n`);
  return { name, policy, hits, warmHits, ms, ...(note === undefined ? {} : { note }) };
}

/** A replay step for a memoryStore: a hit, or a lease filled at once through `fillSync` (or `fill`). */
function sieveReplayer(tier: BenchTier) {
  let refused = 0;
  let version = 0;
  const fillSync = tier.fillSync?.bind(tier);
  const lookup = (rank: number, key: string): boolean | Promise<boolean> => {
    const look = tier.getSync(key, LEASE);
    if (look.kind === 'hit') return true;
    if (look.kind !== 'lease') {
      refused++;
      return false;
    }
    const entry = { kind: 'value', payload: rank, version: ++version } as const;
    if (fillSync !== undefined) {
      if (!fillSync(key, look.token, entry, LONG_TTL_MS)) refused++;
      return false;
    }
    return tier.fill(key, look.token, entry, LONG_TTL_MS).then((ok) => {
      if (!ok) refused++;
      return false;
    });
  };
  return {
    lookup,
    refused: () => refused,
    how: `miss → \`getSync\` lease → \`${fillSync === undefined ? 'fill' : 'fillSync'}\``,
  };
}

/**
 * The cost of a miss (lease + fill) with the default `maxLeases` and with a tiny one, over the first
 * requests of the trace. They should be equal: a store whose lease map costs time in proportion to
 * its capacity (as one built on lru-cache did: its `delete` of the last entry runs `clear()`, which
 * rewrites arrays of `max` slots) shows here as a large ratio.
 */
async function probeFillCost(memoryStore: NonNullable<Core['memoryStore']>): Promise<string> {
  const { trace, key } = workload();
  const perMiss = (tier: BenchTier): number => {
    const step = sieveReplayer(tier).lookup;
    let misses = 0;
    collect();
    const start = performance.now();
    for (let i = 0; i < PROBE_REQUESTS; i++) {
      const rank = trace[i]!;
      if (step(rank, key(rank)) !== true) misses++;
    }
    return ((performance.now() - start) * 1000) / misses;
  };
  // Alternated twice, best of two each, so neither pays alone for warming the code.
  let fast = Number.POSITIVE_INFINITY;
  let slow = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 2; round++) {
    const small = memoryStore({ maxEntries: CAPACITY, maxLeases: SMALL_LEASES });
    const byDefault = memoryStore({ maxEntries: CAPACITY });
    fast = Math.min(fast, perMiss(small));
    slow = Math.min(slow, perMiss(byDefault));
    await byDefault.close();
    await small.close();
  }
  const r = slow / fast;
  process.stdout.write(
    `  hit-ratio: memoryStore miss+fill ${slow.toFixed(2)} µs (default) vs ${fast.toFixed(2)} µs\n`,
  );
  const verdict =
    r > 2
      ? '**the fill path costs time in proportion to `maxLeases`: a regression**'
      : 'no dependence on the lease capacity';
  return (
    `Fill cost: a sequential miss + fill on memoryStore takes ${num(slow, 2)} µs with the default ` +
    `\`maxLeases\` and ${num(fast, 2)} µs with \`maxLeases: ${SMALL_LEASES}\` (${ratio(r)}, first ` +
    `${num(PROBE_REQUESTS)} requests): ${verdict}.`
  );
}

export async function runHitRatio(): Promise<Section> {
  const { trace, sampler } = workload();
  const outcomes: Outcome[] = [];

  const lru = new LRUCache<string, number>({ max: CAPACITY });
  outcomes.push(
    await replay('lru-cache', 'LRU', (rank, key) => {
      if (lru.get(key) !== undefined) return true;
      lru.set(key, rank);
      return false;
    }),
  );
  lru.clear();

  const core = await loadCore();
  const absent = missing(core, 'memoryStore');
  let fillProbe: string | undefined;
  if (absent !== undefined || core.memoryStore === undefined) {
    outcomes.push({ name: 'writethrough `memoryStore`', policy: 'SIEVE', skipped: absent });
  } else {
    // Hit or lease; a lease is filled at once (the store's defaults apart from its capacity).
    const tier: BenchTier = core.memoryStore({ maxEntries: CAPACITY });
    const sieve = sieveReplayer(tier);
    const outcome = await replay('writethrough `memoryStore`', 'SIEVE', sieve.lookup, sieve.how);
    outcomes.push(
      sieve.refused() === 0
        ? outcome
        : { ...outcome, note: `${outcome.note}; **${num(sieve.refused())} misses not filled**` },
    );
    await tier.close();
    fillProbe = await probeFillCost(core.memoryStore);
  }

  // BentoCache's memory driver is lru-cache with `maxItems`; its entries are serialized strings.
  const bento = new MemoryDriver({ maxItems: CAPACITY });
  outcomes.push(
    await replay(
      'BentoCache memory driver',
      'LRU (lru-cache)',
      (rank, key) => {
        if (bento.get(key) !== undefined) return true;
        bento.set(key, String(rank));
        return false;
      },
      '`maxItems: 10000`, driver called directly (sync)',
    ),
  );
  await bento.clear();

  // cacheable 2 and cache-manager 7 are bounded only through CacheableMemory's `lruSize`.
  const cacheableMemory = new CacheableMemory({ lruSize: CAPACITY, useClone: false });
  outcomes.push(
    await replay(
      'cacheable / cache-manager (CacheableMemory)',
      'LRU',
      (rank, key) => {
        if (cacheableMemory.get(key) !== undefined) return true;
        cacheableMemory.set(key, rank);
        return false;
      },
      '`lruSize: 10000`, the store under `createKeyv({ lruSize })`, called directly (sync)',
    ),
  );
  cacheableMemory.clear();

  // The oracle holds the 10k most popular keys from the start and never changes.
  let oracleHits = 0;
  let oracleWarm = 0;
  const half = trace.length >>> 1;
  for (let i = 0; i < trace.length; i++) {
    if (trace[i]! < CAPACITY) {
      oracleHits++;
      if (i >= half) oracleWarm++;
    }
  }
  outcomes.push({
    name: 'static top-10k oracle',
    policy: 'the 10k hottest keys, fixed',
    hits: oracleHits,
    warmHits: oracleWarm,
    note: `expected mass of the top 10k ranks: ${percent(sampler.massOfTop(CAPACITY))}`,
  });

  const oracleRatio = oracleHits / trace.length;
  const rows = outcomes.map((o) => {
    if (o.hits === undefined) return [o.name, o.policy, 'n/a', 'n/a', 'n/a', o.skipped ?? ''];
    const r = o.hits / trace.length;
    return [
      o.name,
      o.policy,
      percent(r),
      percent((o.warmHits ?? 0) / (trace.length - half)),
      percent(r / oracleRatio),
      [o.note, o.ms === undefined ? undefined : `${num(o.ms)} ms`].filter(Boolean).join('; '),
    ];
  });

  const notes: string[] = [];
  const ours = outcomes.find((o) => o.policy === 'SIEVE');
  const lruOutcome = outcomes[0];
  if (ours?.hits === undefined) {
    notes.push(`Target (memoryStore ≥ ${percent(TARGET)}): not measured yet.`);
  } else {
    const r = ours.hits / trace.length;
    notes.push(
      `Target: memoryStore ≥ ${percent(TARGET)} — measured ${percent(r)}: **${r >= TARGET ? 'met' : 'missed'}**` +
        (lruOutcome?.hits === undefined
          ? '.'
          : `; ${num(((ours.hits - lruOutcome.hits) / trace.length) * 100, 2)} points above LRU.`),
    );
  }
  if (fillProbe !== undefined) notes.push(fillProbe);
  notes.push(
    `Trace: ${num(trace.length)} requests, Zipf(${sampler.s}) over ${num(sampler.n)} keys, capacity ` +
      `${num(CAPACITY)}, starting empty (cold misses count); "warm half" counts only the second million requests.`,
  );
  return {
    title: 'Hit ratio at 10k entries (Zipf 0.99 over 1M keys)',
    what:
      'The share of 2M requests answered from a cache of 10,000 entries that inserts every missed key. ' +
      'Higher is better; "of oracle" divides by the static cache of the 10k most popular keys.',
    headers: ['cache', 'policy', 'hit ratio', 'warm half', 'of oracle', 'notes'],
    align: ['l', 'l', 'r', 'r', 'r', 'l'],
    rows,
    notes,
  };
}
