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

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN_MS = 500;
const WARMUP_MS = 100;
/** Contenders run in turn, in a rotating order, this many times; verdicts are medians of per-round ratios. */
const ROUNDS = 5;
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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
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
    const prepared = { name: `bench_upsert_${schema}`, text: upsert };
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
      {
        name: 'prepared upsert, then Redis `SET`',
        op: async (key) => {
          const value = JSON.stringify(userOf(1));
          await pool.query({ ...prepared, values: [key, value] });
          return redis.set(`${token}:floor:${key}`, value);
        },
      },
    ];
    const ours = makeCache({});
    writeContenders.push({
      name: 'writethrough `cache.set` (L1 + Redis L2 + `postgresRecords`)',
      op: (key) => ours.set(key, userOf(1)),
    });
    const FLOOR = 1;
    const PREPARED = 2;
    const OURS = 3;
    // Per contender and level: ops/s of each round, and every latency sample.
    const perRound = writeContenders.map(() => new Map<number, number[]>(LEVELS.map((l) => [l, []])));
    const latencies = writeContenders.map(() => new Map<number, number[]>(LEVELS.map((l) => [l, []])));
    for (let round = 0; round < ROUNDS; round++) {
      for (const level of LEVELS) {
        for (let j = 0; j < writeContenders.length; j++) {
          const i = (j + round) % writeContenders.length;
          const c = writeContenders[i]!;
          collect();
          const next = cycle(`w:${i}:`, KEYS);
          await drive(c.op, next, level, WARMUP_MS);
          const d = await drive(timed(c.op, latencies[i]!.get(level)!), next, level, RUN_MS);
          perRound[i]!.get(level)!.push(d.opsPerSec);
        }
      }
      process.stdout.write(
        `  pg-write round ${round + 1}/${ROUNDS}: ours/floor ${LEVELS.map((l) => `@${l} ${ratio(perRound[OURS]!.get(l)![round]! / perRound[FLOOR]!.get(l)![round]!)}`).join(', ')}\n`,
      );
    }
    const pairedRatio = (i: number, base: number, level: number) =>
      median(perRound[i]!.get(level)!.map((x, r) => x / perRound[base]!.get(level)![r]!));
    const writeRows: string[][] = writeContenders.map((c, i) => {
      const cells = [c.name];
      for (const level of LEVELS) {
        const samples = latencies[i]!.get(level)!.sort((x, y) => x - y);
        cells.push(
          num(median(perRound[i]!.get(level)!)),
          ratio(pairedRatio(i, FLOOR, level)),
          `${num(percentile(samples, 50), 2)} / ${num(percentile(samples, 99), 2)}`,
        );
      }
      return cells;
    });
    const at1 = pairedRatio(OURS, FLOOR, 1);
    const at16 = pairedRatio(OURS, FLOOR, 16);
    const rounds = (level: number) =>
      perRound[OURS]!.get(level)!
        .map((x, r) => ratio(x / perRound[FLOOR]!.get(level)![r]!))
        .join(', ');

    // (b) 64 writers: single writes, the write batcher, and 100-row setMany calls; raw upserts for reference.
    const unbatched = makeCache({ l1: false });
    const batched = makeCache({ l1: false, batch: { maxSize: 100, maxWaitMs: 2 } });
    const many = makeCache({ l1: false });
    const ROWS = 100;
    const upsertMany = `insert into ${schema}.raw (key, value, version)
      select k, v, nextval('${schema}.raw_seq') from unnest($1::text[], $2::jsonb[]) as u(k, v)
      on conflict (key) do update set value = excluded.value, version = nextval('${schema}.raw_seq')`;
    const chunk = (next: () => string) => Array.from({ length: ROWS }, next);
    /** Each contender: one call of `op` writes `rows` rows. */
    const batchContenders: { name: string; rows: number; op: (next: () => string) => Promise<unknown> }[] = [
      {
        name: 'writethrough `cache.set`, unbatched',
        rows: 1,
        op: (next) => unbatched.set(next(), userOf(2)),
      },
      {
        name: 'writethrough `cache.set` through the write batcher (`maxSize: 100, maxWaitMs: 2`)',
        rows: 1,
        op: (next) => batched.set(next(), userOf(2)),
      },
      {
        name: `writethrough \`cache.setMany\` of ${ROWS} rows`,
        rows: ROWS,
        op: (next) => many.setMany(chunk(next).map((key) => ({ key, value: userOf(2) }))),
      },
      {
        name: 'raw single-row upsert (`pg`), no cache',
        rows: 1,
        op: (next) => pool.query(upsert, [next(), JSON.stringify(userOf(2))]),
      },
      {
        name: `raw ${ROWS}-row upsert (\`pg\`), no cache`,
        rows: ROWS,
        op: (next) => {
          const keys = chunk(next);
          const value = JSON.stringify(userOf(2));
          return pool.query(upsertMany, [keys, keys.map(() => value)]);
        },
      },
    ];
    const batchRounds: number[][] = batchContenders.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let j = 0; j < batchContenders.length; j++) {
        const i = (j + round) % batchContenders.length;
        const c = batchContenders[i]!;
        collect();
        const next = cycle(`b:${i}:${round}:`, 1_000_000);
        await drive(() => c.op(next), next, WRITERS, WARMUP_MS);
        const d = await drive(() => c.op(next), next, WRITERS, RUN_MS);
        batchRounds[i]!.push(d.opsPerSec * c.rows);
      }
      process.stdout.write(
        `  pg-write ${WRITERS} writers round ${round + 1}/${ROUNDS}: ${batchContenders
          .map((c, i) => `${c.name.slice(0, 40)} ${num(batchRounds[i]![round]!)}`)
          .join('; ')}\n`,
      );
    }
    const gain = (i: number) => median(batchRounds[i]!.map((x, r) => x / batchRounds[0]![r]!));
    const batcherGain = gain(1);
    const setManyGain = gain(2);
    const rawSingle = median(batchRounds[3]!);
    const rawMany = median(batchRounds[4]!);
    const batchRows: string[][] = batchContenders.map((c, i) => [
      c.name,
      num(median(batchRounds[i]!)),
      ratio(i === 0 ? 1 : gain(i)),
    ]);
    const preparedAt = (level: number) => ratio(pairedRatio(OURS, PREPARED, level));

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
        await drive(op, fresh, level, 100);
        const d = await drive(op, fresh, level, 500);
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
          `Target: ≥ 0.85× the floor at 1 in flight and ≥ 0.9× at 16 — measured ${ratio(at1)} and ${ratio(at16)} ` +
            `(medians of the per-round ratios; rounds @1: ${rounds(1)}; @16: ${rounds(16)}): ` +
            `**${at1 >= 0.85 && at16 >= 0.9 ? 'met' : 'missed'}**.`,
          `Against a floor whose upsert is a prepared statement too (as \`postgresRecords\` sends it on \`pg\`): ${preparedAt(1)} @1, ${preparedAt(16)} @16.`,
          `Writes/s are medians over ${ROUNDS} rounds; in each round every contender runs ${WARMUP_MS} ms untimed, then ${RUN_MS} ms timed, per level, in a rotating order. Latencies pool every round's samples.`,
        ],
      },
      {
        title: `Postgres batched writes (${WRITERS} concurrent writers)`,
        what:
          `Rows per second with ${WRITERS} writers on distinct keys (L1 off, Redis L2, \`postgresRecords\` on a pool of 10): ` +
          'each writer awaiting one `cache.set` at a time (unbatched, or coalesced by the write batcher into ' +
          `multi-row upserts), or one \`cache.setMany\` of ${ROWS} rows at a time (one multi-row upsert, one batched ` +
          'begin and one batched commit on Redis); raw upserts without a cache for reference. "× unbatched" divides by ' +
          'the unbatched `cache.set`.',
        headers: ['writes via', 'rows/s', '× unbatched'],
        align: ['l', 'r', 'r'],
        rows: batchRows,
        notes: [
          `Target: batching ≥ 8× the rows/s of single writes — through \`cache.setMany\` ${ratio(setManyGain)}; ` +
            `through the write batcher ${ratio(batcherGain)} (medians of ${ROUNDS} paired rounds): ` +
            `**${setManyGain >= 8 ? 'met' : 'missed'}** for \`setMany\`, **${batcherGain >= 8 ? 'met' : 'missed'}** for the batcher.`,
          `Raw ${ROWS}-row upserts reach ${ratio(rawMany / rawSingle)} the rows/s of raw single upserts here (the issue measured ≈ 9×). ` +
            `The write batcher can only batch what is in flight: ${WRITERS} writers awaiting one write each put at most ${WRITERS} rows ` +
            'in each batch, against 10 single upserts committing at once on the pool.',
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
