/**
 * Throwaway Redis servers for tests: a `redis-server` (from `PATH`) on a free loopback port, in a
 * temporary directory, that a test can stop, kill, freeze (SIGSTOP), restart empty or from an old
 * snapshot, and a local Redis Cluster of such servers. They speak to the servers over a tiny RESP
 * client of their own, so this module needs no Redis client library.
 *
 * Every server started here is killed when the test process exits, whatever happened.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './deferred.js';

/** A reply of the RESP protocol, decoded. */
export type RespReply = string | number | null | RespReply[] | RespError;

/** An error reply (`-ERR …`). */
export class RespError extends Error {
  override readonly name = 'RespError';
}

/** A free TCP port on 127.0.0.1 (the OS picks it; another process may take it before you do). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function encode(args: readonly (string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `offset`; undefined when the buffer does not hold all of it yet. */
function parse(buffer: Buffer, offset: number): { reply: RespReply; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { reply: line, end: next };
    case '-':
      return { reply: new RespError(line), end: next };
    case ':':
      return { reply: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { reply: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, end: next };
      const items: RespReply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.reply);
        at = item.end;
      }
      return { reply: items, end: at };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
  }
}

/**
 * Sends one command to the server at `port` on a fresh connection and returns its reply (an error
 * reply is returned, not thrown). Rejects when the server cannot be reached within `timeoutMs`.
 */
