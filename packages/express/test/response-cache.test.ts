import { createCache, type MemoryRecords, memoryRecords, memoryStore } from '@writethrough/core';
import { deferred, waitFor } from '@writethrough/testing';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CacheResponsesOptions,
  cacheResponses,
  invalidateTags,
  type TagMark,
  writeThroughRouter,
} from '../src/index.ts';
import { memoryCache } from './helpers.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

function tagCache(): { cache: ReturnType<typeof createCache<TagMark>>; records: MemoryRecords<TagMark> } {
  const records = memoryRecords<TagMark>();
  const cache = createCache<TagMark>({ name: 'tags', records, retry: false });
  closers.push(() => cache.close());
  return { cache, records };
}

/** An app with one cached route; `render` answers it and counts its calls. */
function cachedApp(
  options: CacheResponsesOptions = {},
  render: (req: Request, res: Response, n: number, next: NextFunction) => void | Promise<void> = (
    req,
    res,
    n,
  ) => {
    res.json({ n, query: req.query });
  },
) {
  const tags = options.tagCache === undefined ? tagCache() : undefined;
  const store = memoryStore<unknown>({ maxEntries: 100 });
  const responses = cacheResponses({ store, ...(tags ? { tagCache: tags.cache } : {}), ...options });
  const state = { renders: 0 };
  const app = express();
  app.get('/report', responses, async (req, res, next) => {
    state.renders++;
    await render(req, res, state.renders, next);
  });
  return { app, responses, store, state, tags };
}

describe('cacheResponses: hits and misses', () => {
  it('stores a GET response and replays status, headers and body; HEAD is answered from it', async () => {
    const { app, state, responses } = cachedApp();
    const first = await request(app).get('/report');
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await request(app).get('/report');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(second.headers['content-type']).toBe(first.headers['content-type']);
    expect(second.headers.etag).toBe(first.headers.etag);
    const head = await request(app).head('/report');
    expect(head.headers['x-cache']).toBe('HIT');
    expect(Number(head.headers['content-length'])).toBe(first.text.length);
    expect(state.renders).toBe(1);
    expect(responses.stats).toMatchObject({ hits: 2, misses: 1, stored: 1 });
  });

  it('answers 304 from a stored response when If-None-Match matches its ETag', async () => {
    const { app, state } = cachedApp();
    const first = await request(app).get('/report');
    const revalidated = await request(app).get('/report').set('If-None-Match', first.headers.etag!);
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers['x-cache']).toBe('HIT');
    expect(revalidated.headers.etag).toBe(first.headers.etag);
    expect(revalidated.headers['content-type']).toBeUndefined();
    expect(state.renders).toBe(1);
  });

  it('the first request of a key gets the full response even when it sent If-None-Match', async () => {
    const { app } = cachedApp();
    const first = await request(app).get('/report').set('If-None-Match', '*');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ n: 1, query: {} });
  });

  it('a HEAD miss runs the handler and stores nothing', async () => {
    const { app, state, store } = cachedApp();
    const head = await request(app).head('/report');
    expect(head.status).toBe(200);
    expect(head.headers['x-cache']).toBe('MISS');
    expect(store.size).toBe(0);
    const get = await request(app).get('/report');
    expect(get.headers['x-cache']).toBe('MISS');
    expect(get.body).toEqual({ n: 2, query: {} });
    expect(state.renders).toBe(2);
    expect(store.size).toBe(1);
  });

  it('keeps the status of cacheable answers (404) and stores no 5xx', async () => {
    const notFound = cachedApp({}, (_req, res, n) => {
      res.status(404).json({ missing: true, n });
    });
    await request(notFound.app).get('/report');
    const replayed = await request(notFound.app).get('/report');
    expect(replayed.status).toBe(404);
    expect(replayed.headers['x-cache']).toBe('HIT');
    expect(replayed.body).toEqual({ missing: true, n: 1 });

    const failing = cachedApp({}, (_req, res, n) => {
      res.status(500).json({ n });
    });
    await request(failing.app).get('/report');
    const again = await request(failing.app).get('/report');
    expect(again.headers['x-cache']).toBe('MISS');
    expect(again.body).toEqual({ n: 2 });
    expect(failing.responses.stats.notStored).toBe(2);
  });

  it('leaves other methods alone', async () => {
    const responses = cacheResponses({ tagCache: tagCache().cache });
    const app = express();
    let posts = 0;
    app.post('/report', responses, (_req, res) => {
      res.json({ posts: ++posts });
    });
    expect((await request(app).post('/report')).body).toEqual({ posts: 1 });
    expect((await request(app).post('/report')).body).toEqual({ posts: 2 });
    expect(responses.stats).toMatchObject({ hits: 0, misses: 0, bypassed: 0 });
  });
});

