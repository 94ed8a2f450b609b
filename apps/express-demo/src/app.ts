/**
 * The demo app: users and products as REST resources on `writeThroughRouter`, one aggregated route
 * on `cacheResponses`, and the live stats page. With no configuration the database is PGlite (in
 * memory, or in `dataDir`) and each cache has an in-process `memoryStore` L1; `databaseUrl` and
 * `redisUrl` switch the same code to a Postgres server (`pg.Pool`) and Redis (`redisStore` as L2,
 * `redisBus` between instances).
 */
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import {
  type CacheStore,
  createCache,
  memoryStore,
  type RecordStore,
  type WriteThroughCache,
} from '@writethrough/core';
import {
  cacheResponses,
  metricsHandler,
  type ResponseCache,
  type TagMark,
  writeThroughRouter,
} from '@writethrough/express';
import { migrate, type PostgresClient, postgresRecords } from '@writethrough/postgres';
import { type RedisBus, redisBus, redisStore } from '@writethrough/redis';
import express, { type Express, type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type FaultOps, type FaultyRecords, faultyRecords } from './faulty-records.js';
import { Product, SEED, User } from './schemas.js';
import { type Timeline, timeline } from './timeline.js';

/** Options of `createApp`; `appOptionsFromEnv` reads them from the environment. */
export interface AppOptions {
  /** A Postgres URL: the database is a `pg.Pool` on it. Default: PGlite. */
  readonly databaseUrl?: string | undefined;
  /** PGlite's data directory (file-backed). Default: in memory. Ignored with `databaseUrl`. */
  readonly dataDir?: string | undefined;
  /** The Postgres schema of the demo's tables. Default `express_demo` on a server, `public` on PGlite. */
  readonly schema?: string | undefined;
  /** A Redis URL: each cache gets `redisStore` as L2 and `redisBus`. Default: no Redis. */
  readonly redisUrl?: string | undefined;
  /** Prefix of every Redis key and channel. Default `express-demo:`. */
  readonly namespace?: string | undefined;
  /** Mounts `POST /demo/faults` (inject transient database failures). Default false. */
  readonly faults?: boolean | undefined;
  /** Interval of the stats page's timeline, ms. Default 1000. */
  readonly sampleMs?: number | undefined;
  /** Writes the seed rows straight to the database when they are absent. Default true. */
  readonly seed?: boolean | undefined;
  /** This instance's name on the bus. Default random. */
  readonly instanceId?: string | undefined;
}

/** Where the demo keeps its data, for the banner and the stats page. */
export interface AppMode {
  readonly database: string;
  readonly l1: string;
  readonly l2: string;
  readonly bus: string;
}

/** One thing the caches reported (retries, conflicts, tier errors), for the page and the tour. */
export interface DemoEvent {
  readonly seq: number;
  readonly t: number;
  readonly cache: string;
  readonly kind: 'retry' | 'conflict' | 'error' | 'batch';
  readonly detail: string;
}

/** The running app and what it is made of. */
export interface DemoApp {
  readonly app: Express;
  readonly users: WriteThroughCache<User>;
  readonly products: WriteThroughCache<Product>;
  readonly tags: WriteThroughCache<TagMark>;
  readonly responses: ResponseCache;
  readonly timeline: Timeline;
  readonly mode: AppMode;
  /** The fault switches of the record stores (null unless `faults`). */
  readonly faults: { readonly users: FaultyRecords<User>; readonly products: FaultyRecords<Product> } | null;
  /** Closes the caches, the buses and the connections the app opened. */
  close(): Promise<void>;
}

/** Reads `DATABASE_URL`, `REDIS_URL`, `EXPRESS_DEMO_DATA_DIR`, `EXPRESS_DEMO_FAULTS`. */
export function appOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): AppOptions {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    dataDir: env.EXPRESS_DEMO_DATA_DIR || undefined,
    faults: env.EXPRESS_DEMO_FAULTS === '1' || env.EXPRESS_DEMO_FAULTS === 'true',
  };
}

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));
const RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 } as const;
const BATCH = { maxSize: 64, maxWaitMs: 5 } as const;
const MAX_BULK = 64;
const BULK_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_EVENTS = 200;
/** Points of the timeline kept and drawn. */
const WINDOW_POINTS = 60;

