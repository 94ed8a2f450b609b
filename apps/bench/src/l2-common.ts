/**
 * What the L2 (Redis) benchmarks share: the server they use (127.0.0.1:6379, or `BENCH_REDIS_URL`),
 * a run token that prefixes every key they write (deleted afterwards by `SCAN`/`UNLINK`; never
 * `FLUSHALL`), the loading of `@writethrough/redis` (reported as "not available yet" when it does
 * not build or export `redisStore`), a closed-loop driver that keeps N requests in flight for a
 * fixed time, and a command counter on `MONITOR` that tells how many commands each operation sent.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import type { RecordStore } from '@writethrough/core';
import { Redis as Redis6 } from 'ioredis6';
import type { BenchCache, BenchRecords, Core } from './core.js';
import { num } from './report.js';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const url = new URL(REDIS_URL);
/** Connection options for ioredis (5 and 6). */
export const REDIS_OPTIONS = {
  host: url.hostname,
  port: Number(url.port || 6379),
  // A benchmark should fail rather than wait on an unreachable server.
  maxRetriesPerRequest: 1,
  lazyConnect: false,
} as const;

/** A fresh token for this run: every key the L2 benchmarks write contains it. */
export function runToken(name: string): string {
  return `wtbench-${name}-${randomBytes(4).toString('hex')}`;
}

/** An ioredis 6 client (the version our store and the floor use). */
export function redis6(extra: { enableAutoPipelining?: boolean } = {}): Redis6 {
  return new Redis6({ ...REDIS_OPTIONS, ...extra });
}

/** Says why the server cannot be used, or undefined when it answers. */
export async function redisUnavailable(): Promise<string | undefined> {
  const client = redis6();
  client.on('error', () => {});
  try {
    await client.ping();
    return undefined;
  } catch (error) {
    return `no Redis at ${REDIS_URL}: ${(error as Error).message}`;
  } finally {
    client.disconnect();
  }
}