describe('cacheResponses: cookies and credentials', () => {
  it('never stores or replays a response that sets a cookie', async () => {
    const { app, state, responses } = cachedApp({}, (_req, res, n) => {
      res.cookie('sid', `session-${n}`).json({ n });
    });
    const first = await request(app).get('/report');
    expect(first.headers['set-cookie']?.[0]).toMatch(/^sid=session-1/);
    const second = await request(app).get('/report');
    expect(second.headers['x-cache']).toBe('MISS');
    expect(second.headers['set-cookie']?.[0]).toMatch(/^sid=session-2/);
    expect(second.body).toEqual({ n: 2 });
    expect(state.renders).toBe(2);
    expect(responses.stats.stored).toBe(0);
  });

  it('never stores a response whose cookie an outer middleware adds as headers are written', async () => {
    const tags = tagCache();
    const responses = cacheResponses({ tagCache: tags.cache });
    const app = express();
    let n = 0;
    // Like express-session: the cookie is set in a writeHead hook, after the handler's last call.
    app.use((_req, res, next) => {
      const writeHead = res.writeHead;
      res.writeHead = function (this: Response, ...args: unknown[]) {
        this.setHeader('Set-Cookie', `sid=${n}`);
        return (writeHead as (...a: unknown[]) => Response).apply(this, args);
      } as Response['writeHead'];
      next();
    });
    app.get('/report', responses, (_req, res) => {
      res.json({ n: ++n });
    });
    await request(app).get('/report');
    const second = await request(app).get('/report');
    expect(second.headers['x-cache']).toBe('MISS');
    expect(second.body).toEqual({ n: 2 });
    expect(second.headers['set-cookie']).toEqual(['sid=2']);
  });

  it('requests with Authorization or Cookie go past the cache unless a principal is derived', async () => {
    const { app, state } = cachedApp({}, (req, res) => {
      res.json({ for: req.headers.authorization ?? req.headers.cookie ?? 'anonymous' });
    });
    const alice = await request(app).get('/report').set('Authorization', 'Bearer alice');
    expect(alice.headers['x-cache']).toBe('BYPASS');
    expect(alice.body).toEqual({ for: 'Bearer alice' });
    const anon = await request(app).get('/report');
    expect(anon.body).toEqual({ for: 'anonymous' });
    const anonAgain = await request(app).get('/report');
    expect(anonAgain.headers['x-cache']).toBe('HIT');
    const bob = await request(app).get('/report').set('Cookie', 'sid=bob');
    expect(bob.headers['x-cache']).toBe('BYPASS');
    expect(bob.body).toEqual({ for: 'sid=bob' });
    const aliceAgain = await request(app).get('/report').set('Authorization', 'Bearer alice');
    expect(aliceAgain.body).toEqual({ for: 'Bearer alice' });
    expect(state.renders).toBe(4);
  });

  it('with a principal, each principal gets only its own cached body', async () => {
    const { app, state } = cachedApp(
      { principal: (req) => req.headers.authorization?.replace(/^Bearer /, '') },
      (req, res, n) => {
        res.json({ for: req.headers.authorization ?? 'anonymous', n });
      },
    );
    const alice = await request(app).get('/report').set('Authorization', 'Bearer alice');
    const bob = await request(app).get('/report').set('Authorization', 'Bearer bob');
    const anon = await request(app).get('/report');
    expect(alice.body).toEqual({ for: 'Bearer alice', n: 1 });
    expect(bob.body).toEqual({ for: 'Bearer bob', n: 2 });
    expect(anon.body).toEqual({ for: 'anonymous', n: 3 });
    const alice2 = await request(app).get('/report').set('Authorization', 'Bearer alice');
    const bob2 = await request(app).get('/report').set('Authorization', 'Bearer bob');
    const anon2 = await request(app).get('/report');
    expect([alice2.headers['x-cache'], bob2.headers['x-cache'], anon2.headers['x-cache']]).toEqual([
      'HIT',
      'HIT',
      'HIT',
    ]);
    expect(alice2.body).toEqual(alice.body);
    expect(bob2.body).toEqual(bob.body);
    expect(anon2.body).toEqual(anon.body);
    // A credential the principal function does not recognise goes past the cache.
    const cookie = await request(app).get('/report').set('Cookie', 'sid=x');
    expect(cookie.headers['x-cache']).toBe('BYPASS');
    expect(state.renders).toBe(4);
  });
});

