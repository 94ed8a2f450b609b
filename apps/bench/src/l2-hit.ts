/**
 * L2 hit throughput against a real Redis: every contender holds the same HOT keys (values like the
 * l1-hit benchmark's `userOf`) and replays the Zipf(0.99) trace's requests that fall on them, so
 * every get is a hit, with 1, 16 and 256 requests in flight. The floor is a raw ioredis 6 `GET`;
 * our `cache.get` runs with L1 off so every hit is an L2 hit. A `MONITOR` sample counts the
 * commands each get sends.
 */
import { createKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Redis as Redis5 } from 'ioredis';
import { type BenchRecords, loadCore } from './core.js';
import { userOf, type Value } from './l1-hit.js';
import {
  type CommandCount,
  CommandCounter,
  cycle,
  deleteKeys,
  describeCount,
  drive,
  ourL2Cache,
  quit,
  REDIS_OPTIONS,
  REDIS_URL,
  redis6,
  redisUnavailable,
  runToken,
} from './l2-common.js';
import { collect } from './measure.js';
import { num, ratio, type Section } from './report.js';
import { workload } from './zipf.js';

/** Hot keys every contender holds (the hottest ranks). */
const HOT = 10_000;
/** Requests in flight. */
const LEVELS = [1, 16, 256] as const;
/** Timed and warm-up durations of one contender at one level, ms. */
const RUN_MS = 1_000;
const WARMUP_MS = 300;
/** Passes over all contenders and levels, in turn; each contender keeps its best ops/s. */
const PASSES = 3;
/** Gets, one at a time, in the MONITOR sample. */
const SAMPLE = 200;
/** The project's target: our hit ≥ this share of raw ioredis at 16 and 256 in flight. */
const TARGET = 0.9;

interface Built {
  /** One get; resolves to the value (undefined or null on a miss). */
  readonly get: (key: string) => Promise<unknown>;
  /** The key each rank is asked by. */
  readonly keys: readonly string[];
  /** Something wrong with the run (e.g. gets that reached the record store), or undefined. */
  readonly check?: () => string | undefined;
  readonly close: () => Promise<void>;
}

interface Contender {
  readonly name: string;
  readonly note?: string;
  readonly ours?: boolean;
  readonly floor?: boolean;
  readonly make: (token: string) => Promise<Built | { readonly skipped: string }>;
}

function hotKeys(prefix = ''): string[] {
  const { key } = workload();
  return Array.from({ length: HOT }, (_, r) => `${prefix}${key(r)}`);
}

/** Stores `value(r)` under `keys[r]` with `set`, 256 at a time. */
async function fill(keys: readonly string[], set: (key: string, r: number) => Promise<unknown>) {
  for (let from = 0; from < keys.length; from += 256) {
    const batch: Promise<unknown>[] = [];
    for (let r = from; r < Math.min(keys.length, from + 256); r++) batch.push(set(keys[r]!, r));
    await Promise.all(batch);
  }
}

function raw(autoPipelining: boolean): Contender['make'] {
  return async (token) => {
    const client = redis6({ enableAutoPipelining: autoPipelining });
    const keys = hotKeys(`${token}:raw:`);
    await fill(keys, (k, r) => client.set(k, JSON.stringify(userOf(r))));
    return { get: (k) => client.get(k), keys, close: () => quit(client) };
  };
}

function ours(autoPipelining: boolean): Contender['make'] {
  return async (token) => {
    const core = await loadCore();
    if (core.memoryRecords === undefined) return { skipped: 'not measured: no `memoryRecords` in core' };
    const records: BenchRecords<Value> = core.memoryRecords<Value>();
    const keys = hotKeys();
    await records.setMany(keys.map((key, r) => ({ key, value: userOf(r) })));
    const client = redis6({ enableAutoPipelining: autoPipelining });
    const cache = await ourL2Cache(
      core,
      `bench-l2-hit${autoPipelining ? '-ap' : ''}`,
      records,
      client,
      `${token}:ours${autoPipelining ? '-ap' : ''}:`,
    );
    if ('skipped' in cache) {
      await quit(client);
      await records.close?.();
      return cache;
    }
    // Read-through fill: each key's first get misses, loads from the record store and fills L2.
    await fill(keys, (k) => cache.get(k));
    const before = records.calls?.get ?? 0;
    return {
      get: (k) => cache.get(k),
      keys,
      check: () => {
        const loads = (records.calls?.get ?? 0) - before;
        return loads > 0 ? `**${num(loads)} gets reached the record store: not all L2 hits**` : undefined;
      },
      close: async () => {
        await cache.close?.();
        await records.close?.();
        await quit(client);
      },
    };
  };
}

