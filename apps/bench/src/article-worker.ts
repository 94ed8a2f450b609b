/**
 * A worker process of the `article` benchmark: one pattern (ours, or a baseline of `baselines.ts`
 * on Redis and Postgres), a number of clients each running a closed loop of Zipf reads and writes,
 * and every operation recorded in the chaos history format (`@writethrough/chaos/history`).
 *
 * Started by `article.ts` with an IPC channel and its configuration in `WT_ARTICLE_WORKER` (JSON).
 * It says `ready` once connected, runs on `go`, and says `done` after closing the pattern (the
 * write-back flusher drains its queue then) and writing its history. In the kill phase
 * (`syncHistory`), each history line is written synchronously before the operation goes on, so
 * what a SIGKILL interrupts is on disk, and it reports its acknowledged writes as they come so the
 * parent can kill it mid-run.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { clock, type HistoryLine, type ReadTier } from '@writethrough/chaos/history';
import { createCache, memoryStore } from '@writethrough/core';
import { postgresRecords } from '@writethrough/postgres';
import { redisBus, redisStore } from '@writethrough/redis';
import { Rng, ZipfSampler } from '@writethrough/testing/tools';
import type { Redis as Redis6 } from 'ioredis6';
import pg from 'pg';
import type { ParentMessage, WorkerConfig, WorkerMessage } from './article-protocol.js';
import {
  CacheAside,
  type KeyValue,
  NoCache,
  type Pattern,
  ReadThrough,
  type Row,
  type Table,
  type VersionedRow,
  WriteBack,
} from './baselines.js';
import { quit, redis6 } from './l2-common.js';

/** A read as the history needs it. */
interface Read {
  readonly w: string | null;
  readonly version: number | undefined;
  readonly tier: ReadTier;
}

interface Register {
  read(key: string): Promise<Read>;
  write(key: string, w: string): Promise<{ version: number }>;
  close(): Promise<void>;
  /** A line about the run (write-back: rows flushed). */
  note(): string;
}

/** The table of a pattern on a `pg.Pool` (every baseline's table has the same shape). */
export function pgTable(pool: pg.Pool, qualified: string): Table {
  const select = `select value->>'w' as w, version from ${qualified} where key = $1`;
  const upsert = `insert into ${qualified} as t (key, value, version) values ($1, jsonb_build_object('w', $2::text), 1)
    on conflict (key) do update set value = excluded.value, version = t.version + 1 returning version`;
  const writeRows = `insert into ${qualified} as t (key, value, version)
    select k, jsonb_build_object('w', w), v from unnest($1::text[], $2::text[], $3::bigint[]) as u(k, w, v)
    on conflict (key) do update set value = excluded.value, version = excluded.version where t.version < excluded.version`;
  return {
    async select(key): Promise<Row | undefined> {
      const { rows } = await pool.query<{ w: string; version: string }>(select, [key]);
      const row = rows[0];
      return row === undefined ? undefined : { w: row.w, version: Number(row.version) };
    },
    async upsert(key, w) {
      const { rows } = await pool.query<{ version: string }>(upsert, [key, w]);
      return Number(rows[0]!.version);
    },
    async writeRows(rows: readonly VersionedRow[]) {
      await pool.query(writeRows, [rows.map((r) => r.key), rows.map((r) => r.w), rows.map((r) => r.version)]);
    },
  };
}

const BUMP = `local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
local v = tonumber(string.sub(cur, 1, string.find(cur, ':', 1, true) - 1)) + 1
redis.call('SET', KEYS[1], v .. ':' .. ARGV[1])
return v`;

/** The cache of a baseline on Redis, every key under `prefix`. */
export function redisKeyValue(client: Redis6, prefix: string): KeyValue {
  client.defineCommand('wtArticleBump', { numberOfKeys: 1, lua: BUMP });
  const bump = (
    client as unknown as { wtArticleBump(key: string, w: string): Promise<number> }
  ).wtArticleBump.bind(client);
  return {
    get: (key) => client.get(prefix + key),
    async set(key, text, ttlMs) {
      if (ttlMs === undefined) await client.set(prefix + key, text);
      else await client.set(prefix + key, text, 'PX', ttlMs);
    },
    async setIfAbsent(key, text) {
      return (await client.set(prefix + key, text, 'NX')) === 'OK';
    },
    async del(key) {
      await client.del(prefix + key);
    },
    async bump(key, w) {
      const version = Number(await bump(prefix + key, w));
      return version < 0 ? undefined : version;
    },
  };
}

function baseline(pattern: Pattern, note: () => string = () => ''): Register {
  return {
    async read(key) {
      const r = await pattern.read(key);
      return { w: r.w, version: r.version, tier: 'other' };
    },
    write: (key, w) => pattern.write(key, w),
    close: () => pattern.close(),
    note,
  };
}

