/**
 * Issue 5's HTTP benchmark: autocannon against the express demo (apps/express-demo's `createApp`)
 * on a real Postgres (127.0.0.1:5432 database `test`, or `BENCH_DATABASE_URL`) and Redis
 * (127.0.0.1:6379, or `BENCH_REDIS_URL`), over `USERS` users:
 *
 * (1) the demo's cached `GET /users/:id` (`writeThroughRouter`; warm, so L1 hits);
 * (2) `GET /direct/users/:id`, a plain Express handler running the `SELECT` on a `pg.Pool`;
 * (3) `GET /apicache/users/:id`, the same direct handler behind `apicache` (memory store);
 * and, for reference, `GET /floor/users/:id`: the same answers from a `Map` (what Express and HTTP
 * alone cost here, the ceiling of any cache).
 *
 * The app runs in a child process (`express-server.ts`), autocannon in this one: on two cores each
 * side has a core, and the load generator does not take event-loop turns from the server it
 * measures. The three routes share the app, its process and its port; contenders run in rotating
 * rounds (a warmup, then a timed run each), and the verdict is the median of the per-round ratios.
 * The demo's tables live in a schema of their own, dropped at the end; its Redis keys carry the run
 * token and are deleted.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import type { ServerConfig, ServerReply, ServerRequest } from './express-server.js';
import { userId } from './express-server.js';
import { deleteKeys, REDIS_URL, redisUnavailable, runToken } from './l2-common.js';
import { collect } from './measure.js';
import { num, percent, ratio, type Section } from './report.js';

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const USERS = 1_000;
const CONNECTIONS = 64;
const ROUNDS = 3;
const WARMUP_S = 1;
const RUN_S = 3;
const TITLE = 'Express: cached `GET /users/:id` against Postgres';

interface Contender {
  readonly name: string;
  /** The path before the user id. */
  readonly prefix: string;
}

const CACHED: Contender = { name: 'writethrough `writeThroughRouter` (L1 hits)', prefix: '/users/' };
const DIRECT: Contender = {
  name: 'direct: plain handler, `SELECT` on a `pg.Pool` (no cache)',
  prefix: '/direct/users/',
};
const FLOOR: Contender = {
  name: 'reference: plain handler answering from a `Map` (no cache library, no database)',
  prefix: '/floor/users/',
};
const APICACHE: Contender = {
  name: '`apicache` 1.6.3 (memory store) before the direct handler',
  prefix: '/apicache/users/',
};

/** One timed run of one contender. */
interface Run {
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  /** Server and load-generator CPU time per wall second (1 = one core busy). */
  readonly serverCpu: number;
  readonly clientCpu: number;
  /** Answers that were not 2xx, plus connection errors and timeouts. */
  readonly failed: number;
  /** L1 hits per read of the users cache during the run. */
  readonly l1Share: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function notMeasured(reason: string): Section {
  return { title: TITLE, what: 'Not measured.', headers: ['contender'], rows: [], notes: [reason] };
}

/** The app server's process, and a request/answer channel to it. */
interface AppServer {
  readonly port: number;
  /** Why apicache could not be mounted, or null. */
  readonly apicacheProblem: string | null;
  sample(): Promise<Extract<ServerReply, { type: 'sample' }>>;
  stop(): Promise<void>;
}

function startServer(config: ServerConfig): Promise<AppServer> {
  const file = fileURLToPath(new URL('./express-server.ts', import.meta.url));
  const child: ChildProcess = fork(file, [JSON.stringify(config)], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, (reply: Extract<ServerReply, { type: 'sample' }>) => void>();
  let nextId = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the app server exited with ${code} before it was ready`)));
    child.on('error', reject);
    child.on('message', (reply: ServerReply) => {
      if (reply.type === 'failed') reject(new Error(`the app server failed: ${reply.error}`));
      else if (reply.type === 'sample') waiting.get(reply.id)?.(reply);
      else
        resolve({
          port: reply.port,
          apicacheProblem: reply.apicache,
          sample() {
            const id = nextId++;
            return new Promise((done) => {
              waiting.set(id, (answer) => {
                waiting.delete(id);
                done(answer);
              });
              child.send({ type: 'sample', id } satisfies ServerRequest);
            });
          },
          async stop() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.send({ type: 'stop' } satisfies ServerRequest);
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(timer);
          },
        });
    });
  });
}

/** Runs autocannon on `contender` for `seconds`, cycling over the users; 2xx latencies are kept (ms, not rounded). */
async function load(
  port: number,
  contender: Contender,
  seconds: number,
): Promise<{ result: autocannon.Result; latencies: Float64Array }> {
  let i = 0;
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: seconds,
        requests: [
          {
            method: 'GET',
            setupRequest: (request) => ({ ...request, path: `${contender.prefix}${userId(i++ % USERS)}` }),
          },
        ],
      },
      (error: unknown, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
  return { result, latencies: Float64Array.from(latencies).sort() };
}

/** Checks that `contender` answers like the cached route: status, body and ETag of one user, twice. */
async function compare(
  port: number,
  contender: Contender,
  reference: { body: string; etag: string | null },
): Promise<{ problem?: string; headers: Headers }> {
  let last: Response | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const response = await fetch(`http://127.0.0.1:${port}${contender.prefix}${userId(0)}`);
    const body = await response.text();
    if (response.status !== 200)
      return { problem: `answers ${response.status}: ${body.slice(0, 120)}`, headers: response.headers };
    if (body !== reference.body)
      return { problem: `answers another body: ${body.slice(0, 120)}`, headers: response.headers };
    if (response.headers.get('etag') !== reference.etag) {
      return {
        problem: `answers ETag ${response.headers.get('etag')}, not ${reference.etag}`,
        headers: response.headers,
      };
    }
    last = response;
  }
  return { headers: last!.headers };
}

async function unavailable(): Promise<string | undefined> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    await pool.query('select 1');
  } catch (error) {
    return `no Postgres at ${DATABASE_URL}: ${(error as Error).message}`;
  } finally {
    await pool.end();
  }
  return redisUnavailable();
}

