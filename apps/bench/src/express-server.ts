/**
 * The app server of the `express` benchmark, in a process of its own (started by `express.ts`, which
 * runs autocannon in its own process): the express demo (`createApp` of apps/express-demo, on
 * Postgres and Redis) with `USERS` users written through its cache, and beside its cached
 * `GET /users/:id` two routes on the same app and port:
 *
 * - `GET /direct/users/:id`: a plain Express handler that runs the `SELECT` on a `pg.Pool` (10
 *   connections, as the demo's) and answers the same JSON body, `ETag` and headers;
 * - `GET /apicache/users/:id`: the same handler behind `apicache` (its in-memory store);
 * - `GET /floor/users/:id`: the same answers from a `Map` filled at startup, for reference.
 *
 * It talks with its parent over IPC: `ready` (with the port) once listening; on request, its CPU
 * time and the users cache's L1 counters; `stop` closes everything and exits.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** What the parent passes as the first argument (JSON). */
export interface ServerConfig {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly schema: string;
  /** Prefix of every Redis key the demo writes (ends with `:`). */
  readonly namespace: string;
  readonly users: number;
}

/** Messages to the parent. */
export type ServerReply =
  | { readonly type: 'ready'; readonly port: number; readonly apicache: string | null }
  | { readonly type: 'failed'; readonly error: string }
  | {
      readonly type: 'sample';
      readonly id: number;
      /** CPU time (user + system) since the process started, µs. */
      readonly cpuMicros: number;
      readonly l1Hits: number;
      readonly reads: number;
    };

/** Messages from the parent. */
export type ServerRequest = { readonly type: 'sample'; readonly id: number } | { readonly type: 'stop' };

/** The id of bench user `i` (also its path segment). */
export const userId = (i: number): string => `bench-${String(i).padStart(4, '0')}`;

type Params = { params: Record<string, string> };
type Handler = (req: IncomingMessage & Params, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The part of apps/express-demo's `DemoApp` this server uses. */
interface Demo {
  readonly app: RequestListener & { get(path: string, ...handlers: Handler[]): unknown };
  readonly users: {
    setMany(entries: readonly { key: string; value: { name: string; email?: string } }[]): Promise<unknown>;
    stats(): { reads: number; l1: { hits: number } };
  };
  close(): Promise<void>;
}

type CreateApp = (options: {
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  namespace: string;
  seed: boolean;
}) => Promise<Demo>;

// A name in a variable: the type checker does not follow it into the demo's sources (outside this
// package's rootDir); tsx compiles them at run time.
const DEMO_APP = 'express-demo/src/app.ts';

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ServerConfig;
  const send = (reply: ServerReply) => process.send?.(reply);
  const { createApp } = (await import(DEMO_APP)) as { createApp: CreateApp };
  const demo = await createApp({
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    schema: config.schema,
    namespace: config.namespace,
    seed: false,
  });
  for (let from = 0; from < config.users; from += 100) {
    const entries = [];
    for (let i = from; i < Math.min(config.users, from + 100); i++) {
      entries.push({ key: userId(i), value: { name: `User ${i}`, email: `user${i}@example.com` } });
    }
    await demo.users.setMany(entries);
  }

  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
  pool.on('error', () => {});
  // The statement `postgresRecords` sends for a read, without the `deleted` column (the WHERE
  // drops tombstones), named so that `pg` prepares it once per connection as the store does.
  const select = {
    name: 'bench_direct_user',
    text: `SELECT value, version::text AS version FROM "${config.schema}"."users" WHERE key = $1 AND NOT deleted`,
  };
  /** The direct route: one `SELECT`, the value (parsed by `pg`) as JSON, the version as a strong ETag. */
  const direct: Handler = (req, res) => {
    pool.query<{ value: unknown; version: string }>({ ...select, values: [req.params.id ?? ''] }).then(
      ({ rows }) => {
        const row = rows[0];
        const body = row === undefined ? '{"title":"Not Found","status":404}' : JSON.stringify(row.value);
        res.statusCode = row === undefined ? 404 : 200;
        if (row !== undefined) {
          res.setHeader('ETag', `"${row.version}"`);
          res.setHeader('Cache-Control', 'no-cache');
        }
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Content-Length', Buffer.byteLength(body));
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.end(body);
      },
      () => {
        res.statusCode = 503;
        res.end();
      },
    );
  };
  demo.app.get('/direct/users/:id', direct);

  // The floor: the same answers from a `Map` filled once (no cache library, no database), for the
  // ceiling that Express and HTTP leave on this machine.
  const answers = new Map<string, { body: string; etag: string }>();
  const { rows } = await pool.query<{ key: string; value: unknown; version: string }>(
    `SELECT key, value, version::text AS version FROM "${config.schema}"."users" WHERE NOT deleted`,
  );
  for (const row of rows) answers.set(row.key, { body: JSON.stringify(row.value), etag: `"${row.version}"` });
  const floor: Handler = (req, res) => {
    const answer = answers.get(req.params.id ?? '');
    const body = answer === undefined ? '{"title":"Not Found","status":404}' : answer.body;
    res.statusCode = answer === undefined ? 404 : 200;
    if (answer !== undefined) {
      res.setHeader('ETag', answer.etag);
      res.setHeader('Cache-Control', 'no-cache');
    }
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.end(body);
  };
  demo.app.get('/floor/users/:id', floor);

  let apicacheProblem: string | null = null;
  try {
    const apicache = (await import('apicache')).default;
    const instance = apicache.newInstance({ defaultDuration: '1 hour' });
    demo.app.get('/apicache/users/:id', instance.middleware('1 hour') as Handler, direct);
  } catch (error) {
    apicacheProblem = `apicache does not load: ${(error as Error).message.split('\n')[0]}`;
  }

  const server = createServer(demo.app);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });

  process.on('message', (message: ServerRequest) => {
    if (message.type === 'sample') {
      const cpu = process.cpuUsage();
      const stats = demo.users.stats();
      send({
        type: 'sample',
        id: message.id,
        cpuMicros: cpu.user + cpu.system,
        l1Hits: stats.l1.hits,
        reads: stats.reads,
      });
    } else if (message.type === 'stop') {
      server.closeAllConnections();
      server.close();
      void Promise.allSettled([demo.close(), pool.end()]).then(() => process.exit(0));
    }
  });
  // The parent went away: do not linger.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: (server.address() as AddressInfo).port, apicache: apicacheProblem });
}

// Only as the forked server: `express.ts` imports `userId` and the types from here.
if (process.argv[1] === fileURLToPath(import.meta.url))
  main().catch((error: unknown) => {
    // Whatever was opened (the demo's pool, Redis) would keep the process alive: exit once the
    // parent has the reason.
    const reply: ServerReply = { type: 'failed', error: String((error as Error)?.stack ?? error) };
    if (process.send === undefined) process.exit(1);
    process.send(reply, () => process.exit(1));
  });
