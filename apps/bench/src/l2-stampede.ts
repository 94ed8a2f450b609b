/**
 * A stampede on one cold key across three engine instances: 500 concurrent gets of a key nobody
 * holds, spread round-robin over 3 caches that share one Redis namespace and one record store
 * (memoryRecords, 5 ms per call), each with its own ioredis connection. The figure is how many
 * times the record store was asked for the key (the target is 1: one instance leases, loads and
 * fills; the others wait for the fill). The same stampede runs against cache-aside written by
 * hand, BentoCache `getOrSet` and cache-manager `wrap`, three instances each.
 */
import { createKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Redis as Redis5 } from 'ioredis';
import { type BenchCache, type BenchRecords, type Core, loadCore } from './core.js';
import { userOf, type Value } from './l1-hit.js';
import {
  deleteKeys,
  ourL2Cache,
  quit,
  REDIS_OPTIONS,
  REDIS_URL,
  redis6,
  redisUnavailable,
  runToken,
} from './l2-common.js';
import { sleep } from './measure.js';
import { num, type Section } from './report.js';

/** Concurrent gets of the cold key. */
const GETS = 500;
/** Engine instances the gets are spread over. */
const INSTANCES = 3;
/** Latency of every record-store call, ms. */
const LATENCY_MS = 5;
/** Stampedes per contender, each on a key of its own. */
const TRIALS = 5;
/** The target: record-store loads per stampede. */
const TARGET = 1;

type Get = (key: string) => Promise<unknown>;

interface Built {
  /** One get function per instance. */
  readonly gets: readonly Get[];
  readonly close: () => Promise<void>;
}

interface Contender {
  readonly name: string;
  readonly note?: string;
  readonly ours?: boolean;
  readonly make: (
    core: Core,
    records: BenchRecords<Value>,
    token: string,
  ) => Promise<Built | { readonly skipped: string }>;
}

async function load(records: BenchRecords<Value>, key: string): Promise<Value | undefined> {
  const read = await records.get(key);
  return read.found ? read.value : undefined;
}

const CONTENDERS: readonly Contender[] = [
  {
    name: 'writethrough `cache.get` (L1 off, `redisStore`)',
    ours: true,
    note: 'fill lease in Redis; default `leaseWait` (3 × 5 ms, doubling)',
    make: async (core, records, token) => {
      const caches: BenchCache<Value>[] = [];
      const clients: ReturnType<typeof redis6>[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        const client = redis6();
        clients.push(client);
        const cache = await ourL2Cache(core, 'bench-l2-stampede', records, client, `${token}:ours:`);
        if ('skipped' in cache) {
          for (const c of caches) await c.close?.();
          for (const c of clients) await quit(c);
          return cache;
        }
        caches.push(cache);
      }
      return {
        gets: caches.map((cache) => (key: string) => cache.get(key)),
        close: async () => {
          for (const c of caches) await c.close?.();
          for (const c of clients) await quit(c);
        },
      };
    },
  },
  {
    name: 'cache-aside on ioredis 6: `GET`, load, `SET … PX`',
    note: 'no stampede protection',
    make: async (_core, records, token) => {
      const clients = Array.from({ length: INSTANCES }, () => redis6());
      return {
        gets: clients.map((client) => async (key: string) => {
          const redisKey = `${token}:aside:${key}`;
          const cached = await client.get(redisKey);
          if (cached !== null) return JSON.parse(cached) as Value;
          const value = await load(records, key);
          if (value !== undefined) await client.set(redisKey, JSON.stringify(value), 'PX', 300_000);
          return value;
        }),
        close: async () => {
          for (const c of clients) await quit(c);
        },
      };
    },
  },
  {
    name: 'BentoCache 1.6 (L2 only) `getOrSet`',
    note: 'one lock per instance (in process)',
    make: async (_core, records, token) => {
      const clients = Array.from({ length: INSTANCES }, () => new Redis5(REDIS_OPTIONS));
      const bentos = clients.map(
        (connection) =>
          new BentoCache({
            default: 'redis',
            stores: {
              redis: bentostore().useL2Layer(redisDriver({ connection, prefix: `${token}:bento` })),
            },
          }),
      );
      return {
        gets: bentos.map(
          (bento) => (key: string) =>
            bento.getOrSet<Value | undefined>({ key, ttl: '5m', factory: () => load(records, key) }),
        ),
        close: async () => {
          for (const b of bentos) await b.disconnectAll();
          for (const c of clients) await quit(c);
        },
      };
    },
  },
  {
    name: 'cache-manager 7 `wrap` (Keyv redis store)',
    note: 'coalesces concurrent calls within an instance',
    make: async (_core, records, token) => {
      const managers = Array.from({ length: INSTANCES }, () =>
        createCacheManager({ stores: [createKeyv(REDIS_URL, { namespace: `${token}:cm` })] }),
      );
      return {
        gets: managers.map((m) => (key: string) => m.wrap(key, () => load(records, key), 300_000)),
        close: async () => {
          for (const m of managers) await m.disconnect();
        },
      };
    },
  },
];