export async function redisCommand(
  port: number,
  args: readonly (string | number)[],
  { host = '127.0.0.1', timeoutMs = 5_000 }: { host?: string; timeoutMs?: number } = {},
): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buffer = Buffer.alloc(0);
    const done = (error: Error | undefined, reply?: RespReply) => {
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(reply ?? null);
    };
    const timer = setTimeout(
      () =>
        done(new Error(`redis at ${host}:${port}: no reply to ${String(args[0])} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('error', (error) => done(error));
    socket.on('close', () => done(new Error(`redis at ${host}:${port} closed the connection`)));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parse(buffer, 0);
      if (parsed !== undefined) done(undefined, parsed.reply);
    });
    socket.connect(port, host, () => socket.write(encode(args)));
  });
}

/** Resolves once the server at `port` answers PING, or rejects after `timeoutMs`. */
export async function waitForRedis(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const reply = await redisCommand(port, ['PING'], { host, timeoutMs: 1_000 });
      if (reply === 'PONG') return;
      last = reply;
    } catch (error) {
      last = error;
    }
    await sleep(25);
  }
  throw new Error(`redis at ${host}:${port} did not answer PING within ${timeoutMs} ms (${String(last)})`);
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const each of live) each.kill('SIGKILL');
    });
  }
}

/** Options of `startRedisServer`. */
export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru']`. */
  readonly args?: readonly string[];
  /** The port; default a free one. */
  readonly port?: number;
  /** The `redis-server` binary; default `REDIS_SERVER_BIN` or `redis-server` from `PATH`. */
  readonly binary?: string;
}

/** A `redis-server` owned by a test. */
export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's working directory (its RDB snapshot is `dump.rdb` in it). */
  readonly dir: string;
  /** The process id of the running server (changes on restart). */
  readonly pid: number | undefined;
  /** True while the process runs (also while paused). */
  readonly running: boolean;
  /** Sends one command; see `redisCommand`. */
  command(...args: (string | number)[]): Promise<RespReply>;
  /** Writes a snapshot now (SAVE) and copies it to a file of its own; returns that file's path. */
  snapshot(): Promise<string>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Thaws a paused process (SIGCONT). */
  resume(): void;
  /** Kills the process (SIGKILL, also when paused: it answers nothing more) and waits for it to exit. */
  kill(): Promise<void>;
  /**
   * Starts the server again on the same port: empty by default, or from `snapshot` (a file from
   * `snapshot()`), as a server restored from an old backup would. Stops a running one first.
   */
  restart(options?: { readonly snapshot?: string }): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and deletes its directory. */
  stop(): Promise<void>;
}

async function waitExit(child: ChildProcess, signal: NodeJS.Signals, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts a `redis-server` on a loopback port in a temporary directory; resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), `wt-redis-${port}-`));
  const binary = options.binary ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
  let child: ChildProcess | undefined;
  let snapshots = 0;
  let output = '';

  const launch = async (): Promise<void> => {
    output = '';
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--dbfilename',
      'dump.rdb',
      ...(options.args ?? []),
    ];
    const started = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(started);
    started.stdout?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    started.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    const failed = new Promise<never>((_, reject) => {
      started.once('error', (error) =>
        reject(new Error(`cannot start ${binary} (is redis-server on PATH?): ${error.message}`)),
      );
      started.once('exit', (code, signal) =>
        reject(new Error(`${binary} on port ${port} exited (${code ?? signal}) while starting:\n${output}`)),
      );
    });
    failed.catch(() => undefined);
    child = started;
    await Promise.race([waitForRedis(port), failed]);
  };

  await launch();

  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    command: (...args) => redisCommand(port, args),
    snapshot: async () => {
      const reply = await redisCommand(port, ['SAVE']);
      if (reply !== 'OK') throw new Error(`SAVE failed: ${String(reply)}`);
      const file = join(dir, `snapshot-${++snapshots}.rdb`);
      await copyFile(join(dir, 'dump.rdb'), file);
      return file;
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
    kill: async () => {
      // No SIGCONT first: a frozen server dies without answering what it holds.
      if (child === undefined) return;
      await waitExit(child, 'SIGKILL');
    },
    restart: async ({ snapshot } = {}) => {
      if (child !== undefined) await waitExit(child, 'SIGKILL');
      await rm(join(dir, 'dump.rdb'), { force: true });
      if (snapshot !== undefined) await copyFile(snapshot, join(dir, 'dump.rdb'));
      await launch();
    },
    stop: async () => {
      if (child !== undefined) {
        child.kill('SIGCONT');
        await waitExit(child, 'SIGTERM');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** A Redis Cluster of masters (no replicas) on loopback ports, owned by a test. */
export interface RedisCluster {
  /** The masters, as ioredis's `Cluster` wants its startup nodes. */
  readonly nodes: readonly { readonly host: '127.0.0.1'; readonly port: number }[];
  readonly servers: readonly RedisServer[];
  /** Stops every node and deletes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` cluster-enabled servers (default 3), assigns the 16384 slots evenly
 * (CLUSTER ADDSLOTSRANGE), joins them (CLUSTER MEET) and waits until every node reports
 * `cluster_state:ok`.
 */
export async function startRedisCluster({ masters = 3 }: { masters?: number } = {}): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await startRedisServer({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ],
        }),
      );
    }
    const per = Math.ceil(16_384 / masters);
    for (const [i, server] of servers.entries()) {
      const from = i * per;
      const to = Math.min(16_383, from + per - 1);
      const reply = await server.command('CLUSTER', 'ADDSLOTSRANGE', from, to);
      if (reply !== 'OK') throw new Error(`CLUSTER ADDSLOTSRANGE on ${server.port}: ${String(reply)}`);
    }
    for (const server of servers.slice(1)) {
      const reply = await server.command('CLUSTER', 'MEET', '127.0.0.1', servers[0]!.port);
      if (reply !== 'OK') throw new Error(`CLUSTER MEET from ${server.port}: ${String(reply)}`);
    }
    const deadline = Date.now() + 20_000;
    for (const server of servers) {
      for (;;) {
        const info = await server.command('CLUSTER', 'INFO');
        const known = await server.command('CLUSTER', 'NODES');
        const nodes = typeof known === 'string' ? known.trim().split('\n').length : 0;
        if (typeof info === 'string' && info.includes('cluster_state:ok') && nodes === masters) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${server.port} not ready: ${String(info)}`);
        await sleep(50);
      }
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return {
    nodes: servers.map((server) => ({ host: '127.0.0.1', port: server.port })),
    servers,
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

/** Where the shared test Redis is, found as DESIGN §6 says. */
export interface RedisTarget {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** How it was found. */
  readonly source: 'REDIS_URL' | 'localhost:6379' | 'throwaway';
  /** Stops the throwaway server (a no-op for the others). */
  stop(): Promise<void>;
}

/**
 * The Redis the tests share: `REDIS_URL`, else 127.0.0.1:6379 when it answers PING, else a
 * throwaway `redis-server` from `PATH`. Rejects (never skips) when none can be had, naming what
 * was tried, so a missing server fails the run.
 */
export async function findRedis(): Promise<RedisTarget> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    const url = new URL(fromEnv);
    const port = Number(url.port || 6379);
    await waitForRedis(port, 5_000, url.hostname);
    return { url: fromEnv, host: url.hostname, port, source: 'REDIS_URL', stop: async () => undefined };
  }
  try {
    await waitForRedis(6379, 1_000);
    return {
      url: 'redis://127.0.0.1:6379',
      host: '127.0.0.1',
      port: 6379,
      source: 'localhost:6379',
      stop: async () => undefined,
    };
  } catch {
    // Fall through to a throwaway server.
  }
  try {
    const server = await startRedisServer();
    return {
      url: server.url,
      host: server.host,
      port: server.port,
      source: 'throwaway',
      stop: () => server.stop(),
    };
  } catch (error) {
    throw new Error(
      'no Redis for the tests: REDIS_URL is not set, nothing answers on 127.0.0.1:6379, and redis-server ' +
        `could not be started from PATH (${error instanceof Error ? error.message : String(error)}). ` +
        'Install Redis (apt-get install redis-server) or set REDIS_URL.',
    );
  }
}

/** Whether this machine can run the Redis tests; see `redisTestsAvailable`. */
export interface RedisAvailability {
  /** True when the tests must be skipped (never with `CI=true`: then a missing server throws). */
  readonly skip: boolean;
  /** What is missing, when `skip`. */
  readonly reason?: string;
}

function hasRedisServerBinary(): boolean {
  const binary = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const probe = spawnSync(binary, ['--version'], { stdio: 'ignore', timeout: 5_000 });
  return probe.error === undefined && probe.status === 0;
}

/**
 * Decides, before a test file registers its tests, whether it can run: a Redis must answer
 * (`REDIS_URL`, else 127.0.0.1:6379) or `redis-server` must be on `PATH`; with `needBinary`, the
 * binary is required (the tests start servers of their own). With `CI=true` a missing server throws,
 * so the file fails; otherwise the file's tests are skipped and a warning names them and the line
 * that would run them (DESIGN §6: a newcomer's `pnpm test` passes, a CI run proves everything).
 */
export async function redisTestsAvailable(
  what: string,
  {
    needBinary = false,
    run = 'pnpm --filter @writethrough/redis test',
  }: { needBinary?: boolean /** The command that runs these tests, for the warning. */; run?: string } = {},
): Promise<RedisAvailability> {
  const binary = hasRedisServerBinary();
  let reason: string | undefined;
  if (needBinary && !binary) reason = 'redis-server is not on PATH (these tests start servers of their own)';
  else if (!binary) {
    const url = process.env.REDIS_URL;
    const port = url ? Number(new URL(url).port || 6379) : 6379;
    const host = url ? new URL(url).hostname : '127.0.0.1';
    try {
      await waitForRedis(port, 1_000, host);
    } catch {
      reason = `no Redis answers at ${url ?? '127.0.0.1:6379'} and redis-server is not on PATH`;
    }
  }
  if (reason === undefined) return { skip: false };
  const message =
    `${what}: ${reason}. Install Redis (apt-get install redis-server, brew install redis) or set REDIS_URL, ` +
    `then run: ${run}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  console.warn(`\n  SKIPPED — ${message}\n`);
  return { skip: true, reason };
}
