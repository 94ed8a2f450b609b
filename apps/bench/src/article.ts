/**
 * The article's comparison table, measured: one workload against five patterns — ours
 * (write-through: memory L1, Redis L2, Redis bus, Postgres records), write-back, cache-aside,
 * read-through and no cache (the baselines of `baselines.ts`) — on the Postgres at 127.0.0.1:5432
 * database `test` and the Redis at 127.0.0.1:6379.
 *
 * Per pattern, two phases, each in fresh worker processes (`article-worker.ts`):
 * 1. mixed: 2 processes × 8 clients, 90% reads and 10% writes (each write a unique writer id) on
 *    Zipf(0.99) keys over 1,000 keys, for a fixed time (bounded by a number of operations per
 *    client); every operation is recorded in the chaos history format and K1
 *    (`checkLinearizability`) counts the stale reads; latencies come from the same history;
 * 2. kill: 1 process × 8 clients, 90% writes, killed with SIGKILL once it acknowledged a few hundred
 *    writes; K3 (`checkDurability`) counts the acknowledged writes missing from the final rows.
 *
 * One schema per run (a table per pattern, dropped at the end) and one Redis key prefix per run
 * (its keys deleted at the end).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkDurability, checkLinearizability, type FinalRecord } from '@writethrough/chaos/check';
import { type History, type HistoryLine, parseHistory } from '@writethrough/chaos/history';
import { migrate, postgresRecords } from '@writethrough/postgres';
import pg from 'pg';
import {
  PATTERNS,
  type ParentMessage,
  type PatternName,
  type WorkerConfig,
  type WorkerMessage,
} from './article-protocol.js';
import { deleteKeys, redisUnavailable, runToken } from './l2-common.js';
import { num, percent, ratio, type Section } from './report.js';

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The workload (environment overrides for short trial runs: `BENCH_ARTICLE_MS`, `BENCH_ARTICLE_PATTERNS`). */
export const ARTICLE = {
  workers: 2,
  clients: 8,
  keys: 1_000,
  zipfS: 0.99,
  readShare: 0.9,
  durationMs: Number(process.env.BENCH_ARTICLE_MS ?? 8_000),
  /** Bounds the history (an L1 hit takes microseconds): 6,000 operations per client at most. */
  maxOpsPerClient: 6_000,
  seed: 20_241_105,
  /** Time to live of cache-aside and read-through entries, ms. */
  ttlMs: 2_000,
  writeBack: { flushMs: 1000, maxBatch: 500 },
  kill: { clients: 8, readShare: 0.1, afterWrites: 500, boundMs: 20_000 },
} as const;

/** What the article's table says of each pattern (write latency, read latency, consistency, data loss risk). */
const ARTICLE_SAYS: Record<PatternName, string> = {
  'write-through': 'high · low · strong · none',
  'write-back': 'low · low · eventual · possible',
  'cache-aside': 'low · medium · weak · none',
  'read-through': 'low · medium (first read) · strong · none',
  'no-cache': '(not in the table)',
};

const LABELS: Record<PatternName, string> = {
  'write-through': 'write-through (ours: L1 + Redis L2 + bus + Postgres)',
  'write-back': 'write-back (Redis, flushed to Postgres in batches)',
  'cache-aside': 'cache-aside (Redis GET / SELECT + SET PX; UPDATE + DEL)',
  'read-through': 'read-through (loader fills Redis with a TTL; writes to Postgres only)',
  'no-cache': 'no cache (Postgres only)',
};

/** A seed writer: the parent writes every key once before the workers start. */
const SEED_INSTANCE = 99;

