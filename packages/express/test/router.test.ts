import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryCache, routerApp } from './helpers.ts';

const caches: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});

function setup(options: Parameters<typeof routerApp>[1] = {}) {
  const { records, cache } = memoryCache();
  caches.push(cache);
  return { records, cache, ...routerApp(cache, options) };
}

describe('GET /:id', () => {
  it('answers 404 for an absent id, then 200 with a strong ETag from the version', async () => {
    const { app, cache } = setup();
    const missing = await request(app).get('/users/ada');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 404, title: 'Not Found' });

    const { version } = await cache.set('ada', { name: 'Ada' });
    const res = await request(app).get('/users/ada');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name: 'Ada' });
    expect(res.headers.etag).toBe(`"${version}"`);
    expect(res.headers['cache-control']).toBe('no-cache');
  });
});