describe('cacheResponses: Cache-Control and Vary', () => {
  it('does not store responses with Cache-Control no-store or private', async () => {
    for (const directive of ['no-store', 'private', 'max-age=0, PRIVATE', 'private="x"']) {
      const { app, state } = cachedApp({}, (_req, res, n) => {
        res.set('Cache-Control', directive).json({ n });
      });
      await request(app).get('/report');
      const second = await request(app).get('/report');
      expect(second.headers['x-cache'], directive).toBe('MISS');
      expect(state.renders).toBe(2);
    }
  });

  it('a request with Cache-Control: no-store may be answered from the cache but its response is not stored', async () => {
    const { app, state } = cachedApp();
    const first = await request(app).get('/report').set('Cache-Control', 'no-store');
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await request(app).get('/report');
    expect(second.headers['x-cache']).toBe('MISS');
    const third = await request(app).get('/report').set('Cache-Control', 'no-store');
    expect(third.headers['x-cache']).toBe('HIT');
    expect(third.body).toEqual(second.body);
    expect(state.renders).toBe(2);
  });

  it('honours Vary: another value of a named header never gets the stored variant; Vary: * is not stored', async () => {
    const { app, state } = cachedApp({}, (req, res, n) => {
      res.vary('Accept-Language').json({ lang: req.headers['accept-language'] ?? null, n });
    });
    const en = await request(app).get('/report').set('Accept-Language', 'en');
    const fr = await request(app).get('/report').set('Accept-Language', 'fr');
    expect(fr.headers['x-cache']).toBe('MISS');
    expect(fr.body).toEqual({ lang: 'fr', n: 2 });
    const fr2 = await request(app).get('/report').set('Accept-Language', 'fr');
    expect(fr2.headers['x-cache']).toBe('HIT');
    expect(fr2.body).toEqual(fr.body);
    const none = await request(app).get('/report');
    expect(none.body.lang).toBeNull();
    expect(en.body.lang).toBe('en');
    expect(state.renders).toBe(3);

    const star = cachedApp({}, (_req, res, n) => {
      res.set('Vary', '*').json({ n });
    });
    await request(star.app).get('/report');
    expect((await request(star.app).get('/report')).body).toEqual({ n: 2 });
  });
});

describe('cacheResponses: bounded keys', () => {
  it('unlisted query parameters are stripped before the handler and do not grow the key space', async () => {
    const { app, state, store, responses } = cachedApp({ query: ['page'] });
    for (let i = 0; i < 200; i++) {
      const res = await request(app).get(`/report?page=1&flood${i}=${'x'.repeat(50)}&utm=${i}`);
      expect(res.body).toEqual({ n: 1, query: { page: '1' } });
    }
    expect(state.renders).toBe(1);
    expect(store.size).toBe(1);
    expect(responses.stats.stored).toBe(1);
    // Parameter order and encoding do not matter, the listed values do.
    expect((await request(app).get('/report?utm=1&page=%31')).headers['x-cache']).toBe('HIT');
    expect((await request(app).get('/report?page=2')).body).toEqual({ n: 2, query: { page: '2' } });
    expect(store.size).toBe(2);
  });

  it('bypass mode sends requests with unlisted parameters past the cache, storing nothing', async () => {
    const { app, store, state } = cachedApp({ query: ['page'], unlistedQuery: 'bypass' });
    for (let i = 0; i < 50; i++) {
      const res = await request(app).get(`/report?page=1&x${i}=1`);
      expect(res.headers['x-cache']).toBe('BYPASS');
    }
    expect(store.size).toBe(0);
    expect(state.renders).toBe(50);
  });

  it('long values, many values and long paths of listed parameters go past the cache', async () => {
    const { app, store } = cachedApp({ query: ['q'], maxQueryValueBytes: 64, maxQueryValues: 3 });
    expect((await request(app).get(`/report?q=${'a'.repeat(65)}`)).headers['x-cache']).toBe('BYPASS');
    expect((await request(app).get('/report?q=1&q=2&q=3&q=4')).headers['x-cache']).toBe('BYPASS');
    expect((await request(app).get('/report?q=1&q=2&q=3')).headers['x-cache']).toBe('MISS');
    expect(store.size).toBe(1);
  });

  it('the store bounds how many responses are kept, whatever the paths', async () => {
    const tags = tagCache();
    const store = memoryStore<unknown>({ maxEntries: 10 });
    const responses = cacheResponses({ store, tagCache: tags.cache });
    const app = express();
    app.get('/items/:id', responses, (req, res) => {
      res.json({ id: req.params.id });
    });
    for (let i = 0; i < 100; i++) await request(app).get(`/items/${i}`);
    expect(store.size).toBeLessThanOrEqual(10);
    expect(responses.stats.stored).toBe(100);
  });
});

