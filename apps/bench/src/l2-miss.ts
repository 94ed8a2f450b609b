/**
 * The L2 miss and write paths against a real Redis, L1 off. (a) Misses: every get asks for a key
 * no cache holds yet, so it loads from the record store (memoryRecords at zero latency) and fills
 * L2: our `cache.get` (get-or-lease, load, fill) against cache-aside by hand on ioredis 6 (`GET`,
 * load, `SET … PX`) and the peers' read-through calls. (b) Writes: our `cache.set` (begin and commit
 * on L2 around `records.set`) against a plain ioredis `SET` and against cache-aside's
 * `records.set` + `DEL`. Both at 1 and 16 operations in flight, with commands per operation from a
 * `MONITOR` sample.
 */
import { createKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Redis as Redis5 } from 'ioredis';
import { type BenchRecords, type Core, loadCore } from './core.js';
import { userOf, type Value } from './l1-hit.js';
import {
  type CommandCount,
  CommandCounter,
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

/** Rows in the record store; every miss run takes keys no contender has asked for before. */
const MISS_KEYS = 150_000;
/** Keys the writers cycle over. */
const WRITE_KEYS = 10_000;
/** Operations in flight. */
const LEVELS = [1, 16] as const;
const RUN_MS = 1_000;
const WARMUP_MS = 150;
/** Operations, one at a time, in the MONITOR sample. */
const SAMPLE = 200;
/** TTL of the hand-written cache-aside fill, ms. */
const TTL_MS = 300_000;

interface Built {
  readonly op: (key: string) => Promise<unknown>;
  readonly close: () => Promise<void>;
}

interface Contender {
  readonly name: string;
  readonly note?: string;
  readonly floor?: boolean;
  readonly ours?: boolean;
  readonly make: (
    core: Core,
    records: BenchRecords<Value>,
    token: string,
  ) => Promise<Built | { readonly skipped: string }>;
}

const MISSES: readonly Contender[] = [
  {
    name: 'cache-aside on ioredis 6: `GET`, load, `SET … PX` (floor)',
    floor: true,
    make: async (_core, records, token) => {
      const client = redis6();
      const prefix = `${token}:aside:`;
      return {
        op: async (key) => {
          const cached = await client.get(prefix + key);
          if (cached !== null) return JSON.parse(cached) as Value;
          const read = await records.get(key);
          if (!read.found) return undefined;
          await client.set(prefix + key, JSON.stringify(read.value), 'PX', TTL_MS);
          return read.value;
        },
        close: () => quit(client),
      };
    },
  },
  {
    name: 'writethrough `cache.get` (L1 off, `redisStore`)',
    ours: true,
    note: 'get-or-lease, load, fill',
    make: async (core, records, token) => {
      const client = redis6();
      const cache = await ourL2Cache(core, 'bench-l2-miss', records, client, `${token}:ours:`);
      if ('skipped' in cache) {
        await quit(client);
        return cache;
      }
      return {
        op: (key) => cache.get(key),
        close: async () => {
          await cache.close?.();
          await quit(client);
        },
      };
    },
  },
  {
    name: 'BentoCache 1.6 (L2 only) `getOrSet`',
    note: 'redis driver on ioredis 5',
    make: async (_core, records, token) => {
      const client = new Redis5(REDIS_OPTIONS);
      const bento = new BentoCache({
        default: 'redis',
        stores: {
          redis: bentostore().useL2Layer(redisDriver({ connection: client, prefix: `${token}:bento` })),
        },
      });
      return {
        op: (key) =>
          bento.getOrSet<Value | undefined>({
            key,
            ttl: '5m',
            factory: async () => {
              const read = await records.get(key);
              return read.found ? read.value : undefined;
            },
          }),
        close: async () => {
          await bento.disconnectAll();
          await quit(client);
        },
      };
    },
  },
  {
    name: 'cache-manager 7 `wrap` (Keyv redis store)',
    make: async (_core, records, token) => {
      const manager = createCacheManager({ stores: [createKeyv(REDIS_URL, { namespace: `${token}:cm` })] });
      return {
        op: (key) =>
          manager.wrap(
            key,
            async () => {
              const read = await records.get(key);
              return read.found ? read.value : undefined;
            },
            TTL_MS,
          ),
        close: async () => {
          await manager.disconnect();
        },
      };
    },
  },
];

const WRITES: readonly Contender[] = [
  {
    name: 'ioredis 6 `SET` (floor)',
    floor: true,
    note: 'the value as JSON; no record store',
    make: async (_core, _records, token) => {
      const client = redis6();
      const prefix = `${token}:set:`;
      return {
        op: (key) => client.set(prefix + key, JSON.stringify(userOf(1))),
        close: () => quit(client),
      };
    },
  },
  {
    name: 'cache-aside on ioredis 6: `records.set`, then `DEL`',
    make: async (_core, records, token) => {
      const client = redis6();
      const prefix = `${token}:del:`;
      return {
        op: async (key) => {
          await records.set(key, userOf(1));
          return client.del(prefix + key);
        },
        close: () => quit(client),
      };
    },
  },
  {
    name: 'writethrough `cache.set` (L1 off, `redisStore`)',
    ours: true,
    note: 'begin and commit on L2 around `records.set`',
    make: async (core, records, token) => {
      const client = redis6();
      const cache = await ourL2Cache(core, 'bench-l2-write', records, client, `${token}:ours-w:`);
      if ('skipped' in cache) {
        await quit(client);
        return cache;
      }
      return {
        op: async (key) => {
          await cache.set(key, userOf(1));
          return true;
        },
        close: async () => {
          await cache.close?.();
          await quit(client);
        },
      };
    },
  },
];

interface Result {
  readonly perSec: Map<number, number>;
  count?: CommandCount;
  /** Record-store gets per operation (miss path). */
  loads?: number | undefined;
  empty: number;
}

type Outcome = Result | { readonly skipped: string };

/** Runs `contenders` at every level (misses on fresh keys when `fresh`), then one MONITOR sample each. */
async function runAll(
  label: string,
  contenders: readonly Contender[],
  core: Core,
  token: string,
  fresh: boolean,
): Promise<Map<Contender, Outcome>> {
  const out = new Map<Contender, Outcome>();
  for (const c of contenders) {
    const records = core.memoryRecords!<Value>();
    const keys = Array.from({ length: fresh ? MISS_KEYS : WRITE_KEYS }, (_, i) => `item:${i}`);
    if (fresh) await records.setMany(keys.map((key, i) => ({ key, value: userOf(i) })));
    const built = await c.make(core, records, token);
    if ('skipped' in built) {
      out.set(c, built);
      process.stdout.write(`  ${label}: ${c.name}: ${built.skipped}\n`);
      await records.close?.();
      continue;
    }
    let i = 0;
    const next = fresh
      ? () => (i < keys.length ? keys[i++] : undefined)
      : () => {
          const key = keys[i]!;
          if (++i === keys.length) i = 0;
          return key;
        };
    const result: Result = { perSec: new Map(), empty: 0 };
    let ops = 0;
    const loadsBefore = records.calls?.get ?? 0;
    try {
      for (const level of LEVELS) {
        collect();
        await drive(built.op, next, level, WARMUP_MS);
        const d = await drive(built.op, next, level, RUN_MS);
        result.perSec.set(level, d.opsPerSec);
        result.empty += d.empty;
        process.stdout.write(`  ${label} @${level}: ${c.name}: ${num(d.opsPerSec)} ops/s\n`);
      }
      ops = i;
      result.loads = fresh ? ((records.calls?.get ?? 0) - loadsBefore) / ops : undefined;
      // MONITOR only around the sample: while it is on, Redis copies every command (and every
      // command a script runs) to it, which slowed the timed runs, Lua-heavy contenders most.
      const counter = await CommandCounter.open();
      try {
        result.count = await counter.count(token, SAMPLE, async () => {
          for (let j = 0; j < SAMPLE; j++) {
            const key = next();
            if (key !== undefined) await built.op(key);
          }
        });
      } finally {
        counter.close();
      }
      process.stdout.write(`  ${label}: ${c.name}: ${describeCount(result.count)} commands per op\n`);
      if (fresh && i >= keys.length) process.stdout.write(`  ${label}: ${c.name}: ran out of fresh keys\n`);
      out.set(c, result);
    } finally {
      await built.close().catch(() => {});
      await records.close?.();
    }
  }
  return out;
}

function rowsOf(
  contenders: readonly Contender[],
  results: Map<Contender, Outcome>,
  withLoads: boolean,
): (string | number)[][] {
  const floorOutcome = results.get(contenders.find((c) => c.floor)!);
  const floor = floorOutcome !== undefined && !('skipped' in floorOutcome) ? floorOutcome : undefined;
  return contenders.map((c) => {
    const r = results.get(c);
    if (r === undefined || 'skipped' in r) {
      return [
        c.name,
        ...LEVELS.flatMap(() => ['n/a', 'n/a']),
        'n/a',
        ...(withLoads ? ['n/a'] : []),
        r?.skipped ?? '',
      ];
    }
    const notes = [
      c.note,
      r.empty > 0 && withLoads ? `**${num(r.empty)} gets found nothing**` : undefined,
    ].filter(Boolean);
    return [
      c.name,
      ...LEVELS.flatMap((n) => {
        const v = r.perSec.get(n) ?? Number.NaN;
        return [num(v), ratio(v / (floor?.perSec.get(n) ?? Number.NaN))];
      }),
      describeCount(r.count),
      ...(withLoads ? [num(r.loads ?? Number.NaN, 2)] : []),
      notes.join('; '),
    ];
  });
}

export async function runL2Miss(): Promise<Section[]> {
  const missTitle = 'L2 miss path (Redis, L1 off, every get a miss)';
  const missWhat =
    'Gets per second when every get asks for a key no cache holds yet, so it loads from the record store ' +
    '(memoryRecords, zero latency) and fills Redis; 1 and 16 gets in flight. Higher is better; "× floor" divides ' +
    'by cache-aside written by hand on ioredis 6 (`GET`, load, `SET … PX`).';
  const missHeaders = [
    'contender',
    ...LEVELS.flatMap((n) => [`misses/s @${n}`, `× floor @${n}`]),
    'commands per miss',
    'loads per miss',
    'notes',
  ];
  const missAlign = ['l', ...LEVELS.flatMap(() => ['r', 'r'] as const), 'l', 'r', 'l'] as const;
  const writeTitle = 'L2 write path (Redis, L1 off)';
  const writeWhat =
    'Writes per second of `cache.set` (begin on L2, `records.set` on memoryRecords at zero latency, commit on L2), ' +
    "against a plain ioredis 6 `SET` (the floor: no record store at all) and cache-aside's `records.set` + `DEL`; " +
    '1 and 16 writers in flight, cycling over 10k keys. Higher is better.';
  const writeHeaders = [
    'writes via',
    ...LEVELS.flatMap((n) => [`writes/s @${n}`, `× SET @${n}`]),
    'commands per write',
    'notes',
  ];
  const writeAlign = ['l', ...LEVELS.flatMap(() => ['r', 'r'] as const), 'l', 'l'] as const;

  const down = await redisUnavailable();
  const core = await loadCore();
  if (down !== undefined || core.memoryRecords === undefined) {
    const why = down ?? '@writethrough/core does not export `memoryRecords`';
    return [
      {
        title: missTitle,
        what: missWhat,
        headers: missHeaders,
        align: missAlign,
        rows: [],
        notes: [`Not measured: ${why}.`],
      },
      {
        title: writeTitle,
        what: writeWhat,
        headers: writeHeaders,
        align: writeAlign,
        rows: [],
        notes: [`Not measured: ${why}.`],
      },
    ];
  }

  const token = runToken('l2miss');
  let misses: Map<Contender, Outcome>;
  let writes: Map<Contender, Outcome>;
  try {
    misses = await runAll('l2-miss', MISSES, core, token, true);
    writes = await runAll('l2-write', WRITES, core, token, false);
  } finally {
    const deleted = await deleteKeys(token);
    process.stdout.write(`  l2-miss: deleted ${num(deleted)} keys of ${token}\n`);
  }

  const oursNote = (results: Map<Contender, Outcome>, contenders: readonly Contender[], what: string) => {
    const c = contenders.find((x) => x.ours)!;
    const r = results.get(c);
    if (r === undefined || 'skipped' in r) return `Ours (${what}): not measured yet.`;
    const floor = results.get(contenders.find((x) => x.floor)!);
    const f = floor === undefined || 'skipped' in floor ? undefined : floor;
    return (
      `Ours (${what}): ${num(r.count?.perOp ?? Number.NaN, 2)} commands per operation with one in flight; ` +
      LEVELS.map(
        (n) =>
          `${ratio((r.perSec.get(n) ?? Number.NaN) / (f?.perSec.get(n) ?? Number.NaN))} the floor at ${n} in flight`,
      ).join(', ') +
      '.'
    );
  };
  const method =
    `Each contender runs ${WARMUP_MS} ms untimed, then ${num(RUN_MS)} ms timed, at each level; commands per operation come from ` +
    `a ${SAMPLE}-operation sample, one at a time, watched with \`MONITOR\` (commands run inside Lua scripts listed apart).`;
  return [
    {
      title: missTitle,
      what: missWhat,
      headers: missHeaders,
      align: missAlign,
      rows: rowsOf(MISSES, misses, true),
      notes: [
        oursNote(misses, MISSES, 'miss'),
        `${method} Every miss run takes keys of a ${num(MISS_KEYS)}-row record store that no contender asked for before; ` +
          '"loads per miss" counts record-store `get` calls.',
      ],
    },
    {
      title: writeTitle,
      what: writeWhat,
      headers: writeHeaders,
      align: writeAlign,
      rows: rowsOf(WRITES, writes, false),
      notes: [oursNote(writes, WRITES, 'write'), method],
    },
  ];
}