/** What one pattern measured. */
export interface PatternResult {
  readonly pattern: PatternName;
  readonly ops: number;
  readonly elapsedMs: number;
  /** Latencies of `ok` operations, ms. */
  readonly write: { readonly p50: number; readonly p99: number; readonly count: number };
  readonly read: { readonly p50: number; readonly p99: number; readonly count: number };
  /** Reads answered by an L1 (ours only). */
  readonly l1Reads: number;
  /** K1: reads it counted and reads it flagged stale. */
  readonly k1Reads: number;
  readonly staleReads: number;
  readonly otherViolations: number;
  /** K3 after the kill: acknowledged writes (seed excluded) and lost ones. */
  readonly killAcked: number;
  readonly lost: number;
  readonly killed: string;
  readonly notes: string;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** p50/p99 in ms of the `ok` operations of one type. */
export function latencies(history: History, type: 'read' | 'write', skipInstance = SEED_INSTANCE) {
  const ms = history.ops
    .filter((op) => op.type === type && op.outcome === 'ok' && op.instance !== skipInstance)
    .map((op) => (op.complete - op.invoke) / 1e6)
    .sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), count: ms.length };
}

type Done = Extract<WorkerMessage, { type: 'done' }>;

interface Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly done: Promise<Done>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  onAcked?: ((writes: number) => void) | undefined;
}

const WORKER_FILE = fileURLToPath(new URL('./article-worker.ts', import.meta.url));

function startWorker(config: WorkerConfig): Worker {
  const child = spawn(process.execPath, [...process.execArgv, WORKER_FILE], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, WT_ARTICLE_WORKER: JSON.stringify(config) },
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  // A worker that exits before saying ready or done (a crash, or the kill on purpose) fails those waits.
  const died = exit.then(({ code, signal }): never => {
    throw new Error(`article worker ${config.pattern}#${config.instance} exited (${signal ?? code})`);
  });
  let onReady!: () => void;
  let onDone!: (message: Done) => void;
  const ready = Promise.race([new Promise<void>((resolve) => (onReady = resolve)), died]);
  const done = Promise.race([new Promise<Done>((resolve) => (onDone = resolve)), died]);
  for (const p of [died, ready, done]) p.catch(() => {});
  const worker: Worker = { child, ready, done, exit };
  child.on('message', (message: WorkerMessage) => {
    if (message.type === 'ready') onReady();
    else if (message.type === 'done') onDone(message);
    else if (message.type === 'acked') worker.onAcked?.(message.writes);
  });
  return worker;
}

function go(worker: Worker): void {
  worker.child.send({ type: 'go' } satisfies ParentMessage);
}

/** Creates and seeds the pattern's table: every key of both phases written once. */
async function seedTable(
  pool: pg.Pool,
  schema: string,
  table: string,
  pattern: PatternName,
  keys: readonly string[],
  now: () => number,
): Promise<HistoryLine[]> {
  const invoke = now();
  let versions: Map<string, number>;
  if (pattern === 'write-through') {
    await migrate(pool, { schema, table });
    const records = postgresRecords<{ w: string }>({ client: pool, schema, table });
    const written = await records.setMany(keys.map((key) => ({ key, value: { w: `seed.${key}` } })));
    versions = new Map([...written].map(([key, v]) => [key, v.version]));
  } else {
    await pool.query(
      `create table ${schema}.${table} (key text primary key, value jsonb not null, version bigint not null)`,
    );
    await pool.query(
      `insert into ${schema}.${table} (key, value, version)
       select k, jsonb_build_object('w', 'seed.' || k), 1 from unnest($1::text[]) as u(k)`,
      [keys],
    );
    versions = new Map(keys.map((key) => [key, 1]));
  }
  const complete = now();
  const lines: HistoryLine[] = [];
  for (const key of keys) {
    const id = `seed.${key}`;
    const common = { id, instance: SEED_INSTANCE, incarnation: 0, client: 0, key };
    lines.push({ ev: 'invoke', ...common, type: 'write', kind: 'set', invoke });
    lines.push({ ev: 'complete', id, complete, outcome: 'ok', version: versions.get(key)! });
  }
  return lines;
}