describe('cacheResponses: coalescing', () => {
  it('concurrent misses run the handler once; waiters get the same response', async () => {
    const release = deferred<void>();
    const { app, state, responses } = cachedApp({}, async (_req, res, n) => {
      await release.promise;
      res.set('X-Render', String(n)).json({ n });
    });
    const pending = [1, 2, 3].map(() =>
      request(app)
        .get('/report')
        .then((r) => r),
    );
    await waitFor(() => state.renders === 1 && responses.stats.coalesced === 2, { what: 'two waiters' });
    release.resolve();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.map((r) => r.body)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    expect(state.renders).toBe(1);
    // A header that is not in the stored list is the leader's own.
    expect(results.filter((r) => r.headers['x-render'] !== undefined)).toHaveLength(1);
  });

  it('when the first request fails, the waiters run the handler themselves and get real answers', async () => {
    const release = deferred<void>();
    const { app, state, responses } = cachedApp({}, async (_req, res, n, next) => {
      if (n === 1) {
        await release.promise;
        next(new Error('the first render failed'));
        return;
      }
      res.json({ n });
    });
    const pending = [1, 2, 3].map(() =>
      request(app)
        .get('/report')
        .then((r) => r),
    );
    await waitFor(() => responses.stats.coalesced === 2, { what: 'two waiters' });
    release.resolve();
    const results = await Promise.all(pending);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 500]);
    const bodies = results.filter((r) => r.status === 200).map((r) => r.body.n);
    expect(bodies.sort()).toEqual([2, 3]);
    expect(state.renders).toBe(3);
  });

  it('a waiter whose wait runs out renders itself while the first request is still running', async () => {
    const release = deferred<void>();
    const { app, state } = cachedApp({ waitMs: 1 }, async (_req, res, n) => {
      if (n === 1) await release.promise;
      res.json({ n });
    });
    const first = request(app)
      .get('/report')
      .then((r) => r);
    await waitFor(() => state.renders === 1, { what: 'the first render' });
    const second = await request(app).get('/report');
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ n: 2 });
    expect(release.settled).toBe(false);
    release.resolve();
    expect((await first).body).toEqual({ n: 1 });
  });

  it('waiters never receive the first request’s cookie', async () => {
    const release = deferred<void>();
    const { app, responses } = cachedApp({}, async (_req, res, n) => {
      if (n === 1) await release.promise;
      res.cookie('sid', `s${n}`).json({ n });
    });
    const pending = [1, 2].map(() =>
      request(app)
        .get('/report')
        .then((r) => r),
    );
    await waitFor(() => responses.stats.coalesced === 1, { what: 'a waiter' });
    release.resolve();
    const results = await Promise.all(pending);
    const cookies = results.map((r) => r.headers['set-cookie']?.[0]?.split(';')[0]).sort();
    expect(cookies).toEqual(['sid=s1', 'sid=s2']);
    for (const r of results) expect(r.headers['set-cookie']?.[0]).toContain(`s${r.body.n}`);
  });
});

