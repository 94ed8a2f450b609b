import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsHandler, statsHandler } from '../src/index.ts';
import { memoryCache } from './helpers.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

function app() {
  const { cache } = memoryCache();
  closers.push(() => cache.close());
  const server = express();
  server.get('/metrics', metricsHandler([cache]));
  server.get('/stats', statsHandler([cache]));
  return { cache, server };
}

describe('metricsHandler and statsHandler', () => {
  it('serves the Prometheus text of the caches, read at each scrape', async () => {
    const { cache, server } = app();
    await cache.set('a', { name: 'A' });
    await cache.get('a');
    const first = await request(server).get('/metrics');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.text).toContain('writethrough_writes_total{cache="users"} 1');
    expect(first.text).toContain('writethrough_tier_hits_total{cache="users",tier="l1"} 1');
    await cache.set('b', { name: 'B' });
    const second = await request(server).get('/metrics');
    expect(second.text).toContain('writethrough_writes_total{cache="users"} 2');
  });

  it('serves stats() as JSON, never cached', async () => {
    const { cache, server } = app();
    await cache.set('a', { name: 'A' });
    const res = await request(server).get('/stats');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.caches).toHaveLength(1);
    expect(res.body.caches[0]).toMatchObject({ name: 'users', writes: 1 });
  });

  it('refuses what is not a list of caches', () => {
    expect(() => metricsHandler([{} as never])).toThrow(TypeError);
    expect(() => statsHandler('users' as never)).toThrow(TypeError);
  });
});
