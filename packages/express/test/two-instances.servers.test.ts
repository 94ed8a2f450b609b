/**
 * Two app instances in one process sharing a real Postgres (postgresRecords, a schema of this file's
 * own) and a real Redis (redisStore as L2 and the shared response store, redisBus): a write on one is
 * seen by the other, its L1 is invalidated through the bus, and cached responses follow their tags.
 */
import { randomBytes } from 'node:crypto';
import { createCache, type WriteThroughCache } from '@writethrough/core';
import { migrate, postgresRecords } from '@writethrough/postgres';
import { type RedisBus, redisBus, redisStore } from '@writethrough/redis';
import { findRedis, freePort, type RedisTarget, testPostgresConfig, waitFor } from '@writethrough/testing';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cacheResponses,
  metricsHandler,
  type ResponseCache,
  statsHandler,
  type TagMark,
  writeThroughRouter,
} from '../src/index.ts';
import type { User } from './helpers.ts';

const schema = `wt_express_${randomBytes(6).toString('hex')}`;
const namespace = `wt-express-${process.pid}-${randomBytes(4).toString('hex')}:`;
let pool: pg.Pool;
let target: RedisTarget;
const closers: (() => Promise<void>)[] = [];

interface Instance {
  app: Express;
  users: WriteThroughCache<User>;
  tags: WriteThroughCache<TagMark>;
  buses: RedisBus[];
  responses: ResponseCache;
}

async function instance(name: string): Promise<Instance> {
  const redis = new Redis(target.url, { lazyConnect: true });
  await redis.connect();
  const cache = <V>(cacheName: string, table: string): { cache: WriteThroughCache<V>; bus: RedisBus } => {
    const bus = redisBus({ client: redis, namespace: `${namespace}${cacheName}:` });
    const created = createCache<V>({
      name: cacheName,
      instanceId: `${name}-${cacheName}`,
      records: postgresRecords<V>({ client: pool, schema, table }),
      l2: redisStore({ client: redis, namespace: `${namespace}${cacheName}:` }),
      bus,
    });
    return { cache: created, bus };
  };
  const users = cache<User>('users', 'users');
  const tags = cache<TagMark>('tags', 'tags');
  const responses = cacheResponses({
    tagCache: tags.cache,
    store: redisStore({ client: redis, namespace: `${namespace}responses:` }),
    tags: ['users'],
  });
  const app = express();
  app.use(
    '/users',
    writeThroughRouter(users.cache, { responseCache: responses, tags: (id) => ['users', `user:${id}`] }),
  );
  app.get('/names', responses, async (_req, res) => {
    const found = await users.cache.getMany(['ada', 'bob']);
    res.json({ names: [...found.values()].map((u) => u.name), renderedBy: name });
  });
  app.get('/metrics', metricsHandler([users.cache, tags.cache]));
  app.get('/stats', statsHandler([users.cache, tags.cache]));
  closers.push(async () => {
    await users.cache.close();
    await tags.cache.close();
    await users.bus.close();
    await tags.bus.close();
    redis.disconnect();
  });
  const buses = [users.bus, tags.bus];
  await waitFor(() => buses.every((b) => b.connected) && users.cache.l1Enabled && tags.cache.l1Enabled, {
    timeoutMs: 10_000,
    what: `${name}'s buses to connect`,
  });
  return { app, users: users.cache, tags: tags.cache, buses, responses };
}

let a: Instance;
let b: Instance;

beforeAll(async () => {
  pool = new pg.Pool({ ...testPostgresConfig(), max: 10 });
  pool.on('error', () => {});
  await migrate(pool, { schema, table: 'users' });
  await migrate(pool, { schema, table: 'tags' });
  target = await findRedis();
  a = await instance('a');
  b = await instance('b');
});

afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  const cleaner = new Redis(target.url);
  const stream = cleaner.scanStream({ match: `${namespace}*`, count: 1_000 });
  for await (const keys of stream as AsyncIterable<string[]>)
    if (keys.length > 0) await cleaner.unlink(...keys);
  cleaner.disconnect();
  await target.stop();
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