/** Builds the app: opens the database (and Redis), migrates the tables, seeds, mounts the routes. */
export async function createApp(options: AppOptions = {}): Promise<DemoApp> {
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  };
  try {
    return await build(options, closers, closeAll);
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function build(
  options: AppOptions,
  closers: (() => Promise<unknown>)[],
  closeAll: () => Promise<void>,
): Promise<DemoApp> {
  let client: PostgresClient;
  let database: string;
  let schema: string;
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
    pool.on('error', () => {});
    closers.push(() => pool.end());
    client = pool;
    schema = options.schema ?? 'express_demo';
    database = `Postgres (${redactUrl(options.databaseUrl)}, schema ${schema})`;
  } else {
    const db = options.dataDir ? new PGlite(options.dataDir) : new PGlite();
    await db.waitReady;
    closers.push(() => db.close());
    client = db;
    schema = options.schema ?? 'public';
    database = options.dataDir ? `PGlite (data in ${options.dataDir})` : 'PGlite (in memory)';
  }
  for (const table of ['users', 'products', 'http_tags']) await migrate(client, { schema, table });

  let redis: Redis | undefined;
  const namespace = options.namespace ?? 'express-demo:';
  if (options.redisUrl) {
    const r = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    closers.push(async () => r.disconnect());
    await r.connect();
    redis = r;
  }
  const buses: RedisBus[] = [];
  const tiers = (name: string): { l2?: CacheStore<unknown>; bus?: RedisBus } => {
    if (redis === undefined) return {};
    const bus = redisBus({ client: redis, namespace: `${namespace}${name}:` });
    buses.push(bus);
    closers.push(() => bus.close());
    return { l2: redisStore({ client: redis, namespace: `${namespace}${name}:` }), bus };
  };

  const events: DemoEvent[] = [];
  let seq = 0;
  const note = (cache: string, kind: DemoEvent['kind'], detail: string): void => {
    events.push({ seq: ++seq, t: Date.now(), cache, kind, detail });
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
  };
  const cacheOf = <V>(name: string, records: RecordStore<V>, extra: { batch?: typeof BATCH } = {}) => {
    const cache = createCache<V>({
      name,
      records,
      l1: memoryStore({ maxEntries: 10_000 }),
      ...tiers(name),
      retry: RETRY,
      ...(options.instanceId ? { instanceId: `${options.instanceId}-${name}` } : {}),
      ...extra,
    });
    closers.push(() => cache.close());
    cache.on('retry', ({ key, attempt, delayMs }) =>
      note(name, 'retry', `${key}: try ${attempt} failed, retrying in ${delayMs.toFixed(1)} ms`),
    );
    cache.on('conflict', ({ key, error }) =>
      note(
        name,
        'conflict',
        `${key}: expected v${error.expectedVersion}, the database has v${error.currentVersion}`,
      ),
    );
    cache.on('batch', ({ size }) => note(name, 'batch', `${size} rows in one setMany`));
    cache.on('error', ({ key, tier, op }) =>
      note(name, 'error', `${op}${tier ? ` on ${tier}` : ''}${key ? ` (${key})` : ''} failed`),
    );
    return cache;
  };

  const userRecords = faultyRecords(postgresRecords<User>({ client, schema, table: 'users' }));
  const productRecords = faultyRecords(postgresRecords<Product>({ client, schema, table: 'products' }));
  const tagRecords = postgresRecords<TagMark>({ client, schema, table: 'http_tags' });
  if (options.seed !== false) {
    await seed(userRecords, SEED.users);
    await seed(productRecords, SEED.products);
  }
  const users = cacheOf<User>('users', userRecords);
  const products = cacheOf<Product>('products', productRecords, { batch: BATCH });
  const tags = cacheOf<TagMark>('http-tags', tagRecords);

  const responses = cacheResponses({
    tagCache: tags,
    ...(redis ? { store: redisStore({ client: redis, namespace: `${namespace}responses:` }) } : {}),
    tags: ['users', 'products'],
    query: ['top'],
  });
  closers.push(() => responses.close());

  const sampler = timeline({
    caches: [users, products, tags],
    sampleMs: options.sampleMs ?? 1_000,
    points: WINDOW_POINTS,
  });
  closers.push(async () => sampler.stop());

  const mode: AppMode = {
    database,
    l1: 'memoryStore (in process)',
    l2: redis ? `redisStore (${redactUrl(options.redisUrl!)})` : 'none',
    bus: redis ? 'redisBus' : 'none (one instance)',
  };
  const faults = options.faults ? { users: userRecords, products: productRecords } : null;

  const app = express();
  app.disable('x-powered-by');
  app.use(['/users', '/products', '/reports'], sampler.middleware);
  app.use('/users', writeThroughRouter(users, { validate: User, responseCache: responses, tags: ['users'] }));
  // Many products in one request: each is one `set`, all issued at once, which the cache's batcher
  // sends as one setMany statement (and one tag invalidation for the lot).
  app.post('/products', express.json({ limit: '64kb' }), async (req: Request, res: Response) => {
    const body = req.body as unknown;
    const entries =
      body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.entries(body) : [];
    const problems: { id: string; message: string }[] = [];
    if (entries.length === 0 || entries.length > MAX_BULK) {
      problems.push({ id: '', message: `send an object of 1 to ${MAX_BULK} products keyed by id` });
    }
    const values: [string, Product][] = [];
    for (const [id, value] of entries) {
      const parsed = Product.safeParse(value);
      if (!BULK_ID.test(id)) problems.push({ id, message: 'ids are 1 to 64 letters, digits, _ or -' });
      else if (!parsed.success)
        problems.push({ id, message: parsed.error.issues.map((i) => i.message).join('; ') });
      else values.push([id, parsed.data]);
    }
    if (problems.length > 0) {
      res.status(400).json({ title: 'Bad Request', status: 400, problems });
      return;
    }
    try {
      const written = await Promise.all(values.map(([id, value]) => products.set(id, value)));
      await responses.invalidateTags(['products']);
      res.json({ items: values.map(([id], i) => ({ id, version: written[i]!.version })) });
    } catch {
      res.status(503).setHeader('Retry-After', '1').json({ title: 'Service Unavailable', status: 503 });
    }
  });
  app.use(
    '/products',
    writeThroughRouter(products, { validate: Product, responseCache: responses, tags: ['products'] }),
  );
  app.get('/reports/summary', responses, async (req: Request, res: Response) => {
    const top = Math.min(Math.max(Number.parseInt(String(req.query.top ?? '3'), 10) || 3, 1), 20);
    res.json(await summary(client, schema, top));
  });

  app.get('/api/stats', (req: Request, res: Response) => {
    const since = Number(req.query.since ?? 0) || 0;
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      now: Date.now(),
      mode,
      sampleMs: options.sampleMs ?? 1_000,
      windowPoints: WINDOW_POINTS,
      caches: [users.stats(), products.stats(), tags.stats()],
      responses: { ...responses.stats },
      http: sampler.http,
      faults: faults && {
        pending: { users: faults.users.pending, products: faults.products.pending },
        injected: faults.users.injected + faults.products.injected,
      },
      events: events.filter((e) => e.seq > since),
      points: sampler.points(),
    });
  });
  app.get('/metrics', metricsHandler([users, products, tags]));
  if (faults) {
    app.post('/demo/faults', express.json({ limit: '1kb' }), (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const target = body.resource === 'products' ? faults.products : faults.users;
      const ops: FaultOps = body.ops === 'reads' ? 'reads' : 'writes';
      const n = Number(body.failNext ?? 0);
      if (!Number.isInteger(n) || n < 0 || n > 100) {
        res.status(400).json({ error: 'failNext must be an integer in 0..100' });
        return;
      }
      target.failNext(n, ops);
      res.json({ pending: { users: faults.users.pending, products: faults.products.pending } });
    });
  }
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: 0 }));

  return {
    app,
    users,
    products,
    tags,
    responses,
    timeline: sampler,
    mode,
    faults,
    close: closeAll,
  };
}

