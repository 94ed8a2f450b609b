/**
 * Postgres as the record store (issue 4's benchmarks), on the server at 127.0.0.1:5432 database
 * `test` (or `BENCH_DATABASE_URL`) with Redis as L2:
 *
 * (a) writes: our `cache.set` (the full protocol: L1, Redis L2, `postgresRecords` on a `pg.Pool`)
 *     against the floor of a raw upsert followed by a plain Redis `SET`, and the upsert alone, at 1
 *     and 16 in flight, with p50/p99 latencies;
 * (b) 64 concurrent writers on distinct keys, our `cache.set` unbatched and batched (one multi-row
 *     upsert per batch), rows per second;
 * (c) read misses through to Postgres (L1 off, a key no tier holds): our `cache.get` against a raw
 *     `SELECT`.
 *
 * Everything lives in a schema of its own, dropped at the end; Redis keys carry the run token and
 * are deleted.
 */
import { createCache } from '@writethrough/core';
import { migrate, postgresRecords } from '@writethrough/postgres';
import { redisStore } from '@writethrough/redis';
import pg from 'pg';
import { deleteKeys, drive, quit, redis6, runToken } from './l2-common.js';
import { collect } from './measure.js';
import { num, ratio, type Section } from './report.js';

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN_MS = 1_000;
const WARMUP_MS = 200;
const LEVELS = [1, 16] as const;
const KEYS = 10_000;
const WRITERS = 64;
const MISS_KEYS = 60_000;

interface User {
  readonly id: number;
  readonly name: string;
  readonly score: number;
}

const userOf = (i: number): User => ({ id: i, name: `user ${i}`, score: i % 97 });

