/**
 * The demo on its embedded defaults (PGlite in memory, an in-process L1), booted by
 * `@nestjs/testing` and driven over HTTP by supertest.
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { WriteThroughCache } from '@writethrough/core';
import { getCacheToken } from '@writethrough/nestjs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppModule } from '../src/app.module.ts';
import { settingsFromEnv } from '../src/config.ts';
import { INFRASTRUCTURE, type Infrastructure } from '../src/infrastructure.ts';
import type { Product, User } from '../src/schemas.ts';
import { UsersController } from '../src/users.controller.ts';

let app: INestApplication;
let users: WriteThroughCache<User>;
let products: WriteThroughCache<Product>;
let http: ReturnType<typeof request>;

beforeAll(async () => {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot({})] }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  users = app.get(getCacheToken('users'));
  products = app.get(getCacheToken('products'));
  http = request(app.getHttpServer());
});

afterAll(async () => {
  await app?.close();
});

describe('nestjs-demo on embedded defaults', () => {
  it('runs on PGlite and an in-process L1, with no emitted decorator metadata to lean on', () => {
    const { mode } = app.get<Infrastructure>(INFRASTRUCTURE);
    expect(mode).toEqual({
      database: 'PGlite (in memory)',
      l1: 'memoryStore (in process)',
      l2: 'none',
      bus: 'none (one instance)',
    });
    // esbuild (vitest, tsx) emits no design:paramtypes: every injection names its token.
    expect(Reflect.getMetadata('design:paramtypes', UsersController)).toBeUndefined();
  });

  it('a seeded row misses once, then is a hit with the same ETag', async () => {
    const before = users.stats();
    const first = await http.get('/users/grace');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ name: 'Grace Hopper', email: 'grace@example.com' });
    expect(first.headers.etag).toMatch(/^"\d+"$/);
    expect(first.headers['cache-control']).toBe('no-cache');
    const afterMiss = users.stats();
    expect(afterMiss.recordReads).toBe(before.recordReads + 1);

    const second = await http.get('/users/grace');
    expect(second.status).toBe(200);
    expect(second.headers.etag).toBe(first.headers.etag);
    const afterHit = users.stats();
    expect(afterHit.l1.hits).toBe(afterMiss.l1.hits + 1);
    expect(afterHit.recordReads).toBe(afterMiss.recordReads);
  });

  it('PUT writes through: the ETag is the database version and the next read hits L1', async () => {
    const put = await http.put('/users/ada').send({ name: 'Ada', email: 'ada@example.com' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ name: 'Ada', email: 'ada@example.com' });
    expect(put.headers.etag).toMatch(/^"\d+"$/);
    const reads = users.stats().recordReads;
    const hits = users.stats().l1.hits;
    const got = await http.get('/users/ada');
    expect(got.body).toEqual({ name: 'Ada', email: 'ada@example.com' });
    expect(got.headers.etag).toBe(put.headers.etag);
    expect(users.stats().l1.hits).toBe(hits + 1);
    expect(users.stats().recordReads).toBe(reads);
    const row = await app
      .get<Infrastructure>(INFRASTRUCTURE)
      .client.query(`SELECT version::int AS version FROM "public"."users" WHERE key = 'ada'`);
    expect(`"${(row.rows[0] as { version: number }).version}"`).toBe(put.headers.etag);
  });

  it('If-None-Match with the current ETag is 304; an older one is 200', async () => {
    const put = await http.put('/products/lamp').send({ name: 'Lamp', price: 30, stock: 4 });
    const etag = put.headers.etag!;
    const notModified = await http.get('/products/lamp').set('If-None-Match', etag);
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe(etag);
    const older = await http.get('/products/lamp').set('If-None-Match', '"0"');
    expect(older.status).toBe(200);
    expect(older.body).toEqual({ name: 'Lamp', price: 30, stock: 4 });
  });

  it('two clients racing with the same If-Match: one 200, the other 412 with the winner’s ETag', async () => {
    const etag = (await http.get('/products/monitor')).headers.etag!;
    const writes = products.stats().writes;
    const [one, two] = await Promise.all([
      http.put('/products/monitor').set('If-Match', etag).send({ name: 'Monitor', price: 199, stock: 35 }),
      http.put('/products/monitor').set('If-Match', etag).send({ name: 'Monitor', price: 249, stock: 35 }),
    ]);
    const statuses = [one.status, two.status].sort();
    expect(statuses).toEqual([200, 412]);
    const winner = one.status === 200 ? one : two;
    const loser = one.status === 200 ? two : one;
    expect(loser.headers.etag).toBe(winner.headers.etag);
    const now = await http.get('/products/monitor');
    expect(now.body).toEqual(winner.body);
    expect(now.headers.etag).toBe(winner.headers.etag);
    expect(products.stats().writes).toBe(writes + 1);
  });

  it('a stale If-Match is 412 and changes nothing', async () => {
    const first = await http.put('/users/alan').send({ name: 'Alan' });
    await http.put('/users/alan').send({ name: 'Alan Turing' });
    const stale = await http.put('/users/alan').set('If-Match', first.headers.etag!).send({ name: 'x' });
    expect(stale.status).toBe(412);
    expect((await http.get('/users/alan')).body).toEqual({ name: 'Alan Turing' });
  });

  it('an absent id is 404, and so is a GET after DELETE', async () => {
    const absent = await http.get('/users/nobody');
    expect(absent.status).toBe(404);
    expect(absent.body.message).toBe('no user "nobody"');

    await http.put('/users/temp').send({ name: 'Temp' });
    const deleted = await http.delete('/users/temp');
    expect(deleted.status).toBe(204);
    expect((await http.get('/users/temp')).status).toBe(404);
    expect((await http.delete('/users/temp')).status).toBe(404);
  });

  it('an invalid body is 400 with the problems, and nothing is written', async () => {
    const writes = users.stats().writes;
    const bad = await http.put('/users/eve').send({ name: '', email: 'not an email' });
    expect(bad.status).toBe(400);
    expect(bad.body.problems.map((p: { path: string }) => p.path).sort()).toEqual(['email', 'name']);
    const badProduct = await http.put('/products/x').send({ name: 'X', price: -1, stock: 1.5 });
    expect(badProduct.status).toBe(400);
    expect((await http.put('/users/bad%20id').send({ name: 'Eve' })).status).toBe(400);
    expect(users.stats().writes).toBe(writes);
    expect((await http.get('/users/eve')).status).toBe(404);
  });

  it('PATCH merges into the version named by If-Match: 428 without, 412 when stale, 400 when the result is invalid', async () => {
    const put = await http.put('/users/grace-h').send({ name: 'Grace', email: 'g@example.com' });
    const none = await http.patch('/users/grace-h').send({ name: 'G' });
    expect(none.status).toBe(428);

    const patched = await http
      .patch('/users/grace-h')
      .set('If-Match', put.headers.etag!)
      .send({ name: 'Grace Hopper', email: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ name: 'Grace Hopper' });
    expect(patched.headers.etag).not.toBe(put.headers.etag);
    expect((await http.get('/users/grace-h')).body).toEqual({ name: 'Grace Hopper' });

    const stale = await http.patch('/users/grace-h').set('If-Match', put.headers.etag!).send({ name: 'x' });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(patched.headers.etag);

    const invalid = await http
      .patch('/users/grace-h')
      .set('If-Match', patched.headers.etag!)
      .send({ name: '' });
    expect(invalid.status).toBe(400);
    expect((await http.patch('/users/nobody').set('If-Match', '"1"').send({ name: 'x' })).status).toBe(404);
  });

  it('GET /health reports the caches up', async () => {
    const health = await http.get('/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.details.writethrough.users.status).toBe('up');
    expect(health.body.details.writethrough.products.status).toBe('up');
  });
});

describe('shutdown', () => {
  it('app.close() closes the caches, then the database', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot({})] }).compile();
    const other = moduleRef.createNestApplication({ logger: false });
    await other.init();
    const { client } = other.get<Infrastructure>(INFRASTRUCTURE);
    await request(other.getHttpServer()).put('/users/x').send({ name: 'X' }).expect(200);
    await other.close();
    await expect(client.query('SELECT 1')).rejects.toThrow();
  });
});

describe('configuration from the environment', () => {
  it('DATABASE_URL, REDIS_URL and NESTJS_DEMO_DATA_DIR switch the app; empty or absent means embedded', () => {
    expect(
      settingsFromEnv({
        DATABASE_URL: 'postgres://db/app',
        REDIS_URL: 'redis://cache:6379',
        NESTJS_DEMO_DATA_DIR: '',
      }),
    ).toEqual({ databaseUrl: 'postgres://db/app', redisUrl: 'redis://cache:6379', dataDir: undefined });
    expect(settingsFromEnv({})).toEqual({ databaseUrl: undefined, redisUrl: undefined, dataDir: undefined });
    expect(settingsFromEnv({ DATABASE_URL: '', NESTJS_DEMO_DATA_DIR: './data' })).toEqual({
      databaseUrl: undefined,
      redisUrl: undefined,
      dataDir: './data',
    });
  });

  it('AppModule.forRoot() with no settings boots on the environment (here: none set, so PGlite)', async () => {
    const saved = { db: process.env.DATABASE_URL, redis: process.env.REDIS_URL };
    delete process.env.DATABASE_URL;
    delete process.env.REDIS_URL;
    try {
      const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot()] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      try {
        await request(app.getHttpServer())
          .put('/users/env')
          .send({ name: 'Env', email: 'env@example.com' })
          .expect(200);
        const got = await request(app.getHttpServer()).get('/users/env').expect(200);
        expect(got.body).toMatchObject({ name: 'Env' });
      } finally {
        await app.close();
      }
    } finally {
      if (saved.db !== undefined) process.env.DATABASE_URL = saved.db;
      if (saved.redis !== undefined) process.env.REDIS_URL = saved.redis;
    }
  });
});