async function register(config: WorkerConfig, pool: pg.Pool, redis: Redis6): Promise<Register> {
  const qualified = `${config.schema}.${config.table}`;
  switch (config.pattern) {
    case 'no-cache':
      return baseline(new NoCache(pgTable(pool, qualified)));
    case 'cache-aside':
      return baseline(
        new CacheAside(redisKeyValue(redis, config.redisPrefix), pgTable(pool, qualified), config.ttlMs),
      );
    case 'read-through':
      return baseline(
        new ReadThrough(redisKeyValue(redis, config.redisPrefix), pgTable(pool, qualified), config.ttlMs),
      );
    case 'write-back': {
      const wb = new WriteBack(
        redisKeyValue(redis, config.redisPrefix),
        pgTable(pool, qualified),
        config.writeBack,
      );
      return baseline(wb, () => `${wb.flushed} rows flushed in ${wb.flushes} statements`);
    }
    case 'write-through': {
      const records = postgresRecords<{ w: string }>({
        client: pool,
        schema: config.schema,
        table: config.table,
      });
      const l2 = redisStore({ client: redis, namespace: config.redisPrefix });
      const bus = redisBus({ client: redis, namespace: config.redisPrefix });
      const cache = createCache<{ w: string }>({
        name: 'article',
        records,
        l1: memoryStore({ maxEntries: 10_000 }),
        l2,
        bus,
        instanceId: `article-${config.instance}`,
      });
      let summary = '';
      // An L1 hit is answered synchronously inside getEntry's call, before it returns its promise.
      let l1Hit = false;
      cache.on('hit', ({ tier }) => {
        if (tier === 'l1') l1Hit = true;
      });
      return {
        async read(key) {
          l1Hit = false;
          const pending = cache.getEntry(key);
          const tier: ReadTier = l1Hit ? 'l1' : 'other';
          const entry = await pending;
          return { w: entry?.value.w ?? null, version: entry?.version, tier };
        },
        write: (key, w) => cache.set(key, { w }),
        async close() {
          const stats = cache.stats();
          summary = `L1 hits ${stats.l1.hits}, L2 hits ${stats.l2.hits}, record reads ${stats.recordReads} of ${stats.reads} reads`;
          await cache.close();
          await bus.close();
          await l2.close();
        },
        note: () => summary,
      };
    }
  }
}

/** Appends history lines: buffered (written at the end), or each one synchronously. */
class HistoryWriter {
  readonly #lines: string[] = [];
  readonly #fd: number | undefined;

  constructor(
    readonly path: string,
    sync: boolean,
  ) {
    this.#fd = sync ? openSync(path, 'a') : undefined;
  }

  push(line: HistoryLine): void {
    const text = `${JSON.stringify(line)}\n`;
    if (this.#fd !== undefined) writeSync(this.#fd, text);
    else this.#lines.push(text);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    else writeFileSync(this.path, this.#lines.join(''));
  }
}

function send(message: WorkerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.WT_ARTICLE_WORKER ?? '') as WorkerConfig;
  const now = clock(BigInt(config.base));
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.clients });
  pool.on('error', () => {});
  const redis = redis6();
  redis.on('error', () => {});
  const reg = await register(config, pool, redis);
  const history = new HistoryWriter(config.historyPath, config.syncHistory);
  const sampler = new ZipfSampler(config.keys, config.zipfS);
  const keys = Array.from({ length: config.keys }, (_, rank) => `${config.keyPrefix}${rank}`);

  const go = new Promise<void>((resolve) => {
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'go') resolve();
    });
  });
  send({ type: 'ready' });
  await go;

  const began = performance.now();
  const until = began + config.durationMs;
  let ops = 0;
  let acked = 0;
  const client = async (c: number): Promise<void> => {
    const rng = new Rng(config.seed + config.instance * 7_919 + c * 104_729);
    for (let seq = 0; seq < config.maxOpsPerClient && performance.now() < until; seq++) {
      const key = keys[sampler.rankOf(rng.nextDouble())]!;
      const id = `i${config.instance}.0.c${c}.${seq}`;
      const common = { id, instance: config.instance, incarnation: 0, client: c, key };
      ops++;
      if (rng.nextDouble() < config.readShare) {
        history.push({ ev: 'invoke', ...common, type: 'read', tier: 'other', invoke: now() });
        try {
          const r = await reg.read(key);
          history.push({
            ev: 'complete',
            id,
            complete: now(),
            outcome: 'ok',
            value: r.w,
            tier: r.tier,
            ...(r.version === undefined ? {} : { version: r.version }),
          });
        } catch (error) {
          history.push({
            ev: 'complete',
            id,
            complete: now(),
            outcome: 'fail',
            error: (error as Error).name,
          });
        }
      } else {
        history.push({ ev: 'invoke', ...common, type: 'write', kind: 'set', invoke: now() });
        try {
          const { version } = await reg.write(key, id);
          history.push({ ev: 'complete', id, complete: now(), outcome: 'ok', version });
          acked++;
          if (config.syncHistory && acked % 10 === 0) send({ type: 'acked', writes: acked });
        } catch (error) {
          // A write that rejected may still have reached the table: its outcome is unknown.
          history.push({
            ev: 'complete',
            id,
            complete: now(),
            outcome: 'info',
            error: (error as Error).name,
          });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: config.clients }, (_, c) => client(c)));
  const elapsedMs = performance.now() - began;
  await reg.close();
  const note = reg.note();
  history.close();
  await pool.end();
  await quit(redis);
  send({ type: 'done', ops, elapsedMs, note });
  process.disconnect?.();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