function toText(lines: readonly HistoryLine[]): string {
  return lines.map((line) => `${JSON.stringify(line)}\n`).join('');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The final rows of the keys with `prefix`, as K3 wants them. */
async function finalRows(
  pool: pg.Pool,
  qualified: string,
  prefix: string,
): Promise<Map<string, FinalRecord>> {
  const { rows } = await pool.query<{ key: string; w: string | null; version: string }>(
    `select key, value->>'w' as w, version from ${qualified} where key like $1`,
    [`${prefix}%`],
  );
  return new Map(rows.map((r) => [r.key, { value: r.w, version: Number(r.version) }]));
}

async function measurePattern(
  pattern: PatternName,
  pool: pg.Pool,
  token: string,
  schema: string,
  dir: string,
  base: bigint,
): Promise<PatternResult> {
  const now = () => Number(process.hrtime.bigint() - base);
  const table = pattern.replace(/-/g, '_');
  const mixedKeys = Array.from({ length: ARTICLE.keys }, (_, r) => `k:${r}`);
  const killKeys = Array.from({ length: ARTICLE.keys }, (_, r) => `d:${r}`);
  const seed = await seedTable(pool, schema, table, pattern, [...mixedKeys, ...killKeys], now);
  const seedOf = (prefix: string) =>
    toText(seed.filter((line) => 'id' in line && line.id.startsWith(`seed.${prefix}`)));
  const common = {
    pattern,
    keys: ARTICLE.keys,
    zipfS: ARTICLE.zipfS,
    seed: ARTICLE.seed,
    databaseUrl: DATABASE_URL,
    schema,
    table,
    redisPrefix: `${token}:${pattern}:`,
    ttlMs: ARTICLE.ttlMs,
    writeBack: ARTICLE.writeBack,
    base: base.toString(),
  };

  // Phase 1: the mixed workload.
  const workers = Array.from({ length: ARTICLE.workers }, (_, instance) =>
    startWorker({
      ...common,
      instance,
      clients: ARTICLE.clients,
      durationMs: ARTICLE.durationMs,
      maxOpsPerClient: ARTICLE.maxOpsPerClient,
      readShare: ARTICLE.readShare,
      keyPrefix: 'k:',
      historyPath: join(dir, `${pattern}-mixed-${instance}.ndjson`),
      syncHistory: false,
    }),
  );
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) go(w);
  const done = await Promise.all(workers.map((w) => w.done));
  await Promise.all(workers.map((w) => w.exit));
  const history = parseHistory([
    seedOf('k:'),
    ...workers.map((_, i) => readText(join(dir, `${pattern}-mixed-${i}.ndjson`))),
  ]);
  const k1 = checkLinearizability(history);
  const ops = done.reduce((sum, d) => sum + d.ops, 0);
  const elapsedMs = Math.max(...done.map((d) => d.elapsedMs));
  const l1Reads = history.ops.filter((op) => op.type === 'read' && op.tier === 'l1').length;

  // Phase 2: a write-heavy worker killed with SIGKILL mid-run.
  const killPath = join(dir, `${pattern}-kill.ndjson`);
  const killer = startWorker({
    ...common,
    instance: 0,
    clients: ARTICLE.kill.clients,
    durationMs: ARTICLE.kill.boundMs,
    maxOpsPerClient: Number.MAX_SAFE_INTEGER,
    readShare: ARTICLE.kill.readShare,
    keyPrefix: 'd:',
    historyPath: killPath,
    syncHistory: true,
  });
  let killed = 'not killed (it finished first)';
  killer.onAcked = (writes) => {
    if (
      writes >= ARTICLE.kill.afterWrites &&
      killer.child.exitCode === null &&
      killer.child.signalCode === null
    ) {
      killer.onAcked = undefined;
      killer.child.kill('SIGKILL');
    }
  };
  await killer.ready;
  go(killer);
  const exit = await killer.exit;
  if (exit.signal === 'SIGKILL') killed = 'SIGKILL';
  const killHistory = parseHistory([seedOf('d:'), readText(killPath)]);
  const final = await finalRows(pool, `${schema}.${table}`, 'd:');
  const k3 = checkDurability(killHistory, final);
  const killAcked = killHistory.ops.filter(
    (op) => op.type === 'write' && op.outcome === 'ok' && op.instance !== SEED_INSTANCE,
  ).length;
  const killInfo = killHistory.ops.filter((op) => op.type === 'write' && op.outcome === 'info').length;

  const result: PatternResult = {
    pattern,
    ops,
    elapsedMs,
    write: latencies(history, 'write'),
    read: latencies(history, 'read'),
    l1Reads,
    k1Reads: k1.reads,
    staleReads: k1.staleReadIds.size,
    otherViolations: k1.violations.filter((v) => !k1.staleReadIds.has(v.opId ?? '')).length,
    killAcked,
    lost: k3.lost,
    killed: `${killed}; ${killInfo} writes in flight (info)`,
    notes: done
      .map((d) => d.note)
      .filter((n) => n.length > 0)
      .join('; '),
  };
  process.stdout.write(
    `  article ${pattern}: ${num(ops)} ops in ${num(elapsedMs / 1000, 1)} s; writes p50 ${num(result.write.p50, 2)} ms, ` +
      `reads p50 ${num(result.read.p50, 3)} ms; stale reads ${result.staleReads}; lost ${result.lost} of ${killAcked} (${result.killed})` +
      `${result.notes ? `; ${result.notes}` : ''}\n`,
  );
  return result;
}