export async function runExpress(): Promise<Section> {
  const down = await unavailable();
  if (down !== undefined) return notMeasured(down);
  const token = runToken('express');
  const schema = token.replace(/-/g, '_');
  let server: AppServer | undefined;
  try {
    server = await startServer({
      databaseUrl: DATABASE_URL,
      redisUrl: REDIS_URL,
      schema,
      namespace: `${token}:`,
      users: USERS,
    });
    const { port } = server;
    const first = await fetch(`http://127.0.0.1:${port}${CACHED.prefix}${userId(0)}`);
    const reference = { body: await first.text(), etag: first.headers.get('etag') };
    if (first.status !== 200) throw new Error(`the cached route answers ${first.status}: ${reference.body}`);
    const notes: string[] = [];
    const directCheck = await compare(port, DIRECT, reference);
    if (directCheck.problem !== undefined) throw new Error(`the direct route ${directCheck.problem}`);
    const floorCheck = await compare(port, FLOOR, reference);
    if (floorCheck.problem !== undefined) throw new Error(`the floor route ${floorCheck.problem}`);
    const contenders: Contender[] = [CACHED, DIRECT, FLOOR];
    let apicacheNote: string;
    if (server.apicacheProblem !== null) {
      apicacheNote = `${server.apicacheProblem}: left out.`;
    } else {
      const check = await compare(port, APICACHE, reference);
      if (check.problem !== undefined) apicacheNote = `\`apicache\` on Express 5 ${check.problem}: left out.`;
      else if (check.headers.get('apicache-store') === null) {
        apicacheNote = '`apicache` on Express 5 did not replay the second request from its cache: left out.';
      } else {
        contenders.push(APICACHE);
        apicacheNote =
          '`apicache` 1.6.3 installs and works on Express 5 (it patches `res.writeHead`/`res.end`; the second request ' +
          `is replayed from its memory store, header \`apicache-store: ${check.headers.get('apicache-store')}\`). ` +
          `It keeps the body and the \`ETag\` but rewrites \`Cache-Control\` (\`${check.headers.get('cache-control')}\` ` +
          'instead of `no-cache`), and nothing invalidates it on a write: it can serve a stale body for its whole duration. ' +
          'Its Redis store wants a node-redis 2/3 client, so it runs on its in-process memory store here.';
      }
    }

    const runs = new Map<Contender, Run[]>(contenders.map((c) => [c, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (let j = 0; j < contenders.length; j++) {
        const contender = contenders[(j + round) % contenders.length]!;
        collect();
        await load(port, contender, WARMUP_S);
        const before = await server.sample();
        const cpuBefore = process.cpuUsage();
        const began = performance.now();
        const { result, latencies } = await load(port, contender, RUN_S);
        const wall = (performance.now() - began) * 1000;
        const cpu = process.cpuUsage(cpuBefore);
        const after = await server.sample();
        const reads = after.reads - before.reads;
        runs.get(contender)!.push({
          reqPerSec: result['2xx'] / result.duration,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          serverCpu: (after.cpuMicros - before.cpuMicros) / wall,
          clientCpu: (cpu.user + cpu.system) / wall,
          failed: result.non2xx + result.errors + result.timeouts,
          l1Share: reads === 0 ? Number.NaN : (after.l1Hits - before.l1Hits) / reads,
        });
      }
      const of = (c: Contender) => runs.get(c)![round]!;
      process.stdout.write(
        `  express round ${round + 1}/${ROUNDS}: ${contenders
          .map((c) => `${c.prefix} ${num(of(c).reqPerSec)} req/s p99 ${num(of(c).p99, 2)} ms`)
          .join('; ')}; cached/direct ${ratio(of(CACHED).reqPerSec / of(DIRECT).reqPerSec)}\n`,
      );
    }

    const direct = runs.get(DIRECT)!;
    const paired = (c: Contender, field: 'reqPerSec' | 'p99') =>
      median(runs.get(c)!.map((run, r) => run[field] / direct[r]![field]));
    const rows = contenders.map((c) => {
      const rs = runs.get(c)!;
      const m = (field: keyof Run) => median(rs.map((run) => run[field]));
      return [
        c.name,
        num(m('reqPerSec')),
        ratio(paired(c, 'reqPerSec')),
        `${num(m('p50'), 2)} / ${num(m('p99'), 2)}`,
        ratio(paired(c, 'p99')),
        percent(m('serverCpu')),
        percent(m('clientCpu')),
      ];
    });
    const verdict = paired(CACHED, 'reqPerSec');
    const perRound = runs
      .get(CACHED)!
      .map((run, r) => ratio(run.reqPerSec / direct[r]!.reqPerSec))
      .join(', ');
    const failed = contenders
      .map((c) => [c, runs.get(c)!.reduce((sum, run) => sum + run.failed, 0)] as const)
      .filter(([, n]) => n > 0);
    const ofFloor = median(runs.get(CACHED)!.map((run, r) => run.reqPerSec / runs.get(FLOOR)![r]!.reqPerSec));
    const floorOverDirect = paired(FLOOR, 'reqPerSec');
    notes.push(
      `Target: cached ≥ 5× direct in req/s on real Postgres — measured ${ratio(verdict)} (median of the per-round ratios; ` +
        `rounds: ${perRound}): **${verdict >= 5 ? 'met' : 'missed'}**.`,
      `The reference route (the same answers and headers from a \`Map\`, no library, no database) reaches ` +
        `${ratio(floorOverDirect)} the direct route: no cache in front of Express can go past that here, the rest being ` +
        `what Express and HTTP on loopback cost; the cached route reaches ${percent(ofFloor)} of it (median of the ` +
        'per-round ratios).',
      `The app runs in a child process, autocannon in the benchmark's process: with ${availableParallelism()} cores each ` +
        'side can have one, so the load generator does not take event-loop turns from the server it measures. "server CPU" and ' +
        '"autocannon CPU" are each process\'s CPU time per wall second (100% = one core busy); a server near 100% is the ' +
        'bottleneck, a load generator near 100% caps what can be measured.',
      `The cached route answered ${percent(median(runs.get(CACHED)!.map((run) => run.l1Share)))} of its reads from L1 ` +
        "(median over rounds). It goes through the demo's stats middleware and the router's id checks; the direct route " +
        'skips the middleware and answers the row `pg` parsed, with the same body, `ETag` ' +
        "(the row's version) and headers: a cheap floor, so the ratio errs against the cache.",
      apicacheNote,
      `${USERS.toLocaleString('en-US')} users (\`${userId(0)}\` … \`${userId(USERS - 1)}\`) requested in turn; ${CONNECTIONS} ` +
        `connections (keep-alive, no pipelining) on 127.0.0.1; ${ROUNDS} rounds in which each contender runs ${WARMUP_S} s ` +
        `untimed, then ${RUN_S} s timed, in a rotating order. req/s and latencies (p50 / p99 of every 2xx answer, ms) are ` +
        'medians over rounds; "× direct" is the median of the per-round ratios (for p99, lower is better). The demo\'s and ' +
        "the direct route's `pg.Pool`s have 10 connections each.",
    );
    if (failed.length > 0) {
      notes.push(
        `Failed requests (non-2xx, errors, timeouts): ${failed.map(([c, n]) => `${c.prefix} ${num(n)}`).join(', ')}.`,
      );
    }
    return {
      title: TITLE,
      what:
        `Requests per second and latency of \`GET /users/:id\` on the express demo (apps/express-demo) with Postgres ` +
        'and Redis, under autocannon: through the cached `writeThroughRouter`, straight from Postgres, from a `Map` ' +
        '(reference) and through `apicache`. Higher req/s is better; "× direct" divides by the direct route.',
      headers: ['route', 'req/s', '× direct', 'p50 / p99 ms', 'p99 × direct', 'server CPU', 'autocannon CPU'],
      align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
      notes,
    };
  } finally {
    await server?.stop().catch(() => undefined);
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    await pool.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
    await pool.end();
    await deleteKeys(token).catch(() => 0);
  }
}