/** Times each call of `op`, for percentiles. */
function timed(op: (key: string) => Promise<unknown>, samples: number[]): (key: string) => Promise<unknown> {
  return async (key) => {
    const began = performance.now();
    const result = await op(key);
    samples.push(performance.now() - began);
    return result ?? true;
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function cycle(prefix: string, count: number): () => string {
  let i = 0;
  return () => `${prefix}${i++ % count}`;
}

async function unavailable(pool: pg.Pool): Promise<string | undefined> {
  try {
    await pool.query('select 1');
    return undefined;
  } catch (error) {
    return `no Postgres at ${DATABASE_URL}: ${(error as Error).message}`;
  }
}

export async function runPgWrite(): Promise<Section[]> {
  const token = runToken('pg');
  const schema = token.replace(/-/g, '_');
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
  const down = await unavailable(pool);
  if (down !== undefined) {
    await pool.end();
    return [
      {
        title: 'Postgres write-through',
        what: 'Not measured.',
        headers: ['contender'],
        rows: [],
        notes: [down],
      },
    ];
  }
  const redis = redis6();
  const stores: { close(): Promise<void> }[] = [];
  try {
    await pool.query(`create schema ${schema}`);
    await pool.query(
      `create sequence ${schema}.raw_seq; create table ${schema}.raw (key text primary key, value jsonb not null, version bigint not null)`,
    );
    await migrate(pool, { schema, table: 'records' });
    const upsert = `insert into ${schema}.raw (key, value, version) values ($1, $2::jsonb, nextval('${schema}.raw_seq'))
      on conflict (key) do update set value = excluded.value, version = nextval('${schema}.raw_seq') returning version`;

    const makeCache = (options: { l1?: false; batch?: { maxSize: number; maxWaitMs: number } }) => {
      const l2 = redisStore({ client: redis, namespace: `${token}:${stores.length}:` });
      const records = postgresRecords<User>({ client: pool, schema, table: 'records' });
      const cache = createCache<User>({ name: 'bench-pg', records, l2, ...options });
      stores.push({ close: () => cache.close() }, { close: () => l2.close() });
      return cache;
    };

    // (a) writes at 1 and 16 in flight.
    const writeContenders: { name: string; op: (key: string) => Promise<unknown> }[] = [
      {
        name: 'raw upsert (`pg`), no cache',
        op: (key) => pool.query(upsert, [key, JSON.stringify(userOf(1))]),
      },
      {
        name: 'raw upsert, then Redis `SET` (floor)',
        op: async (key) => {
          const value = JSON.stringify(userOf(1));
          await pool.query(upsert, [key, value]);
          return redis.set(`${token}:floor:${key}`, value);
        },
      },
    ];
    const ours = makeCache({});
    writeContenders.push({
      name: 'writethrough `cache.set` (L1 + Redis L2 + `postgresRecords`)',
      op: (key) => ours.set(key, userOf(1)),
    });
    const writeRows: string[][] = [];
    const writeResults = new Map<string, Map<number, { perSec: number; p50: number; p99: number }>>();
    for (const c of writeContenders) {
      const byLevel = new Map<number, { perSec: number; p50: number; p99: number }>();
      for (const level of LEVELS) {
        collect();
        const next = cycle(`w:${c.name.length}:`, KEYS);
        await drive(c.op, next, level, WARMUP_MS);
        const samples: number[] = [];
        const d = await drive(timed(c.op, samples), next, level, RUN_MS);
        samples.sort((x, y) => x - y);
        byLevel.set(level, {
          perSec: d.opsPerSec,
          p50: percentile(samples, 50),
          p99: percentile(samples, 99),
        });
        process.stdout.write(`  pg-write @${level}: ${c.name}: ${num(d.opsPerSec)} writes/s\n`);
      }
      writeResults.set(c.name, byLevel);
    }
    const floor = writeResults.get(writeContenders[1]!.name)!;
    for (const c of writeContenders) {
      const r = writeResults.get(c.name)!;
      const cells = [c.name];
      for (const level of LEVELS) {
        const x = r.get(level)!;
        cells.push(
          num(x.perSec),
          ratio(x.perSec / floor.get(level)!.perSec),
          `${num(x.p50, 2)} / ${num(x.p99, 2)}`,
        );
      }
      writeRows.push(cells);
    }
    const oursWrites = writeResults.get(writeContenders[2]!.name)!;
    const at1 = oursWrites.get(1)!.perSec / floor.get(1)!.perSec;
    const at16 = oursWrites.get(16)!.perSec / floor.get(16)!.perSec;

    // (b) 64 writers, unbatched and batched.
    const unbatched = makeCache({ l1: false });
    const batched = makeCache({ l1: false, batch: { maxSize: 100, maxWaitMs: 2 } });
    const batchRows: string[][] = [];
    const rowsPerSec = new Map<string, number>();
    for (const [name, cache] of [
      ['writethrough `cache.set`, unbatched', unbatched],
      ['writethrough `cache.set`, batched (`maxSize: 100, maxWaitMs: 2`)', batched],
    ] as const) {
      collect();
      const next = cycle(`b:${name.length}:`, 100_000);
      await drive((key) => cache.set(key, userOf(2)), next, WRITERS, WARMUP_MS);
      const d = await drive((key) => cache.set(key, userOf(2)), next, WRITERS, RUN_MS);
      rowsPerSec.set(name, d.opsPerSec);
      process.stdout.write(`  pg-write ${WRITERS} writers: ${name}: ${num(d.opsPerSec)} rows/s\n`);
    }
    const [uName, bName] = [...rowsPerSec.keys()] as [string, string];
    const batchGain = rowsPerSec.get(bName)! / rowsPerSec.get(uName)!;
    batchRows.push([uName, num(rowsPerSec.get(uName)!), ratio(1)]);
    batchRows.push([bName, num(rowsPerSec.get(bName)!), ratio(batchGain)]);

    // (c) read misses through to Postgres.
    const loader = postgresRecords<User>({ client: pool, schema, table: 'records' });
    for (let from = 0; from < MISS_KEYS; from += 1_000) {
      await loader.setMany(
        Array.from({ length: Math.min(1_000, MISS_KEYS - from) }, (_, j) => ({
          key: `m:${from + j}`,
          value: userOf(from + j),
        })),
      );
    }
    const reader = makeCache({ l1: false });
    const select = `select value, version from ${schema}.records where key = $1`;
    const missRows: string[][] = [];
    const missResults = new Map<string, Map<number, number>>();
    let cursor = 0;
    const fresh = () => (cursor < MISS_KEYS ? `m:${cursor++}` : undefined);
    for (const [name, op] of [
      ['raw `SELECT` (`pg`)', (key: string) => pool.query(select, [key]).then((r) => r.rows[0])],
      [
        'writethrough `cache.get` (L1 off, Redis L2 miss, `postgresRecords`)',
        (key: string) => reader.get(key),
      ],
    ] as const) {
      const byLevel = new Map<number, number>();
      for (const level of LEVELS) {
        collect();
        await drive(op, fresh, level, WARMUP_MS / 2);
        const d = await drive(op, fresh, level, RUN_MS / 2);
        byLevel.set(level, d.opsPerSec);
        process.stdout.write(`  pg-miss @${level}: ${name}: ${num(d.opsPerSec)} reads/s\n`);
      }
      missResults.set(name, byLevel);
    }
    const missFloor = [...missResults.values()][0]!;
    for (const [name, byLevel] of missResults) {
      const cells = [name];
      for (const level of LEVELS)
        cells.push(num(byLevel.get(level)!), ratio(byLevel.get(level)! / missFloor.get(level)!));
      missRows.push(cells);
    }

    return [
      {
        title: 'Postgres write-through (writes, Redis as L2)',
        what:
          'Writes per second and latency (p50 / p99, ms) at 1 and 16 in flight on 10,000 keys: the raw upsert ' +
          '(`INSERT … ON CONFLICT DO UPDATE`, version from a sequence) alone, the floor of that upsert followed by a ' +
          'Redis `SET`, and our `cache.set` with the full protocol (L1 steps, begin and commit on Redis, ' +
          '`postgresRecords` on a `pg.Pool` of 10). Higher is better; "× floor" divides by upsert + `SET`.',
        headers: [
          'writes via',
          'writes/s @1',
          '× floor @1',
          'p50 / p99 ms @1',
          'writes/s @16',
          '× floor @16',
          'p50 / p99 ms @16',
        ],
        align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
        rows: writeRows,
        notes: [
          `Target: ≥ 0.85× the floor at 1 in flight and ≥ 0.9× at 16 — measured ${ratio(at1)} and ${ratio(at16)}: ` +
            `**${at1 >= 0.85 && at16 >= 0.9 ? 'met' : 'missed'}**.`,
          'Each contender runs 200 ms untimed, then 1,000 ms timed, per level.',
        ],
      },
      {
        title: `Postgres batched writes (${WRITERS} concurrent writers)`,
        what:
          `Rows per second with ${WRITERS} writers on distinct keys through our \`cache.set\` (L1 off, Redis L2, ` +
          '`postgresRecords` on a pool of 10): one upsert per write, or batches of up to 100 rows in one ' +
          'multi-row upsert (and one round of tier steps per row).',
        headers: ['writes via', 'rows/s', '× unbatched'],
        align: ['l', 'r', 'r'],
        rows: batchRows,
        notes: [
          `Target: batching ≥ 8× the rows/s of single writes — measured ${ratio(batchGain)}: **${batchGain >= 8 ? 'met' : 'missed'}**.`,
        ],
      },
      {
        title: 'Postgres read misses',
        what:
          'Reads per second of keys no tier holds, at 1 and 16 in flight: a raw `SELECT` of value and version, and our ' +
          '`cache.get` with L1 off (Redis get-or-lease, the `SELECT` through `postgresRecords`, the fill).',
        headers: ['reads via', 'reads/s @1', '× SELECT @1', 'reads/s @16', '× SELECT @16'],
        align: ['l', 'r', 'r', 'r', 'r'],
        rows: missRows,
        notes: [
          'Each contender runs 100 ms untimed, then 500 ms timed, per level, on keys read by no one before.',
        ],
      },
    ];
  } finally {
    for (const store of stores.reverse()) await store.close().catch(() => undefined);
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await pool.end();
    await deleteKeys(token).catch(() => 0);
    await quit(redis);
  }
}
