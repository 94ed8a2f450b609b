/**
 * The same app on a real Postgres (`DATABASE_URL`, else 127.0.0.1:5432 database `test`, in a schema
 * of this file's own) and a real Redis (`REDIS_URL`, else 127.0.0.1:6379, else a throwaway
 * `redis-server`; a namespace of its own): two instances share them.
 */
import { randomBytes } from 'node:crypto';
import { findRedis, type RedisTarget, testPostgresUrl, waitFor } from '@writethrough/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type DemoApp } from '../src/app.ts';

const schema = `wt_express_demo_${randomBytes(6).toString('hex')}`;
const namespace = `wt-express-demo-${process.pid}-${randomBytes(4).toString('hex')}:`;
let target: RedisTarget;
let a: DemoApp;
let b: DemoApp;

beforeAll(async () => {
  target = await findRedis();
  const options = {
    databaseUrl: testPostgresUrl(),
    schema,
    redisUrl: target.url,
    namespace,
    sampleMs: 60_000,
  };
  a = await createApp({ ...options, instanceId: 'a', faults: true });
  b = await createApp({ ...options, instanceId: 'b' });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  const cleaner = new Redis(target.url);
  const stream = cleaner.scanStream({ match: `${namespace}*`, count: 1_000 });
  for await (const keys of stream as AsyncIterable<string[]>)
    if (keys.length > 0) await cleaner.unlink(...keys);
  cleaner.disconnect();
  await target.stop();
  const pool = new pg.Pool({ connectionString: testPostgresUrl() });
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

describe('express-demo on Postgres and Redis', () => {
  it('says what it runs on', () => {
    expect(a.mode.database).toContain(`schema ${schema}`);
    expect(a.mode.l2).toMatch(/^redisStore/);
    expect(a.mode.bus).toBe('redisBus');
  });

  it('a write on one instance is read on the other at once, and the other’s L1 follows through the bus', async () => {
    const seeded = await request(b.app).get('/users/grace');
    expect(seeded.status).toBe(200);
    const created = await request(a.app).put('/users/ada').send({ name: 'Ada' });
    expect(created.status).toBe(201);
    const seen = await request(b.app).get('/users/ada');
    expect(seen.body).toEqual({ name: 'Ada' });
    expect(seen.headers.etag).toBe(created.headers.etag);
    const hits = b.users.stats().l1.hits;
    await request(b.app).get('/users/ada');
    expect(b.users.stats().l1.hits).toBe(hits + 1);

    const heard = b.users.stats().busMessages;
    const updated = await request(a.app)
      .put('/users/ada')
      .set('If-Match', created.headers.etag!)
      .send({ name: 'Ada Lovelace' });
    expect(updated.status).toBe(200);
    await waitFor(() => b.users.stats().busMessages > heard, {
      timeoutMs: 5_000,
      what: 'b to hear the write',
    });
    const after = await request(b.app).get('/users/ada');
    expect(after.body).toEqual({ name: 'Ada Lovelace' });
    expect(after.headers.etag).toBe(updated.headers.etag);
  });

  it('412 is decided by Postgres across instances', async () => {
    const v = (await request(a.app).get('/products/monitor')).headers.etag!;
    await request(b.app).get('/products/monitor');
    const won = await request(a.app)
      .put('/products/monitor')
      .set('If-Match', v)
      .send({ name: 'M', price: 1, stock: 1 });
    expect(won.status).toBe(200);
    const lost = await request(b.app)
      .put('/products/monitor')
      .set('If-Match', v)
      .send({ name: 'M', price: 2, stock: 1 });
    expect(lost.status).toBe(412);
    expect(lost.headers.etag).toBe(won.headers.etag);
  });

  it('the report is shared through Redis and rendered again on both after a write', async () => {
    const first = await request(a.app).get('/reports/summary');
    expect(first.headers['x-cache']).toBe('MISS');
    const shared = await request(b.app).get('/reports/summary');
    expect(shared.headers['x-cache']).toBe('HIT');
    expect(shared.body).toEqual(first.body);
    const heard = b.tags.stats().busMessages;
    await request(a.app).put('/products/lamp').send({ name: 'Lamp', price: 30, stock: 3 }).expect(201);
    expect((await request(a.app).get('/reports/summary')).body.products).toBe(first.body.products + 1);
    await waitFor(() => b.tags.stats().busMessages > heard, { timeoutMs: 5_000, what: 'b to hear the tag' });
    expect((await request(b.app).get('/reports/summary')).body.products).toBe(first.body.products + 1);
  });

  it('retries injected failures in front of Postgres, and the stats page has an L2 ratio', async () => {
    await request(a.app).post('/demo/faults').send({ resource: 'users', failNext: 2 }).expect(200);
    expect((await request(a.app).put('/users/retry').send({ name: 'R' })).status).toBe(201);
    expect(a.users.stats().retries).toBeGreaterThanOrEqual(2);
    await request(b.app).get('/users/retry');
    b.timeline.sample();
    const stats = await request(b.app).get('/api/stats');
    expect(stats.body.points.at(-1).l2Ratio).not.toBeNull();
  });
});
