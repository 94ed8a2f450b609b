/** The app on its embedded defaults (PGlite in memory, memoryStore L1), through supertest. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type DemoApp } from '../src/app.ts';

let demo: DemoApp;

beforeAll(async () => {
  demo = await createApp({ faults: true, sampleMs: 60_000 });
});

afterAll(async () => {
  await demo.close();
});

describe('users and products on writeThroughRouter', () => {
  it('serves a seeded row from the database first, then from L1', async () => {
    const before = demo.users.stats();
    const first = await request(demo.app).get('/users/grace');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ name: 'Grace Hopper', email: 'grace@example.com' });
    expect(first.headers.etag).toMatch(/^"\d+"$/);
    const second = await request(demo.app).get('/users/grace');
    expect(second.headers.etag).toBe(first.headers.etag);
    const after = demo.users.stats();
    expect(after.recordReads - before.recordReads).toBe(1);
    expect(after.l1.hits - before.l1.hits).toBe(1);
  });

  it('PUT creates (201, Location) then replaces (200); GET, 304, 412 and DELETE follow the versions', async () => {
    const created = await request(demo.app).put('/users/alan').send({ name: 'Alan Turing' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/users/alan');
    const v1 = created.headers.etag!;
    expect((await request(demo.app).get('/users/alan').set('If-None-Match', v1)).status).toBe(304);

    const replaced = await request(demo.app)
      .put('/users/alan')
      .set('If-Match', v1)
      .send({ name: 'Alan M. Turing', email: 'alan@example.com' });
    expect(replaced.status).toBe(200);
    const v2 = replaced.headers.etag!;
    expect(v2).not.toBe(v1);

    const stale = await request(demo.app).put('/users/alan').set('If-Match', v1).send({ name: 'Stale' });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(v2);
    expect((await request(demo.app).get('/users/alan')).body.name).toBe('Alan M. Turing');

    const patched = await request(demo.app)
      .patch('/users/alan')
      .set('If-Match', v2)
      .set('Content-Type', 'application/merge-patch+json')
      .send(JSON.stringify({ email: null }));
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ name: 'Alan M. Turing' });

    expect((await request(demo.app).delete('/users/alan')).status).toBe(204);
    expect((await request(demo.app).get('/users/alan')).status).toBe(404);
  });

  it('the zod schema refuses bad bodies with 400 and the reason; bad JSON is 400, other methods 405', async () => {
    const bad = await request(demo.app).put('/products/lamp').send({ name: 'Lamp', price: -1, stock: 1.5 });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['price', 'stock']);
    const notJson = await request(demo.app)
      .put('/products/lamp')
      .set('Content-Type', 'application/json')
      .send('{"name":');
    expect(notJson.status).toBe(400);
    expect((await request(demo.app).post('/users/ada').send({ name: 'x' })).status).toBe(405);
    expect((await request(demo.app).get('/products/lamp')).status).toBe(404);
  });

  it('GET /?ids= reads many in one call, with a strong ETag', async () => {
    const res = await request(demo.app).get('/products?ids=keyboard,mouse,nothing');
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(['keyboard', 'mouse']);
    expect(res.body.missing).toEqual(['nothing']);
    expect(
      (
        await request(demo.app)
          .get('/products?ids=keyboard,mouse,nothing')
          .set('If-None-Match', res.headers.etag!)
      ).status,
    ).toBe(304);
  });

  it('two clients racing with the same If-Match: exactly one 200, the other 412 with the winner’s ETag', async () => {
    const v = (await request(demo.app).get('/products/monitor')).headers.etag!;
    const [a, b] = await Promise.all([
      request(demo.app)
        .put('/products/monitor')
        .set('If-Match', v)
        .send({ name: 'Monitor', price: 199, stock: 35 }),
      request(demo.app)
        .put('/products/monitor')
        .set('If-Match', v)
        .send({ name: 'Monitor', price: 249, stock: 35 }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 412]);
    const winner = a.status === 200 ? a : b;
    const loser = a.status === 200 ? b : a;
    expect(loser.headers.etag).toBe(winner.headers.etag);
    expect((await request(demo.app).get('/products/monitor')).body.price).toBe(winner.body.price);
  });

  it('POST /products writes many at once: concurrent sets sent as one setMany statement', async () => {
    const before = demo.products.stats();
    const body = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`batch-${i}`, { name: `B${i}`, price: 1, stock: 1 }]),
    );
    const res = await request(demo.app).post('/products').send(body);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(30);
    const after = demo.products.stats();
    expect(after.batchedRows - before.batchedRows).toBe(30);
    expect(after.batches - before.batches).toBe(1);
    expect((await request(demo.app).get('/products/batch-7')).body).toEqual({
      name: 'B7',
      price: 1,
      stock: 1,
    });

    const bad = await request(demo.app)
      .post('/products')
      .send({
        ok: { name: 'Ok', price: 1, stock: 1 },
        'bad/id': { name: 'X', price: 1, stock: 1 },
        neg: { name: 'N', price: -1, stock: 0 },
      });
    expect(bad.status).toBe(400);
    expect(bad.body.problems.map((p: { id: string }) => p.id).sort()).toEqual(['bad/id', 'neg']);
    expect((await request(demo.app).get('/products/ok')).status).toBe(404);
    expect((await request(demo.app).post('/products').send({})).status).toBe(400);
  });
});

describe('GET /reports/summary on cacheResponses', () => {
  it('is rendered once, replayed from the cache, and rendered again after a write names its tag', async () => {
    const first = await request(demo.app).get('/reports/summary?top=2&junk=1');
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.body.top).toHaveLength(2);
    const again = await request(demo.app).get('/reports/summary?top=2&other=2');
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.body).toEqual(first.body);

    const users = first.body.users as number;
    expect((await request(demo.app).put('/users/new-one').send({ name: 'New' })).status).toBe(201);
    const after = await request(demo.app).get('/reports/summary?top=2');
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.users).toBe(users + 1);
  });

  it('a request with credentials is never served the shared entry', async () => {
    await request(demo.app).get('/reports/summary');
    const withCookie = await request(demo.app).get('/reports/summary').set('Cookie', 'session=abc');
    expect(withCookie.headers['x-cache']).toBe('BYPASS');
  });
});

describe('injected database failures', () => {
  it('transient failures are retried; past the retries the answer is 503 and the old value stays', async () => {
    const put = await request(demo.app).put('/users/fault').send({ name: 'Before' });
    expect(put.status).toBe(201);
    const retriesBefore = demo.users.stats().retries;
    await request(demo.app).post('/demo/faults').send({ resource: 'users', failNext: 2 }).expect(200);
    const retried = await request(demo.app).put('/users/fault').send({ name: 'After' });
    expect(retried.status).toBe(200);
    expect(demo.users.stats().retries - retriesBefore).toBe(2);

    await request(demo.app).post('/demo/faults').send({ resource: 'users', failNext: 4 }).expect(200);
    const failed = await request(demo.app).put('/users/fault').send({ name: 'Lost' });
    expect(failed.status).toBe(503);
    expect(failed.headers['retry-after']).toBe('1');
    expect(demo.faults!.users.pending.writes).toBe(0);
    expect((await request(demo.app).get('/users/fault')).body).toEqual({ name: 'After' });

    const stats = await request(demo.app).get('/api/stats');
    expect(stats.body.events.some((e: { kind: string }) => e.kind === 'retry')).toBe(true);
    expect((await request(demo.app).post('/demo/faults').send({ failNext: -1 })).status).toBe(400);
  });

  it('the fault switch is not mounted unless asked for', async () => {
    const plain = await createApp({ seed: false, sampleMs: 60_000 });
    try {
      expect((await request(plain.app).post('/demo/faults').send({ failNext: 1 })).status).toBe(404);
      expect(plain.faults).toBeNull();
    } finally {
      await plain.close();
    }
  });
});

describe('stats', () => {
  it('GET /api/stats has the caches, the mode and a timeline point per sample', async () => {
    await request(demo.app).get('/users/grace');
    await request(demo.app).put('/users/stat').send({ name: 'Stat' });
    demo.timeline.sample();
    const res = await request(demo.app).get('/api/stats');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.mode.database).toBe('PGlite (in memory)');
    expect(res.body.caches.map((c: { name: string }) => c.name)).toEqual(['users', 'products', 'http-tags']);
    const point = res.body.points.at(-1);
    expect(point.reads).toBeGreaterThan(0);
    expect(point.writes).toBeGreaterThan(0);
    expect(point.readP50).toBeGreaterThan(0);
    expect(point.writeP99).toBeGreaterThan(0);
    expect(point.l1Ratio).toBeGreaterThan(0);
    expect(point.l2Ratio).toBeNull();
  });

  it('GET /metrics is Prometheus text; GET / is the stats page', async () => {
    const metrics = await request(demo.app).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/writethrough_/);
    const page = await request(demo.app).get('/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('id="chart-hits"');
    expect((await request(demo.app).get('/app.js')).status).toBe(200);
  });
});

describe('PGlite in a data directory', () => {
  it('keeps what was written across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'express-demo-'));
    try {
      const first = await createApp({ dataDir: join(dir, 'data'), sampleMs: 60_000 });
      const put = await request(first.app).put('/users/kept').send({ name: 'Kept' });
      expect(put.status).toBe(201);
      await first.close();
      const second = await createApp({ dataDir: join(dir, 'data'), sampleMs: 60_000 });
      try {
        const read = await request(second.app).get('/users/kept');
        expect(read.body).toEqual({ name: 'Kept' });
        expect(read.headers.etag).toBe(put.headers.etag);
        expect(second.mode.database).toContain('PGlite (data in');
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