/** Writes each seed row unless the key has a row already (create-only: `ifVersion: 0`). */
async function seed<V>(records: FaultyRecords<V>, rows: Record<string, V>): Promise<void> {
  await Promise.allSettled(
    Object.entries(rows).map(([key, value]) => records.set(key, value, { ifVersion: 0 })),
  );
}

/** The aggregate behind `GET /reports/summary`: counts, stock value and the `top` dearest products. */
async function summary(client: PostgresClient, schema: string, top: number) {
  const q = (table: string) => `"${schema}"."${table}"`;
  const { rows } = await client.query(
    `SELECT (SELECT count(*)::int FROM ${q('users')} WHERE NOT deleted) AS users,
            (SELECT count(*)::int FROM ${q('products')} WHERE NOT deleted) AS products,
            (SELECT coalesce(sum((value->>'price')::float8 * (value->>'stock')::float8), 0)::float8
               FROM ${q('products')} WHERE NOT deleted) AS "stockValue"`,
  );
  const { rows: dearest } = await client.query(
    `SELECT key AS id, value->>'name' AS name, (value->>'price')::float8 AS price, version::int AS version
       FROM ${q('products')} WHERE NOT deleted ORDER BY (value->>'price')::float8 DESC, key LIMIT $1`,
    [top],
  );
  const counts = rows[0] as { users: number; products: number; stockValue: number };
  return {
    ...counts,
    stockValue: Math.round(counts.stockValue * 100) / 100,
    top: dearest,
    renderedAt: new Date().toISOString(),
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'a server';
  }
}

export { PUBLIC_DIR };