interface Trial {
  readonly loads: number;
  readonly ms: number;
  /** Gets that did not return the value (undefined, or an error). */
  readonly wrong: number;
}

export async function runL2Stampede(): Promise<Section> {
  const title = 'L2 stampede (Redis, 3 instances, one cold key)';
  const what =
    `${num(GETS)} concurrent gets of one cold key, spread round-robin over ${INSTANCES} instances that share a Redis ` +
    `namespace and a record store (memoryRecords, ${LATENCY_MS} ms per call), each instance on its own connection, L1 off. ` +
    '"loads" counts the record-store reads of the key; fewer is better.';
  const headers = [
    'contender',
    'loads per stampede',
    'loads (each trial)',
    'ms to the last answer (median)',
    'wrong answers',
    'notes',
  ];
  const align = ['l', 'r', 'l', 'r', 'r', 'l'] as const;
  const down = await redisUnavailable();
  const core = await loadCore();
  if (down !== undefined || core.memoryRecords === undefined) {
    const why = down ?? '@writethrough/core does not export `memoryRecords`';
    return { title, what, headers, align, rows: [], notes: [`Not measured: ${why}.`] };
  }

  const token = runToken('l2stampede');
  const results = new Map<Contender, Trial[] | { readonly skipped: string }>();
  try {
    for (const c of CONTENDERS) {
      const records = core.memoryRecords<Value>({ latencyMs: LATENCY_MS });
      const keys = Array.from({ length: TRIALS }, (_, t) => `cold:${t}`);
      await records.setMany(keys.map((key, t) => ({ key, value: userOf(t) })));
      const built = await c.make(core, records, token);
      if ('skipped' in built) {
        results.set(c, built);
        process.stdout.write(`  l2-stampede: ${c.name}: ${built.skipped}\n`);
        await records.close?.();
        continue;
      }
      const trials: Trial[] = [];
      try {
        for (const [t, key] of keys.entries()) {
          const before = records.calls?.get ?? 0;
          const expected = userOf(t).name;
          const start = performance.now();
          const answers = await Promise.allSettled(
            Array.from({ length: GETS }, (_, i) => built.gets[i % INSTANCES]!(key)),
          );
          const ms = performance.now() - start;
          const wrong = answers.filter(
            (a) => a.status === 'rejected' || (a.value as Value | undefined)?.name !== expected,
          ).length;
          const loads = (records.calls?.get ?? 0) - before;
          trials.push({ loads, ms, wrong });
          process.stdout.write(
            `  l2-stampede: ${c.name}: trial ${t + 1}: ${loads} loads, ${ms.toFixed(1)} ms, ${wrong} wrong\n`,
          );
          await sleep(20);
        }
        results.set(c, trials);
      } finally {
        await built.close().catch(() => {});
        await records.close?.();
      }
    }
  } finally {
    const deleted = await deleteKeys(token);
    process.stdout.write(`  l2-stampede: deleted ${num(deleted)} keys of ${token}\n`);
  }

  const rows = CONTENDERS.map((c) => {
    const r = results.get(c);
    if (r === undefined || 'skipped' in r) return [c.name, 'n/a', 'n/a', 'n/a', 'n/a', r?.skipped ?? ''];
    const loads = r.map((t) => t.loads);
    const ms = r.map((t) => t.ms).sort((a, b) => a - b);
    const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
    return [
      c.name,
      num(mean, mean % 1 === 0 ? 0 : 1),
      loads.join(', '),
      num(ms[Math.floor(ms.length / 2)]!, 1),
      num(r.reduce((a, t) => a + t.wrong, 0)),
      c.note ?? '',
    ];
  });
  const notes: string[] = [];
  const ours = results.get(CONTENDERS.find((c) => c.ours)!);
  if (ours === undefined || 'skipped' in ours) {
    notes.push(`Target (${TARGET} record-store load per stampede): not measured yet.`);
  } else {
    const worst = Math.max(...ours.map((t) => t.loads));
    notes.push(
      `Target: ${TARGET} record-store load per stampede — measured at most ${worst} over ${TRIALS} stampedes: ` +
        `**${worst <= TARGET ? 'met' : 'missed'}**.`,
    );
  }
  notes.push(
    `${TRIALS} stampedes per contender, each on a key of its own that no instance holds; "wrong answers" counts gets ` +
      'that rejected or did not return the stored value.',
  );
  return { title, what, headers, align, rows, notes };
}
