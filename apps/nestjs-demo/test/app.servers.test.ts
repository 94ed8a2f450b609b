/**
 * The demo on a real Postgres (`DATABASE_URL`, else 127.0.0.1:5432 database `test`, in a schema of
 * this file's own) and a real Redis (`REDIS_URL`, else 127.0.0.1:6379, else a throwaway
 * `redis-server`; a namespace of its own), configured as `forRootAsync` gets it from the config
 * module. Two app instances share them and see each other's writes.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { WriteThroughCache } from '@writethrough/core';
import { getCacheToken } from '@writethrough/nestjs';
import { findRedis, type RedisTarget, testPostgresUrl, waitFor } from '@writethrough/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppModule } from '../src/app.module.ts';
import type { DemoSettings } from '../src/config.ts';
import { INFRASTRUCTURE, type Infrastructure } from '../src/infrastructure.ts';
import type { User } from '../src/schemas.ts';

const schema = `wt_nestjs_demo_${randomBytes(6).toString('hex')}`;
const namespace = `wt-nestjs-demo-${process.pid}-${randomBytes(4).toString('hex')}:`;
let target: RedisTarget;

interface Instance {
  app: INestApplication;
  http: ReturnType<typeof request>;
  users: WriteThroughCache<User>;
}

async function instance(instanceId: string): Promise<Instance> {
  const settings: DemoSettings = {
    databaseUrl: testPostgresUrl(),
    redisUrl: target.url,
    schema,
    namespace,
    instanceId,
  };
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(settings)] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, http: request(app.getHttpServer()), users: app.get(getCacheToken('users')) };
}

let a: Instance;
let b: Instance;

beforeAll(async () => {
  target = await findRedis();
  a = await instance('a');
  b = await instance('b');
});

afterAll(async () => {
  await a?.app.close();
  await b?.app.close();
  if (target !== undefined) {
    const cleaner = new Redis(target.url);
    const stream = cleaner.scanStream({ match: `${namespace}*`, count: 1_000 });
    for await (const keys of stream as AsyncIterable<string[]>)
      if (keys.length > 0) await cleaner.unlink(...keys);
    cleaner.disconnect();
    await target.stop();
  }
  const pool = new pg.Pool({ connectionString: testPostgresUrl() });
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

describe('nestjs-demo on Postgres and Redis', () => {
  it('runs on the servers it was given', () => {
    const { mode } = a.app.get<Infrastructure>(INFRASTRUCTURE);
    expect(mode.database).toContain(`schema ${schema}`);
    expect(mode.l2).toMatch(/^redisStore/);
    expect(mode.bus).toBe('redisBus');
  });

  it('a seeded row misses once (Postgres), then hits L1; the other instance finds it in Redis', async () => {
    const reads = a.users.stats().recordReads;
    const first = await a.http.get('/users/edsger');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ name: 'Edsger Dijkstra', email: 'edsger@example.com' });
    expect(a.users.stats().recordReads).toBe(reads + 1);
    const l1 = a.users.stats().l1.hits;
    expect((await a.http.get('/users/edsger')).headers.etag).toBe(first.headers.etag);
    expect(a.users.stats().l1.hits).toBe(l1 + 1);

    const l2 = b.users.stats().l2.hits;
    const onB = await b.http.get('/users/edsger');
    expect(onB.headers.etag).toBe(first.headers.etag);
    expect(b.users.stats().l2.hits).toBe(l2 + 1);
  });

  it('two instances see each other’s writes at once, and L1 follows through the bus', async () => {
    const created = await a.http.put('/users/ada').send({ name: 'Ada' });
    expect(created.status).toBe(200);
    const seen = await b.http.get('/users/ada');
    expect(seen.body).toEqual({ name: 'Ada' });
    expect(seen.headers.etag).toBe(created.headers.etag);
    const hits = b.users.stats().l1.hits;
    await b.http.get('/users/ada');
    expect(b.users.stats().l1.hits).toBe(hits + 1);

    const heard = b.users.stats().busMessages;
    const updated = await a.http
      .put('/users/ada')
      .set('If-Match', created.headers.etag!)
      .send({ name: 'Ada Lovelace' });
    expect(updated.status).toBe(200);
    // No read older than an acknowledged write: b answers the new value even before the bus message.
    const after = await b.http.get('/users/ada');
    expect(after.body).toEqual({ name: 'Ada Lovelace' });
    expect(after.headers.etag).toBe(updated.headers.etag);
    await waitFor(() => b.users.stats().busMessages > heard, {
      timeoutMs: 5_000,
      what: 'b to hear the write',
    });

    const gone = await b.http.delete('/users/ada');
    expect(gone.status).toBe(204);
    expect((await a.http.get('/users/ada')).status).toBe(404);
  });

  it('304 on either instance for the current ETag', async () => {
    const put = await b.http.put('/products/lamp').send({ name: 'Lamp', price: 30, stock: 4 });
    expect((await a.http.get('/products/lamp').set('If-None-Match', put.headers.etag!)).status).toBe(304);
    expect((await b.http.get('/products/lamp').set('If-None-Match', put.headers.etag!)).status).toBe(304);
  });

  it('two clients on two instances racing with the same If-Match: Postgres lets exactly one win', async () => {
    const etag = (await a.http.get('/products/monitor')).headers.etag!;
    expect((await b.http.get('/products/monitor')).headers.etag).toBe(etag);
    const [one, two] = await Promise.all([
      a.http.put('/products/monitor').set('If-Match', etag).send({ name: 'Monitor', price: 199, stock: 35 }),
      b.http.put('/products/monitor').set('If-Match', etag).send({ name: 'Monitor', price: 249, stock: 35 }),
    ]);
    expect([one.status, two.status].sort()).toEqual([200, 412]);
    const winner = one.status === 200 ? one : two;
    const loser = one.status === 200 ? two : one;
    expect(loser.headers.etag).toBe(winner.headers.etag);
    for (const i of [a, b]) {
      const now = await i.http.get('/products/monitor');
      expect(now.body).toEqual(winner.body);
      expect(now.headers.etag).toBe(winner.headers.etag);
    }
  });

  it('404 for an absent id and 400 for an invalid body, on the servers too', async () => {
    expect((await a.http.get('/users/nobody')).status).toBe(404);
    const bad = await b.http.put('/users/eve').send({ name: 'Eve', email: 'nope' });
    expect(bad.status).toBe(400);
    expect((await a.http.get('/users/eve')).status).toBe(404);
  });

  it('GET /health is up on both', async () => {
    for (const i of [a, b]) expect((await i.http.get('/health')).body.status).toBe('ok');
  });
});