export const CONTENDERS: readonly Contender[] = [
  {
    name: 'ioredis 6 `GET` (floor)',
    floor: true,
    note: 'the raw string, not parsed',
    make: raw(false),
  },
  {
    name: 'ioredis 6 `GET`, `enableAutoPipelining`',
    note: 'the raw string, not parsed',
    make: raw(true),
  },
  {
    name: 'writethrough `cache.get` (L1 off, `redisStore`)',
    ours: true,
    note: 'ioredis 6 client, defaults',
    make: ours(false),
  },
  {
    name: 'writethrough `cache.get` (L1 off, `redisStore`, auto-pipelined client)',
    ours: true,
    note: 'ioredis 6 client with `enableAutoPipelining: true`',
    make: ours(true),
  },
  {
    name: 'BentoCache 1.6 (L2 only) `bento.get({ key })`',
    note: 'redis driver on ioredis 5',
    make: async (token) => {
      const client = new Redis5(REDIS_OPTIONS);
      const bento = new BentoCache({
        default: 'redis',
        stores: {
          redis: bentostore().useL2Layer(redisDriver({ connection: client, prefix: `${token}:bento` })),
        },
      });
      const keys = hotKeys();
      await fill(keys, (key, r) => bento.set({ key, value: userOf(r), ttl: '1h' }));
      return {
        get: (key) => bento.get<Value>({ key }),
        keys,
        close: async () => {
          await bento.disconnectAll();
          await quit(client);
        },
      };
    },
  },
  {
    name: 'Keyv 5.6 + `@keyv/redis` 5 `keyv.get`',
    note: '`createKeyv(url, { namespace })` (node-redis client)',
    make: async (token) => {
      const keyv = createKeyv(REDIS_URL, { namespace: `${token}:keyv` });
      const keys = hotKeys();
      await fill(keys, (key, r) => keyv.set(key, userOf(r)));
      return { get: (key) => keyv.get<Value>(key), keys, close: () => keyv.disconnect() };
    },
  },
  {
    name: 'cache-manager 7 `cache.get` (Keyv redis store)',
    note: '`createCache({ stores: [createKeyv(url)] })`',
    make: async (token) => {
      const manager = createCacheManager({
        stores: [createKeyv(REDIS_URL, { namespace: `${token}:cm` })],
      });
      const keys = hotKeys();
      await fill(keys, (key, r) => manager.set(key, userOf(r)));
      return {
        get: (key) => manager.get<Value>(key),
        keys,
        close: async () => {
          await manager.disconnect();
        },
      };
    },
  },
];

/** The ranks of the trace that fall on the HOT keys, in request order. */
function hotSequence(): Int32Array {
  const { trace } = workload();
  let n = 0;
  for (let i = 0; i < trace.length; i++) if (trace[i]! < HOT) n++;
  const out = new Int32Array(n);
  let j = 0;
  for (let i = 0; i < trace.length; i++) if (trace[i]! < HOT) out[j++] = trace[i]!;
  return out;
}

interface Result {
  readonly best: Map<number, number>;
  empty: number;
  count?: CommandCount;
  problem?: string | undefined;
}