describe('cacheResponses: tags', () => {
  function usersApp() {
    const { cache: users } = memoryCache();
    closers.push(() => users.close());
    const tags = tagCache();
    // Waiters wait up to a minute (past the test timeout): a request that waited for an older
    // render instead of rendering itself fails the test.
    const responses = cacheResponses({ tagCache: tags.cache, tags: ['users'], waitMs: 60_000 });
    const app = express();
    let renders = 0;
    app.use(
      '/users',
      writeThroughRouter(users, { responseCache: responses, tags: (id) => ['users', `user:${id}`] }),
    );
    const gate = { next: undefined as Promise<void> | undefined };
    app.get('/count', responses, async (_req, res) => {
      renders++;
      const names = [...(await users.getMany(['ada', 'bob', 'cy'])).values()].map((u) => u.name);
      if (gate.next !== undefined) {
        const wait = gate.next;
        gate.next = undefined;
        await wait;
      }
      res.json({ names });
    });
    return { app, users, tags, responses, gate, renders: () => renders };
  }

  it('a write through the router invalidates the responses its tags name', async () => {
    const { app, responses, renders } = usersApp();
    await request(app).put('/users/ada').send({ name: 'Ada' });
    expect((await request(app).get('/count')).body).toEqual({ names: ['Ada'] });
    expect((await request(app).get('/count')).headers['x-cache']).toBe('HIT');
    for (const [method, body] of [
      ['put', { name: 'Bob' }],
      ['patch', { name: 'Bobby' }],
    ] as const) {
      const write = await request(app)[method]('/users/bob').send(body);
      expect(write.status).toBeLessThan(300);
      const after = await request(app).get('/count');
      expect(after.headers['x-cache']).toBe('MISS');
      expect(after.body.names).toContain(body.name);
    }
    await request(app).delete('/users/bob');
    expect((await request(app).get('/count')).body).toEqual({ names: ['Ada'] });
    expect(responses.stats.stale).toBe(3);
    await responses.invalidateTags(['users']);
    expect((await request(app).get('/count')).headers['x-cache']).toBe('MISS');
    expect(renders()).toBe(5);
  });

  it('a response rendered across a write is not served after it (tag versions are read before the handler)', async () => {
    const { app, gate } = usersApp();
    await request(app).put('/users/ada').send({ name: 'Ada' });
    const release = deferred<void>();
    gate.next = release.promise;
    const slow = request(app)
      .get('/count')
      .then((r) => r);
    await waitFor(() => gate.next === undefined, { what: 'the render to read the data' });
    // The write is acknowledged while the render holds data from before it.
    expect((await request(app).put('/users/cy').send({ name: 'Cy' })).status).toBe(201);
    // A request arriving now waits for nobody's older render.
    const fresh = await request(app).get('/count');
    expect(fresh.body).toEqual({ names: ['Ada', 'Cy'] });
    release.resolve();
    expect((await slow).body).toEqual({ names: ['Ada'] });
    const after = await request(app).get('/count');
    expect(after.body).toEqual({ names: ['Ada', 'Cy'] });
  });

  it('invalidateTags without a middleware, on a shared tag cache', async () => {
    const tags = tagCache();
    const { app } = cachedApp({ tagCache: tags.cache, tags: ['reports'] });
    await request(app).get('/report');
    expect((await request(app).get('/report')).headers['x-cache']).toBe('HIT');
    await invalidateTags(['other'], tags.cache);
    expect((await request(app).get('/report')).headers['x-cache']).toBe('HIT');
    await invalidateTags(['reports'], tags.cache);
    expect((await request(app).get('/report')).headers['x-cache']).toBe('MISS');
  });

  it('tags from the request: only the named response is invalidated', async () => {
    const tags = tagCache();
    const responses = cacheResponses({ tagCache: tags.cache, tags: (req) => [`item:${req.params.id}`] });
    const app = express();
    app.get('/items/:id', responses, (req, res) => {
      res.json({ id: req.params.id, at: Math.random() });
    });
    const a = await request(app).get('/items/a');
    const b = await request(app).get('/items/b');
    await responses.invalidateTags(['item:a']);
    expect((await request(app).get('/items/a')).body.at).not.toBe(a.body.at);
    expect((await request(app).get('/items/b')).body.at).toBe(b.body.at);
  });

  it('a failing tag cache serves requests without the cache; a failed invalidation after a write answers 503', async () => {
    const tags = tagCache();
    const { cache: users } = memoryCache();
    closers.push(() => users.close());
    const errors: unknown[] = [];
    const responses = cacheResponses({
      tagCache: tags.cache,
      tags: ['users'],
      onError: (e) => errors.push(e),
    });
    const app = express();
    const reported: number[] = [];
    app.use(
      '/users',
      writeThroughRouter(users, {
        responseCache: responses,
        tags: ['users'],
        onError: (_e, _r, status) => reported.push(status),
      }),
    );
    app.get('/count', responses, (_req, res) => {
      res.json({ ok: true });
    });
    tags.records.failNext(1, 'transient', 'reads');
    const read = await request(app).get('/count');
    expect(read.status).toBe(200);
    expect(read.headers['x-cache']).toBe('MISS');
    expect(errors).toHaveLength(1);
    expect(responses.stats.errors).toBe(1);

    tags.records.failNext(1, 'transient', 'writes');
    const write = await request(app).put('/users/ada').send({ name: 'Ada' });
    expect(write.status).toBe(503);
    expect(write.body).toMatchObject({ committed: true });
    expect(write.headers.etag).toMatch(/^"\d+"$/);
    expect(await users.get('ada')).toEqual({ name: 'Ada' });
    expect(reported).toEqual([503]);
    // Repeating the request invalidates them.
    expect((await request(app).put('/users/ada').send({ name: 'Ada' })).status).toBe(200);
  });

  it('a failing store serves requests without the cache', async () => {
    const store = memoryStore<unknown>();
    const broken = Object.assign(Object.create(store), {
      get: async () => {
        throw new Error('store down');
      },
    });
    const errors: unknown[] = [];
    const { app, state } = cachedApp({ store: broken, onError: (e) => errors.push(e) });
    expect((await request(app).get('/report')).status).toBe(200);
    expect((await request(app).get('/report')).status).toBe(200);
    expect(state.renders).toBe(2);
    expect(errors).toHaveLength(2);
  });
});