/** The article's table as a section (pure: used by the benchmark and its tests). */
export function articleSection(results: readonly PatternResult[], elapsedMs: number): Section {
  const floor = results.find((r) => r.pattern === 'no-cache');
  const ms = (x: number) => (x >= 10 ? num(x, 1) : x >= 1 ? num(x, 2) : num(x, 3));
  const times = (x: number, of: number | undefined) => (of === undefined ? 'n/a' : ratio(x / of));
  const rows = results.map((r) => [
    LABELS[r.pattern],
    `${ms(r.write.p50)} / ${ms(r.write.p99)}`,
    times(r.write.p50, floor?.write.p50),
    `${ms(r.read.p50)} / ${ms(r.read.p99)}`,
    times(r.read.p50, floor?.read.p50),
    num(r.ops / (r.elapsedMs / 1000)),
    `${num(r.staleReads)} of ${num(r.read.count - r.l1Reads)}${r.read.count - r.l1Reads > 0 ? ` (${percent(r.staleReads / (r.read.count - r.l1Reads))})` : ''}`,
    `${num(r.lost)} of ${num(r.killAcked)}`,
    ARTICLE_SAYS[r.pattern],
  ]);
  const ours = results.find((r) => r.pattern === 'write-through');
  const notes = [
    `Workload: ${ARTICLE.workers} worker processes × ${ARTICLE.clients} clients, closed loop, ${percent(ARTICLE.readShare).replace('.00', '')} reads / ` +
      `${percent(1 - ARTICLE.readShare).replace('.00', '')} writes (each write a unique value), Zipf(${ARTICLE.zipfS}) over ${num(ARTICLE.keys)} keys seeded ` +
      `in Postgres before the run (the caches start empty), ${num(ARTICLE.durationMs / 1000, 1)} s per pattern or ` +
      `${num(ARTICLE.maxOpsPerClient)} operations per client, whichever comes first; one pattern at a time, each in fresh worker processes; ${num(elapsedMs / 1000, 0)} s in all.`,
    'Latencies (ms) are those of `ok` operations, from the invoke and complete times of the recorded history; "× no cache" divides p50 by the no-cache p50.',
    'Stale reads: K1 (`checkLinearizability` of `@writethrough/chaos/check`, per-key register linearizability) over the whole history, ' +
      'a read being stale when it returns a value older than one whose write completed before the read began. ' +
      "For ours, reads answered by a process's L1 are not K1's (K2 judges them against the bus's bounded lag): " +
      'the count covers the reads answered by Redis or Postgres, the "of" figure.' +
      (ours === undefined
        ? ''
        : ` Ours answered ${num(ours.l1Reads)} of its ${num(ours.read.count)} reads from L1.`),
    `Lost writes: a second phase per pattern, 1 process × ${ARTICLE.kill.clients} clients writing (${percent(1 - ARTICLE.kill.readShare).replace('.00', '')} writes) on ` +
      `other keys, killed with SIGKILL once it acknowledged ${ARTICLE.kill.afterWrites} writes; K3 (\`checkDurability\`) counts the ` +
      'acknowledged writes missing from the final Postgres rows (history lines are written synchronously, so every acknowledgement made before the kill is on disk).',
    `Baselines (\`src/baselines.ts\`): cache-aside and read-through keep entries ${num(ARTICLE.ttlMs / 1000, 0)} s (\`SET … PX\`); read-through loads a key once per process at a time and never invalidates on a write; ` +
      `write-back bumps the version in Redis (a Lua script), acknowledges, and a flusher writes queued rows to Postgres every ${ARTICLE.writeBack.flushMs} ms ` +
      `(or at ${ARTICLE.writeBack.maxBatch} rows) in one statement, its version coming from the cache. Every table is (key text primary key, value jsonb, version bigint), the version incremented by the write's SQL.`,
  ];
  for (const r of results)
    notes.push(
      `${r.pattern}: ${num(r.ops)} operations in ${num(r.elapsedMs / 1000, 1)} s; kill phase: ${r.killed}${r.otherViolations > 0 ? `; ${r.otherViolations} other K1 violations` : ''}${r.notes ? `; ${r.notes}` : ''}.`,
    );
  return {
    id: 'article',
    title: "The article's table, measured: five caching patterns on one workload",
    what:
      'The comparison table of the write-through article, measured on one workload: write and read latency (p50 / p99, ms), stale reads ' +
      'seen by the consistency checker, and acknowledged writes lost when a writing process is killed with SIGKILL. Lower is better everywhere.',
    headers: [
      'pattern',
      'write p50 / p99 ms',
      'write × no cache',
      'read p50 / p99 ms',
      'read × no cache',
      'ops/s',
      'stale reads (K1)',
      'acked writes lost (kill -9)',
      'the article says (write · read · consistency · loss)',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows,
    notes,
    chart: { columns: [1, 3], labels: ['write p50', 'read p50'], unit: 'ms', better: 'lower' },
  };
}

export async function runArticle(): Promise<Section[]> {
  const started = performance.now();
  const only = process.env.BENCH_ARTICLE_PATTERNS?.split(',').map((p) => p.trim());
  const patterns = PATTERNS.filter((p) => only === undefined || only.includes(p));
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => {});
  const down = await pool
    .query('select 1')
    .then(() => redisUnavailable())
    .catch((error: Error) => `no Postgres at ${DATABASE_URL}: ${error.message}`);
  if (down !== undefined) {
    await pool.end();
    return [
      {
        id: 'article',
        title: "The article's table, measured",
        what: 'Not measured.',
        headers: ['pattern'],
        rows: [],
        notes: [down],
      },
    ];
  }
  const token = runToken('article');
  const schema = token.replace(/-/g, '_');
  const dir = mkdtempSync(join(tmpdir(), 'wt-article-'));
  const base = process.hrtime.bigint();
  try {
    await pool.query(`create schema ${schema}`);
    const results: PatternResult[] = [];
    for (const pattern of patterns)
      results.push(await measurePattern(pattern, pool, token, schema, dir, base));
    return [articleSection(results, performance.now() - started)];
  } finally {
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await pool.end();
    await deleteKeys(token).catch(() => 0);
    rmSync(dir, { recursive: true, force: true });
  }
}