describe('two instances on Postgres and Redis', () => {
  it('a write on one is visible on the other at once, and the other’s L1 copy is dropped through the bus', async () => {
    const created = await request(a.app).put('/users/ada').send({ name: 'Ada' });
    expect(created.status).toBe(201);
    // B never read the key: it sees the write at once, through L2 or the database.
    const seen = await request(b.app).get('/users/ada');
    expect(seen.status).toBe(200);
    expect(seen.headers.etag).toBe(created.headers.etag);

    // B now holds the key in its L1: a second read is an L1 hit.
    const l1Hits = b.users.stats().l1.hits;
    expect((await request(b.app).get('/users/ada')).headers.etag).toBe(created.headers.etag);
    expect(b.users.stats().l1.hits).toBe(l1Hits + 1);

    const heard = b.users.stats().busMessages;
    const updated = await request(a.app)
      .put('/users/ada')
      .set('If-Match', created.headers.etag!)
      .send({ name: 'Ada Lovelace' });
    expect(updated.status).toBe(200);
    await waitFor(() => b.users.stats().busMessages > heard, {
      timeoutMs: 5_000,
      what: 'B to hear the write',
    });
    const after = await request(b.app).get('/users/ada');
    expect(after.body).toEqual({ name: 'Ada Lovelace' });
    expect(after.headers.etag).toBe(updated.headers.etag);
    const { rows } = await pool.query(`SELECT version FROM "${schema}"."users" WHERE key = 'ada'`);
    expect(after.headers.etag).toBe(`"${rows[0].version}"`);
  });

  it('If-Match is checked by Postgres: a client holding an old ETag gets 412 on the other instance', async () => {
    const first = await request(a.app).put('/users/bob').send({ name: 'Bob' });
    const readOnA = await request(a.app).get('/users/bob');
    const writtenOnB = await request(b.app)
      .put('/users/bob')
      .set('If-Match', first.headers.etag!)
      .send({ name: 'Robert' });
    expect(writtenOnB.status).toBe(200);
    const stale = await request(a.app)
      .patch('/users/bob')
      .set('If-Match', readOnA.headers.etag!)
      .send({ nick: 'bobby' });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(writtenOnB.headers.etag);
    const fresh = await request(a.app)
      .patch('/users/bob')
      .set('If-Match', stale.headers.etag!)
      .send({ nick: 'bobby' });
    expect(fresh.status).toBe(200);
    expect((await request(b.app).get('/users/bob')).body).toMatchObject({ name: 'Robert' });
  });

  it('cached responses are shared through Redis and invalidated on every instance by a write’s tags', async () => {
    await a.responses.invalidateTags(['users']);
    const first = await request(a.app).get('/names');
    expect(first.headers['x-cache']).toBe('MISS');
    const shared = await request(b.app).get('/names');
    expect(shared.headers['x-cache']).toBe('HIT');
    expect(shared.body).toEqual(first.body);

    const heard = a.tags.stats().busMessages;
    expect((await request(b.app).put('/users/bob').send({ name: 'Bobby' })).status).toBe(200);
    // B's own next read sees the new tag version at once; A's after the bus reached its L1.
    const onB = await request(b.app).get('/names');
    expect(onB.headers['x-cache']).toBe('MISS');
    expect(onB.body.names).toContain('Bobby');
    await waitFor(() => a.tags.stats().busMessages > heard, { timeoutMs: 5_000, what: 'A to hear the tag' });
    const onA = await request(a.app).get('/names');
    expect(onA.body.names).toContain('Bobby');
    expect(onA.body).toEqual(onB.body);
  });

  it('serves Prometheus text and JSON stats of the caches', async () => {
    const metrics = await request(a.app).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/writethrough_writes_total\{cache="users"\} [1-9]/);
    const stats = await request(b.app).get('/stats');
    expect(stats.body.caches.map((c: { name: string }) => c.name)).toEqual(['users', 'tags']);
  });

  it('503 with Retry-After when Postgres cannot be reached', async () => {
    const port = await freePort();
    const down = new pg.Pool({ host: '127.0.0.1', port, database: 'test', connectionTimeoutMillis: 2_000 });
    down.on('error', () => {});
    const cache = createCache<User>({
      name: 'down',
      records: postgresRecords<User>({ client: down, schema, table: 'users' }),
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const reported: number[] = [];
    const app = express();
    app.use('/users', writeThroughRouter(cache, { onError: (_e, _r, status) => reported.push(status) }));
    try {
      const read = await request(app).get('/users/ada');
      expect(read.status).toBe(503);
      expect(read.headers['retry-after']).toBe('1');
      const write = await request(app).put('/users/ada').send({ name: 'x' });
      expect(write.status).toBe(503);
      expect(reported).toEqual([503, 503]);
    } finally {
      await cache.close();
      await down.end();
    }
  });
});