describe('cacheResponses: options', () => {
  it('refuses to store set-cookie and unknown unlistedQuery values', () => {
    expect(() => cacheResponses({ headers: ['Set-Cookie'] })).toThrow(TypeError);
    expect(() => cacheResponses({ unlistedQuery: 'ignore' as never })).toThrow(TypeError);
    expect(() => cacheResponses({ ttlMs: 0 })).toThrow(TypeError);
  });

  it('range and If-Match requests go past the cache', async () => {
    const { app } = cachedApp();
    await request(app).get('/report');
    expect((await request(app).get('/report').set('Range', 'bytes=0-1')).headers['x-cache']).toBe('BYPASS');
    expect((await request(app).get('/report').set('If-Match', '*')).headers['x-cache']).toBe('BYPASS');
  });

  it('the default tag cache is shared by the process', async () => {
    const responses = cacheResponses({ tags: ['process-wide'] });
    closers.push(() => responses.close());
    const app: Express = express();
    let n = 0;
    app.get('/p', responses, (_req, res) => {
      res.json({ n: ++n });
    });
    await request(app).get('/p');
    expect((await request(app).get('/p')).body).toEqual({ n: 1 });
    await invalidateTags(['process-wide']);
    expect((await request(app).get('/p')).body).toEqual({ n: 2 });
  });
});

describe('cacheResponses: an instance behind on a tag', () => {
  it('serves a response rendered under newer tag versions, and leaves it for the others', async () => {
    // Two tag caches on one record store and no bus: B's L1 keeps the old tag version.
    const records = memoryRecords<TagMark>();
    const tagsA = createCache<TagMark>({ name: 'tags', records, retry: false });
    const tagsB = createCache<TagMark>({ name: 'tags', records, retry: false });
    closers.push(
      () => tagsA.close(),
      () => tagsB.close(),
    );
    const store = memoryStore<unknown>();
    const a = cachedApp({ tagCache: tagsA, store, tags: ['t'] });
    const b = cachedApp({ tagCache: tagsB, store, tags: ['t'] });
    await request(b.app).get('/report'); // B reads tag t (absent, version 0) into its L1, and stores
    await invalidateTags(['t'], tagsA);
    const onA = await request(a.app).get('/report');
    expect(onA.headers['x-cache']).toBe('MISS'); // stale for A, rendered under the new version
    const onB = await request(b.app).get('/report');
    expect(onB.headers['x-cache']).toBe('HIT');
    expect(onB.body).toEqual(onA.body);
    expect((await request(a.app).get('/report')).headers['x-cache']).toBe('HIT');
    expect(a.state.renders + b.state.renders).toBe(2);
  });
});