export async function runL2Hit(): Promise<Section> {
  const title = 'L2 hit throughput (Redis, every get a hit)';
  const what =
    `Gets per second against Redis while every contender holds the same ${num(HOT)} hot keys and replays the ` +
    'Zipf(0.99) requests that fall on them, with 1, 16 and 256 requests in flight. Higher is better; ' +
    '"× raw" divides by the raw ioredis 6 `GET` (the floor); our cache runs with L1 off so every hit is an L2 hit.';
  const headers = [
    'contender',
    ...LEVELS.flatMap((n) => [`ops/s @${n}`, `× raw @${n}`]),
    'commands per get',
    'notes',
  ];
  const align = ['l', ...LEVELS.flatMap(() => ['r', 'r'] as const), 'l', 'l'] as const;

  const down = await redisUnavailable();
  if (down !== undefined) {
    return { title, what, headers, align, rows: [], notes: [`Not measured: ${down}.`] };
  }
  const token = runToken('l2hit');
  const seq = hotSequence();
  const built = new Map<Contender, Built>();
  const skipped = new Map<Contender, string>();
  const results = new Map<Contender, Result>();
  let counter: CommandCounter | undefined;
  try {
    for (const c of CONTENDERS) {
      const b = await c.make(token);
      if ('skipped' in b) {
        skipped.set(c, b.skipped);
        process.stdout.write(`  l2-hit: ${c.name}: ${b.skipped}\n`);
      } else {
        built.set(c, b);
        results.set(c, { best: new Map(), empty: 0 });
      }
    }
    for (let pass = 0; pass < PASSES; pass++) {
      for (const level of LEVELS) {
        for (const [c, b] of built) {
          let i = 0;
          const next = () => {
            const key = b.keys[seq[i]!]!;
            if (++i === seq.length) i = 0;
            return key;
          };
          collect();
          await drive(b.get, next, level, WARMUP_MS);
          const d = await drive(b.get, next, level, RUN_MS);
          const r = results.get(c)!;
          r.empty += d.empty;
          r.best.set(level, Math.max(r.best.get(level) ?? 0, d.opsPerSec));
          process.stdout.write(
            `  l2-hit ${pass + 1}/${PASSES} @${level}: ${c.name}: ${num(d.opsPerSec)} ops/s` +
              `${d.empty > 0 ? ` (${d.empty} empty)` : ''}\n`,
          );
        }
      }
    }
    counter = await CommandCounter.open();
    for (const [c, b] of built) {
      const keys = cycle(b.keys);
      const r = results.get(c)!;
      r.count = await counter.count(token, SAMPLE, async () => {
        for (let j = 0; j < SAMPLE; j++) await b.get(keys());
      });
      r.problem = b.check?.();
      process.stdout.write(`  l2-hit: ${c.name}: ${describeCount(r.count)} commands per get\n`);
    }
  } finally {
    counter?.close();
    for (const b of built.values()) await b.close().catch(() => {});
    const deleted = await deleteKeys(token);
    process.stdout.write(`  l2-hit: deleted ${num(deleted)} keys of ${token}\n`);
  }

  const floor = results.get(CONTENDERS.find((c) => c.floor)!);
  const rows = CONTENDERS.map((c) => {
    const r = results.get(c);
    if (r === undefined) {
      return [c.name, ...LEVELS.flatMap(() => ['n/a', 'n/a']), 'n/a', skipped.get(c) ?? ''];
    }
    const notes = [
      c.note,
      r.empty > 0 ? `**${num(r.empty)} gets found nothing: not all hits**` : undefined,
      r.problem,
    ].filter(Boolean);
    return [
      c.name,
      ...LEVELS.flatMap((n) => {
        const ops = r.best.get(n) ?? Number.NaN;
        return [num(ops), ratio(ops / (floor?.best.get(n) ?? Number.NaN))];
      }),
      describeCount(r.count),
      notes.join('; '),
    ];
  });

  const notes: string[] = [];
  const mine = CONTENDERS.filter((c) => c.ours && results.has(c));
  if (mine.length === 0) {
    notes.push(
      `Target (our L2 hit ≥ ${TARGET}× raw ioredis at 16 and 256 in flight, one round trip per hit): not measured yet.`,
    );
  }
  for (const c of mine) {
    const r = results.get(c)!;
    const at = (n: number) => (r.best.get(n) ?? Number.NaN) / (floor?.best.get(n) ?? Number.NaN);
    const met = at(16) >= TARGET && at(256) >= TARGET && r.count !== undefined && r.count.perOp <= 1.001;
    notes.push(
      `Target: ${c.name} ≥ ${TARGET}× raw ioredis at 16 and 256 in flight with one round trip per hit — ` +
        `measured ${ratio(at(16))} and ${ratio(at(256))}, ${num(r.count?.perOp ?? Number.NaN, 2)} commands per get: ` +
        `**${met ? 'met' : 'missed'}**.`,
    );
  }
  notes.push(
    `Each contender at each level runs ${WARMUP_MS} ms untimed, then ${num(RUN_MS)} ms timed; ${PASSES} passes over ` +
      'all contenders and levels in turn, best ops/s kept. One Node process drives every contender; Redis runs on ' +
      'the same machine, so the two share its cores.',
    `Commands per get: a ${SAMPLE}-get sample, one get at a time, watched with \`MONITOR\` on a connection of its own ` +
      "(every command from the contender's connections; commands run inside Lua scripts listed apart). With one " +
      'request in flight each command is one round trip.',
  );
  return { title, what, headers, align, rows, notes };
}
