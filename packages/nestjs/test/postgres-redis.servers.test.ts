/**
 * The module on a real Postgres (postgresRecords, a schema of this file's own) and a real Redis
 * (redisStore as L2, redisBus, a namespace of this file's own): two app instances, a write on one
 * seen by the other through the bus, 412 decided by Postgres, and on shutdown the Redis connections
 * the module opened are gone from CLIENT LIST while the client the app passed in stays connected.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import {
  Body,
  Controller,
  Get,
  type INestApplication,
  NotFoundException,
  Put,
  UseInterceptors,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { WriteThroughCache } from '@writethrough/core';
import { migrate, postgresRecords } from '@writethrough/postgres';
import { redisBus, redisStore } from '@writethrough/redis';
import { findRedis, type RedisTarget, testPostgresConfig, waitFor } from '@writethrough/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CacheRead,
  CacheWrite,
  getCacheToken,
  WriteThroughInterceptor,
  WriteThroughModule,
} from '../src/index.ts';

interface User {
  name: string;
}

const schema = `wt_nestjs_${randomBytes(6).toString('hex')}`;
const run = `${process.pid}-${randomBytes(4).toString('hex')}`;
const namespace = `wt-nestjs-${run}:`;
let pool: pg.Pool;
let target: RedisTarget;
let admin: Redis;

@Controller('users')
@UseInterceptors(WriteThroughInterceptor)
class UsersController {
  @Get(':id')
  @CacheRead('users')
  get() {
    throw new NotFoundException();
  }

  @Put(':id')
  @CacheWrite('users')
  put(@Body() body: User) {
    return body;
  }
}

interface Instance {
  app: INestApplication;
  /** The client the app passed in (its own, never closed by the module). */
  client: Redis;
  /** The connection name of the redis store the module opened from a URL. */
  storeName: string;
}

async function instance(name: string): Promise<Instance> {
  const client = new Redis(target.url, { connectionName: `wt-nestjs-${run}-${name}-app`, lazyConnect: true });
  await client.connect();
  const storeName = `wt-nestjs-${run}-${name}-store`;
  const moduleRef = await Test.createTestingModule({
    imports: [
      WriteThroughModule.forRootAsync({
        inject: ['REDIS'],
        cacheNames: ['users'],
        extraProviders: [{ provide: 'REDIS', useValue: client }],
        useFactory: (redis: Redis) => ({
          caches: [
            {
              name: 'users',
              options: {
                instanceId: name,
                records: postgresRecords<User>({ client: pool, schema, table: 'users' }),
                // Opened by the store from a URL: closed with the module.
                l2: redisStore({ url: target.url, namespace, redis: { connectionName: storeName } }),
                // Publishes on the app's client (left open); its subscriber connection is the bus's own.
                bus: redisBus({ client: redis, namespace }),
              },
            },
          ],
        }),
      }),
    ],
    controllers: [UsersController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, client, storeName };
}

/** Connection names in CLIENT LIST of this run. */
async function clientNames(): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((n) => n.startsWith(`wt-nestjs-${run}`));
}

let a: Instance;
let b: Instance;

beforeAll(async () => {
  pool = new pg.Pool({ ...testPostgresConfig(), max: 6 });
  pool.on('error', () => {});
  await migrate(pool, { schema, table: 'users' });
  target = await findRedis();
  admin = new Redis(target.url);
  a = await instance('a');
  b = await instance('b');
});

afterAll(async () => {
  for (const i of [a, b]) {
    await i?.app.close().catch(() => {});
    i?.client.disconnect();
  }
  if (admin !== undefined) {
    const stream = admin.scanStream({ match: `${namespace}*`, count: 1_000 });
    for await (const keys of stream as AsyncIterable<string[]>)
      if (keys.length > 0) await admin.unlink(...keys);
    admin.disconnect();
  }
  await target?.stop();
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool?.end();
});

describe('WriteThroughModule on Postgres and Redis', () => {
  it('writes through Postgres; the other instance follows through the bus', async () => {
    const put = await request(a.app.getHttpServer()).put('/users/ada').send({ name: 'Ada' }).expect(200);
    const etag = put.headers.etag!;
    const read = await request(b.app.getHttpServer()).get('/users/ada').expect(200);
    expect(read.body).toEqual({ name: 'Ada' });
    expect(read.headers.etag).toBe(etag);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".users`);
    expect(rows[0].n).toBe(1);

    const again = await request(b.app.getHttpServer())
      .put('/users/ada')
      .set('If-Match', etag)
      .send({ name: 'Ada B' });
    expect(again.status).toBe(200);
    await waitFor(
      async () => (await request(a.app.getHttpServer()).get('/users/ada')).body.name === 'Ada B',
      { intervalMs: 20, what: 'instance a to read the write of instance b' },
    );
    // The first instance's tag is now stale: Postgres refuses it.
    const stale = await request(a.app.getHttpServer())
      .put('/users/ada')
      .set('If-Match', etag)
      .send({ name: 'old' });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(again.headers.etag);
    const users = b.app.get<WriteThroughCache<User>>(getCacheToken('users'));
    expect(users.stats().l2.hits + users.stats().l1.hits).toBeGreaterThan(0);
  });

  it('on shutdown closes the connections it opened and leaves the app client connected', async () => {
    const before = await clientNames();
    expect(before).toContain(b.storeName);
    expect(before.filter((n) => n === `wt-nestjs-${run}-b-app`).length).toBe(2); // the client and the bus's duplicate
    await b.app.close();
    await waitFor(
      async () => {
        const after = await clientNames();
        return (
          !after.includes(b.storeName) && after.filter((n) => n === `wt-nestjs-${run}-b-app`).length === 1
        );
      },
      { intervalMs: 20, what: 'the connections the module opened to leave CLIENT LIST' },
    );
    expect(b.client.status).toBe('ready');
    expect(await b.client.ping()).toBe('PONG');
    // The other instance is untouched.
    expect(await clientNames()).toContain(a.storeName);
  });
});