/** Deletes every key whose name contains `token` (SCAN + UNLINK, a thousand at a time). */
export async function deleteKeys(token: string): Promise<number> {
  const client = redis6();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `*${token}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}

/** Quits an ioredis client, ignoring a connection that is already closed. */
export async function quit(client: { quit(): Promise<unknown>; disconnect(): void }): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

// --- @writethrough/redis ------------------------------------------------------------------------

/** The options our benchmarks pass to `redisStore` (see packages/redis/src/store.ts); `namespace` ends with `:`. */
export interface BenchRedisStoreOptions {
  readonly client: Redis6;
  readonly namespace: string;
}

export type RedisStoreFactory = (options: BenchRedisStoreOptions) => unknown;

let redisLoaded: Promise<RedisStoreFactory | { readonly skipped: string }> | undefined;

/** `redisStore` from the built `@writethrough/redis`, or why our L2 contenders cannot run yet. */
export function loadRedisStore(): Promise<RedisStoreFactory | { readonly skipped: string }> {
  redisLoaded ??= (async () => {
    // A name in a variable: the type checker does not look for the package's declarations, so
    // the bench type-checks while @writethrough/redis has no dist yet.
    const name = '@writethrough/redis';
    try {
      const mod = (await import(name)) as Record<string, unknown>;
      if (typeof mod.redisStore !== 'function') {
        return { skipped: 'not available yet: @writethrough/redis does not export `redisStore`' };
      }
      return mod.redisStore as RedisStoreFactory;
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
        return { skipped: 'not available yet: @writethrough/redis is not built (no `dist`)' };
      }
      const first = String((error as Error).message ?? error).split('\n')[0];
      return { skipped: `not available yet: @writethrough/redis does not load (${first})` };
    }
  })();
  return redisLoaded;
}

/** The `createCache` options of our L2 contenders: no L1, the Redis store as L2. */
interface L2CacheOptions<V> {
  readonly name: string;
  readonly records: RecordStore<V>;
  readonly l1: false;
  readonly l2: unknown;
}

/** Builds `createCache({ name, records, l1: false, l2: redisStore({ client, namespace }) })`, or says why it cannot. */
export async function ourL2Cache<V>(
  core: Core,
  name: string,
  records: BenchRecords<V>,
  client: Redis6,
  namespace: string,
): Promise<BenchCache<V> | { readonly skipped: string }> {
  const factory = await loadRedisStore();
  if (typeof factory !== 'function') return factory;
  if (core.createCache === undefined) {
    return { skipped: 'not measured: @writethrough/core does not export `createCache` yet' };
  }
  const createCache = core.createCache as unknown as (options: L2CacheOptions<V>) => BenchCache<V>;
  try {
    const l2 = factory({ client, namespace }) as { ready?: () => Promise<void> };
    // The store refuses calls until its connection is ready and checked (restart detection).
    await l2.ready?.();
    return createCache({ name, records, l1: false, l2 });
  } catch (error) {
    return { skipped: `not available: ${(error as Error).message.split('\n')[0]}` };
  }
}

// --- driving -------------------------------------------------------------------------------------

export interface Drive {
  readonly opsPerSec: number;
  readonly ops: number;
  /** Operations whose result was `undefined` or `null`. */
  readonly empty: number;
}

/**
 * Keeps `inFlight` requests outstanding for `ms` (closed loop: each worker awaits its request, then
 * sends the next), taking keys from `next()`; returns operations per second. The deadline is read
 * from the clock after each operation.
 */
export async function drive(
  op: (key: string) => Promise<unknown>,
  next: () => string | undefined,
  inFlight: number,
  ms: number,
): Promise<Drive> {
  let ops = 0;
  let empty = 0;
  const start = performance.now();
  const deadline = start + ms;
  const worker = async () => {
    while (performance.now() < deadline) {
      const key = next();
      if (key === undefined) return;
      const result = await op(key);
      if (result === undefined || result === null) empty++;
      ops++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = performance.now() - start;
  return { opsPerSec: (ops / elapsed) * 1000, ops, empty };
}

/** A cursor that cycles over `keys`. */
export function cycle(keys: readonly string[]): () => string {
  let i = 0;
  return () => {
    const key = keys[i]!;
    if (++i === keys.length) i = 0;
    return key;
  };
}

// --- counting commands on MONITOR ----------------------------------------------------------------

interface Seen {
  /** The command's name, upper case. */
  readonly name: string;
  /** The client address, or `lua` for a command run by a script. */
  readonly source: string;
  /** The whole MONITOR line (arguments quoted). */
  readonly line: string;
}

export interface CommandCount {
  /** Commands the contender's connections sent, per operation (round trips when one request is in flight). */
  readonly perOp: number;
  /** Commands run inside Lua scripts (EVAL/EVALSHA/FCALL), per operation. */
  readonly luaPerOp: number;
  /** The commands by name, e.g. `GET ×1.00`. */
  readonly mix: string;
}

/** Parses a MONITOR line: `1700000000.123456 [0 127.0.0.1:54321] "GET" "key"`. */
function parseMonitorLine(line: string): Seen | undefined {
  const open = line.indexOf('[');
  const close = line.indexOf(']', open);
  if (open < 0 || close < 0) return undefined;
  const source = line.slice(line.indexOf(' ', open) + 1, close);
  const q1 = line.indexOf('"', close);
  const q2 = line.indexOf('"', q1 + 1);
  if (q1 < 0 || q2 < 0) return undefined;
  return { name: line.slice(q1 + 1, q2).toUpperCase(), source, line };
}

/**
 * Counts the commands an operation sends, on a `MONITOR` connection of its own (a plain socket:
 * ioredis's monitor mode lost track of its replies under other clients' traffic). A sample runs one
 * operation at a time between two sentinel commands; the contender's connections are the client
 * addresses that sent a command naming its key token, and every command from those addresses is
 * counted (so keyless commands such as `SCRIPT LOAD` count too); commands run by Lua scripts are
 * reported apart. MONITOR slows the server: samples are never timed.
 */
export class CommandCounter {
  readonly #socket: Socket;
  readonly #sender: Redis6;
  readonly #seen: Seen[] = [];
  #recording = false;
  #buffer = '';
  readonly #sentinel = `wtbench-sentinel-${randomBytes(4).toString('hex')}`;

  private constructor(socket: Socket, sender: Redis6) {
    this.#socket = socket;
    this.#sender = sender;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl = this.#buffer.indexOf('\r\n');
      while (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 2);
        if (this.#recording && line.startsWith('+')) {
          const seen = parseMonitorLine(line.slice(1));
          if (seen !== undefined) this.#seen.push(seen);
        }
        nl = this.#buffer.indexOf('\r\n');
      }
    });
    socket.on('error', () => {});
  }

  static async open(): Promise<CommandCounter> {
    const socket = createConnection({ host: REDIS_OPTIONS.host, port: REDIS_OPTIONS.port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write('MONITOR\r\n');
    return new CommandCounter(socket, redis6());
  }

  async #mark(tag: string): Promise<void> {
    const key = `${this.#sentinel}:${tag}`;
    await this.#sender.get(key);
    for (let i = 0; i < 400; i++) {
      if (this.#seen.some((s) => s.line.includes(key))) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error('MONITOR did not report the sentinel');
  }

  /** Runs `sample` (which performs `ops` operations on keys containing `token`) and counts its commands. */
  async count(token: string, ops: number, sample: () => Promise<void>): Promise<CommandCount> {
    this.#seen.length = 0;
    this.#recording = true;
    await this.#mark('begin');
    await sample();
    await this.#mark('end');
    this.#recording = false;
    const begin = this.#seen.findIndex((s) => s.line.includes(`${this.#sentinel}:begin`));
    const end = this.#seen.findIndex((s) => s.line.includes(`${this.#sentinel}:end`));
    const window = this.#seen.slice(begin + 1, end);
    const mine = (s: Seen) => s.line.includes(token);
    const sources = new Set(window.filter((s) => s.source !== 'lua' && mine(s)).map((s) => s.source));
    const sent = window.filter((s) => sources.has(s.source));
    const lua = window.filter((s) => s.source === 'lua' && mine(s));
    const byName = new Map<string, number>();
    for (const s of sent) byName.set(s.name, (byName.get(s.name) ?? 0) + 1);
    const mix = [...byName]
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ×${num(n / ops, 2)}`)
      .join(', ');
    this.#seen.length = 0;
    return { perOp: sent.length / ops, luaPerOp: lua.length / ops, mix };
  }

  close(): void {
    this.#socket.destroy();
    this.#sender.disconnect();
  }
}

/** `1.00 (GET ×1.00)`, with the Lua commands when there are any. */
export function describeCount(count: CommandCount | undefined): string {
  if (count === undefined) return 'n/a';
  const lua = count.luaPerOp > 0 ? `; ${num(count.luaPerOp, 2)} in Lua` : '';
  return `${num(count.perOp, 2)} (${count.mix}${lua})`;
}
