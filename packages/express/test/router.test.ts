import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryRecords } from '@writethrough/core';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { writeThroughRouter } from '../src/index.ts';
import { memoryCache, newCache, pausingRecords, routerApp, type User } from './helpers.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

function setup(options: Parameters<typeof routerApp>[1] = {}, cacheOptions = {}) {
  const { records, cache } = memoryCache(cacheOptions);
  closers.push(() => cache.close());
  return { records, cache, ...routerApp(cache, options) };
}

const json = 'application/json';

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

  it('answers HEAD with the headers of GET and no body', async () => {
    const { app, cache } = setup();
    const { version } = await cache.set('ada', { name: 'Ada' });
    const res = await request(app).head('/users/ada');
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe(`"${version}"`);
    expect(Number(res.headers['content-length'])).toBe(JSON.stringify({ name: 'Ada' }).length);
    expect(res.text).toBeUndefined();
  });

  it('answers 304 when If-None-Match matches (a list, a weak tag, *), and 200 when it does not', async () => {
    const { app, cache } = setup();
    const { version } = await cache.set('ada', { name: 'Ada' });
    const etag = `"${version}"`;
    for (const header of [etag, `"nope", ${etag}`, `W/${etag}`, '*', ` "x" ,, ${etag} `]) {
      const res = await request(app).get('/users/ada').set('If-None-Match', header);
      expect(res.status, header).toBe(304);
      expect(res.headers.etag).toBe(etag);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.text ?? '').toBe('');
    }
    for (const header of [`"${version + 1}"`, 'garbage', `"${version}0"`]) {
      const res = await request(app).get('/users/ada').set('If-None-Match', header);
      expect(res.status, header).toBe(200);
    }
    const absent = await request(app).get('/users/nobody').set('If-None-Match', '*');
    expect(absent.status).toBe(404);
  });

  it('serves the new version after a write through the router: ETag round trip', async () => {
    const { app } = setup();
    const created = await request(app).put('/users/ada').send({ name: 'Ada' });
    const etag1 = created.headers.etag!;
    const same = await request(app).get('/users/ada').set('If-None-Match', etag1);
    expect(same.status).toBe(304);
    const updated = await request(app).put('/users/ada').set('If-Match', etag1).send({ name: 'Ada L.' });
    expect(updated.status).toBe(200);
    expect(updated.headers.etag).not.toBe(etag1);
    const fresh = await request(app).get('/users/ada').set('If-None-Match', etag1);
    expect(fresh.status).toBe(200);
    expect(fresh.body).toEqual({ name: 'Ada L.' });
    expect(fresh.headers.etag).toBe(updated.headers.etag);
  });
});

describe('PUT /:id', () => {
  it('creates with 201, Location and ETag, then replaces with 200', async () => {
    const { app, cache } = setup();
    const created = await request(app).put('/users/ada').send({ name: 'Ada' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/users/ada');
    expect(created.body).toEqual({ name: 'Ada' });
    const stored = await cache.getEntry('ada');
    expect(created.headers.etag).toBe(`"${stored!.version}"`);

    const replaced = await request(app).put('/users/ada').send({ name: 'Ada Lovelace' });
    expect(replaced.status).toBe(200);
    expect(replaced.headers.location).toBeUndefined();
    expect((await cache.get('ada'))?.name).toBe('Ada Lovelace');
  });

  it('If-Match: a stale ETag gets 412 with the current ETag and writes nothing; a weak one never matches', async () => {
    const { app, cache } = setup();
    const { version: v1 } = await cache.set('ada', { name: 'v1' });
    const { version: v2 } = await cache.set('ada', { name: 'v2' });
    const stale = await request(app).put('/users/ada').set('If-Match', `"${v1}"`).send({ name: 'lost' });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(`"${v2}"`);
    expect(stale.body).toMatchObject({ status: 412, title: 'Precondition Failed' });
    const weak = await request(app).put('/users/ada').set('If-Match', `W/"${v2}"`).send({ name: 'lost' });
    expect(weak.status).toBe(412);
    expect(weak.headers.etag).toBe(`"${v2}"`);
    expect(await cache.get('ada')).toEqual({ name: 'v2' });
    const list = await request(app)
      .put('/users/ada')
      .set('If-Match', `"${v1}", "${v2}"`)
      .send({ name: 'v3' });
    expect(list.status).toBe(200);
    expect(await cache.get('ada')).toEqual({ name: 'v3' });
  });

  it('If-Match: * needs an existing resource; If-None-Match: * creates only', async () => {
    const { app, cache } = setup();
    const absent = await request(app).put('/users/ada').set('If-Match', '*').send({ name: 'x' });
    expect(absent.status).toBe(412);
    expect(absent.headers.etag).toBeUndefined();
    expect(await cache.get('ada')).toBeUndefined();

    const created = await request(app).put('/users/ada').set('If-None-Match', '*').send({ name: 'first' });
    expect(created.status).toBe(201);
    const again = await request(app).put('/users/ada').set('If-None-Match', '*').send({ name: 'second' });
    expect(again.status).toBe(412);
    expect(again.headers.etag).toBe(created.headers.etag);
    const any = await request(app).put('/users/ada').set('If-Match', '*').send({ name: 'third' });
    expect(any.status).toBe(200);
    expect(await cache.get('ada')).toEqual({ name: 'third' });
  });

  it('two clients race on one ETag: exactly one wins, the other gets 412 with the winner’s ETag', async () => {
    const inner = memoryRecords<User>();
    const paused = pausingRecords(inner);
    // Two app instances on one database: no in-process lock orders their writes.
    const a = newCache(paused.records);
    const b = newCache(paused.records);
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    const appA = routerApp(a).app;
    const appB = routerApp(b).app;
    await a.set('ada', { name: 'v1' });
    const read1 = await request(appA).get('/users/ada');
    const read2 = await request(appB).get('/users/ada');
    expect(read1.headers.etag).toBe(read2.headers.etag);

    const pause = paused.pauseNextWrite();
    const first = request(appA)
      .put('/users/ada')
      .set('If-Match', read1.headers.etag!)
      .send({ name: 'from A' });
    const firstDone = first.then((r) => r);
    await pause.reached; // A's conditional write is on its way to the database
    const second = await request(appB)
      .put('/users/ada')
      .set('If-Match', read2.headers.etag!)
      .send({ name: 'from B' });
    expect(second.status).toBe(200);
    pause.release();
    const lost = await firstDone;
    expect(lost.status).toBe(412);
    expect(lost.headers.etag).toBe(second.headers.etag);
    expect(inner.peek('ada')).toMatchObject({ found: true, value: { name: 'from B' } });
    const readA = await request(appA).get('/users/ada');
    expect(readA.body).toEqual({ name: 'from B' });
    expect(readA.headers.etag).toBe(second.headers.etag);
  });

  it('428 when If-Match is required and missing; If-None-Match: * still creates', async () => {
    const { app, cache } = setup({ requireIfMatch: true });
    const bare = await request(app).put('/users/ada').send({ name: 'x' });
    expect(bare.status).toBe(428);
    expect(bare.body).toMatchObject({ status: 428, title: 'Precondition Required' });
    expect(await cache.get('ada')).toBeUndefined();
    const created = await request(app).put('/users/ada').set('If-None-Match', '*').send({ name: 'x' });
    expect(created.status).toBe(201);
    const patched = await request(app).patch('/users/ada').send({ name: 'y' });
    expect(patched.status).toBe(428);
    const deleted = await request(app).delete('/users/ada');
    expect(deleted.status).toBe(428);
    const withTag = await request(app)
      .patch('/users/ada')
      .set('If-Match', created.headers.etag!)
      .send({ a: 1 });
    expect(withTag.status).toBe(200);
    expect(await cache.get('ada')).toEqual({ name: 'x', a: 1 });
  });
});

describe('request bodies', () => {
  it('400 for invalid JSON and for an empty body, 415 for another media type, nothing written', async () => {
    const { app, cache } = setup();
    const bad = await request(app).put('/users/ada').set('Content-Type', json).send('{"name": ');
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/^invalid JSON/);
    const empty = await request(app).put('/users/ada').set('Content-Type', json).send('');
    expect(empty.status).toBe(400);
    const text = await request(app).put('/users/ada').set('Content-Type', 'text/plain').send('{"name":"x"}');
    expect(text.status).toBe(415);
    const latin = await request(app)
      .put('/users/ada')
      .set('Content-Type', 'application/json; charset=iso-8859-1')
      .send('{"name":"x"}');
    expect(latin.status).toBe(415);
    expect(await cache.get('ada')).toBeUndefined();
  });

  it('413 over the size limit, from Content-Length and from a chunked body', async () => {
    const { app, cache } = setup({ maxBodyBytes: 1_000 });
    const big = { name: 'x'.repeat(2_000) };
    const declared = await request(app).put('/users/ada').send(big);
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ status: 413 });
    const fits = await request(app)
      .put('/users/ada')
      .send({ name: 'x'.repeat(900) });
    expect(fits.status).toBe(201);

    // Chunked: no Content-Length, the limit is found while reading.
    const server: Server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method: 'PUT', path: '/users/bob', headers: { 'Content-Type': json } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(JSON.stringify(big).slice(0, 600));
      req.end(JSON.stringify(big).slice(600));
    });
    expect(status).toBe(413);
    expect(await cache.get('bob')).toBeUndefined();
  });

  it('413 when the value passes the body limit but not the cache’s maxValueBytes', async () => {
    const { app } = setup({}, { maxValueBytes: 100 });
    const res = await request(app)
      .put('/users/ada')
      .send({ name: 'x'.repeat(200) });
    expect(res.status).toBe(413);
  });

  it('uses a body another middleware already parsed', async () => {
    const { cache } = memoryCache();
    closers.push(() => cache.close());
    const app = express();
    app.use(express.json());
    app.use('/users', writeThroughRouter(cache));
    const res = await request(app).put('/users/ada').send({ name: 'Ada' });
    expect(res.status).toBe(201);
    expect(await cache.get('ada')).toEqual({ name: 'Ada' });
  });
});

describe('validation', () => {
  const schema = z.object({ name: z.string().min(1), email: z.email().optional() });

  it('a zod schema as it is: 400 with the reason and issues; a valid body is stored as parsed', async () => {
    const { app, cache } = setup({ validate: schema });
    const bad = await request(app).put('/users/ada').send({ name: 42 });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/^the body was refused: name: /);
    expect(bad.body.issues).toEqual([{ path: 'name', message: expect.any(String) }]);
    const email = await request(app).put('/users/ada').send({ name: 'Ada', email: 'not-an-email' });
    expect(email.status).toBe(400);
    expect(email.body.issues[0].path).toBe('email');
    expect(await cache.get('ada')).toBeUndefined();

    const ok = await request(app).put('/users/ada').send({ name: 'Ada', extra: 'dropped by zod' });
    expect(ok.status).toBe(201);
    expect(ok.body).toEqual({ name: 'Ada' });
    expect(await cache.get('ada')).toEqual({ name: 'Ada' });
  });

  it('a function validator and a { parse } object: their thrown message is the reason', async () => {
    const fn = setup({
      validate: (value: unknown) => {
        if ((value as User)?.name === 'root') throw new Error('name "root" is reserved');
        return value as User;
      },
    });
    const refused = await request(fn.app).put('/users/ada').send({ name: 'root' });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toBe('the body was refused: name "root" is reserved');
    expect((await request(fn.app).put('/users/ada').send({ name: 'Ada' })).status).toBe(201);

    const parse = setup({
      validate: {
        parse: (value: unknown) => {
          if (typeof (value as User)?.name !== 'string') throw new TypeError('name must be a string');
          return value as User;
        },
      },
    });
    const bad = await request(parse.app).put('/users/ada').send({ name: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toBe('the body was refused: name must be a string');
  });

  it('the cache’s own validator refusing a value answers 400', async () => {
    const { app } = setup(
      {},
      {
        validate: (v: unknown) => {
          if ((v as User).name.length > 5) throw new Error('too long a name');
          return v as User;
        },
      },
    );
    const res = await request(app).put('/users/ada').send({ name: 'Ada Lovelace' });
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/too long a name/);
  });
});

describe('PATCH /:id', () => {
  it('merges the body into the stored object (RFC 7396: null removes, objects merge)', async () => {
    const { app, cache } = setup();
    await cache.set('ada', { name: 'Ada', email: 'a@x', profile: { city: 'London', born: 1815 } });
    const res = await request(app)
      .patch('/users/ada')
      .set('Content-Type', 'application/merge-patch+json')
      .send(JSON.stringify({ email: null, profile: { city: 'Paris' }, tags: ['math'] }));
    expect(res.status).toBe(200);
    const expected = { name: 'Ada', profile: { city: 'Paris', born: 1815 }, tags: ['math'] };
    expect(res.body).toEqual(expected);
    expect(await cache.get('ada')).toEqual(expected);
    const entry = await cache.getEntry('ada');
    expect(res.headers.etag).toBe(`"${entry!.version}"`);
  });

  it('404 for an absent id, 412 for a stale If-Match or If-Match on an absent id', async () => {
    const { app, cache } = setup();
    expect((await request(app).patch('/users/ada').send({ a: 1 })).status).toBe(404);
    expect((await request(app).patch('/users/ada').set('If-Match', '"1"').send({ a: 1 })).status).toBe(412);
    const { version: v1 } = await cache.set('ada', { name: 'v1' });
    const { version: v2 } = await cache.set('ada', { name: 'v2' });
    const stale = await request(app).patch('/users/ada').set('If-Match', `"${v1}"`).send({ a: 1 });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(`"${v2}"`);
    expect(await cache.get('ada')).toEqual({ name: 'v2' });
  });

  it('validates the merged result', async () => {
    const { app, cache } = setup({ validate: z.object({ name: z.string() }).strict() });
    await cache.set('ada', { name: 'Ada' });
    const res = await request(app).patch('/users/ada').send({ name: null });
    expect(res.status).toBe(400);
    expect(res.body.issues[0].path).toBe('name');
    expect(await cache.get('ada')).toEqual({ name: 'Ada' });
  });

  it('without If-Match, merges again when another write lands in between (forced interleaving)', async () => {
    const inner = memoryRecords<User>();
    const paused = pausingRecords(inner);
    const a = newCache(paused.records);
    const b = newCache(paused.records);
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    await a.set('ada', { name: 'Ada' });
    const pause = paused.pauseNextWrite();
    const patching = request(routerApp(a).app)
      .patch('/users/ada')
      .send({ email: 'ada@x' })
      .then((r) => r);
    await pause.reached;
    const put = await request(routerApp(b).app).put('/users/ada').send({ name: 'Ada Lovelace' });
    expect(put.status).toBe(200);
    pause.release();
    const patched = await patching;
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ name: 'Ada Lovelace', email: 'ada@x' });
    expect(inner.peek('ada')).toMatchObject({ value: { name: 'Ada Lovelace', email: 'ada@x' } });
  });

  it('keeps __proto__ members as data, never as a prototype', async () => {
    const { app, cache } = setup();
    await cache.set('ada', { name: 'Ada' });
    const res = await request(app)
      .patch('/users/ada')
      .set('Content-Type', json)
      .send('{"__proto__": {"polluted": true}, "profile": {"__proto__": {"admin": true}}}');
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const stored = (await cache.get('ada')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect((stored.profile as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.hasOwn(stored, '__proto__')).toBe(true);
  });
});

describe('DELETE /:id', () => {
  it('204, then 404; a stale If-Match gets 412 and deletes nothing', async () => {
    const { app, cache } = setup();
    const { version: v1 } = await cache.set('ada', { name: 'v1' });
    const { version: v2 } = await cache.set('ada', { name: 'v2' });
    const stale = await request(app).delete('/users/ada').set('If-Match', `"${v1}"`);
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(`"${v2}"`);
    expect(await cache.get('ada')).toEqual({ name: 'v2' });
    const ok = await request(app).delete('/users/ada').set('If-Match', `"${v2}"`);
    expect(ok.status).toBe(204);
    expect(ok.text ?? '').toBe('');
    expect((await request(app).get('/users/ada')).status).toBe(404);
    expect((await request(app).delete('/users/ada')).status).toBe(404);
    expect((await request(app).delete('/users/ada').set('If-Match', '*')).status).toBe(412);
    expect((await request(app).delete('/users/ada').set('If-Match', `"${v2}"`)).status).toBe(412);
  });
});

describe('GET /?ids=', () => {
  it('reads many through getMany, with a strong list ETag and 304', async () => {
    const { app, cache, records } = setup();
    await cache.set('a', { name: 'A' });
    const { version: vb } = await cache.set('b', { name: 'B' });
    records.resetCalls();
    const res = await request(app).get('/users?ids=a,b,zz,a');
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([
      { id: 'a', version: expect.any(Number), value: { name: 'A' } },
      { id: 'b', version: vb, value: { name: 'B' } },
    ]);
    expect(res.body.missing).toEqual(['zz']);
    expect(res.headers.etag).toMatch(/^"l[\w-]+"$/);
    // a and b were cached by the writes; only zz reached the database, in one call.
    expect(records.calls.getMany + records.calls.get).toBe(1);
    const again = await request(app).get('/users?ids=a,b,zz,a').set('If-None-Match', res.headers.etag!);
    expect(again.status).toBe(304);
    await cache.set('zz', { name: 'Z' });
    const changed = await request(app).get('/users?ids=a,b,zz,a').set('If-None-Match', res.headers.etag!);
    expect(changed.status).toBe(200);
    expect(changed.body.missing).toEqual([]);
    const repeated = await request(app).get('/users?ids=a&ids=zz');
    expect(repeated.body.items.map((i: { id: string }) => i.id)).toEqual(['a', 'zz']);
  });

  it('refuses too many ids, no ids, empty ids and invalid ids with 400', async () => {
    const { app } = setup({ maxIds: 3 });
    expect((await request(app).get('/users?ids=a,b,c')).status).toBe(200);
    const many = await request(app).get('/users?ids=a,b,c,d');
    expect(many.status).toBe(400);
    expect(many.body.detail).toBe('at most 3 ids per request');
    const flood = await request(app).get(`/users?ids=${','.repeat(5_000)}`);
    expect(flood.status).toBe(400);
    expect((await request(app).get('/users')).status).toBe(400);
    expect((await request(app).get('/users?ids=a,,b')).status).toBe(400);
    expect((await request(app).get('/users?ids=a,..')).status).toBe(400);
  });
});

describe('hostile ids', () => {
  it('refuses traversal, encoded slashes, control characters, bad encodings and over-long ids with 400', async () => {
    const { app, records, reported } = setup();
    const hostile = [
      '..%2F..%2Fetc%2Fpasswd',
      '%2e%2e',
      '.',
      'a%2Fb',
      'a%5Cb',
      'a%00b',
      'line%0Abreak',
      '%E0%A4%A', // truncated UTF-8
      '%ED%A0%80', // a lone surrogate, encoded
      '%FF',
      'x'.repeat(257),
      `${'é'.repeat(129)}`, // 258 bytes in UTF-8
    ];
    for (const id of hostile) {
      for (const method of ['get', 'put', 'patch', 'delete'] as const) {
        const res = await request(app)[method](`/users/${id}`).send({ name: 'x' });
        expect(res.status, `${method} ${id.slice(0, 40)}`).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect(records.snapshot().size).toBe(0);
    expect(reported).toEqual([]);
    const long = await request(app).get(`/users/${'x'.repeat(5_000)}`);
    expect(long.status).toBe(400);
    expect(long.body.detail).toBe('the id is longer than 256 bytes');
    expect(JSON.stringify(long.body)).not.toContain('xxxxxxxxxx');
  });

  it('round-trips unicode ids, and ids with slashes when validateId allows them', async () => {
    const { app, cache } = setup();
    for (const id of ['café', '😀-emoji', '名前', 'a b', 'x'.repeat(256)]) {
      const put = await request(app)
        .put(`/users/${encodeURIComponent(id)}`)
        .send({ name: id });
      expect(put.status, id).toBe(201);
      expect(put.headers.location).toBe(`/users/${encodeURIComponent(id)}`);
      const get = await request(app).get(`/users/${encodeURIComponent(id)}`);
      expect(get.body).toEqual({ name: id });
      expect(await cache.get(id)).toEqual({ name: id });
    }
    const slashes = setup({ validateId: (id) => /^[a-z/]+$/.test(id) });
    const put = await request(slashes.app).put('/users/a%2Fb').send({ name: 'ab' });
    expect(put.status).toBe(201);
    expect(await slashes.cache.get('a/b')).toEqual({ name: 'ab' });
    expect((await request(slashes.app).get('/users/a%2Fb')).body).toEqual({ name: 'ab' });
    expect((await request(slashes.app).get('/users/a%2F1')).status).toBe(400);
  });

  it('maps ids to keys with the key option (mergeParams: parent route params are visible)', async () => {
    const { cache } = memoryCache();
    closers.push(() => cache.close());
    const app = express();
    app.use(
      '/tenants/:tenant/users',
      writeThroughRouter(cache, { key: (id, req) => `${req.params.tenant}/${id}` }),
    );
    await request(app).put('/tenants/t1/users/ada').send({ name: 'one' });
    await request(app).put('/tenants/t2/users/ada').send({ name: 'two' });
    expect(await cache.get('t1/ada')).toEqual({ name: 'one' });
    expect((await request(app).get('/tenants/t2/users/ada')).body).toEqual({ name: 'two' });
  });
});

describe('failures', () => {
  it('503 with Retry-After when the database is unavailable (reads and writes)', async () => {
    const { app, cache, records, reported } = setup({ retryAfterSeconds: 7 });
    records.failNext(1, 'transient', ['get']);
    const read = await request(app).get('/users/ada');
    expect(read.status).toBe(503);
    expect(read.headers['retry-after']).toBe('7');
    expect(read.headers['cache-control']).toBe('no-store');
    records.failNext(1, 'transient', ['set']);
    const write = await request(app).put('/users/ada').send({ name: 'x' });
    expect(write.status).toBe(503);
    expect(write.headers['retry-after']).toBe('7');
    expect(await cache.get('ada')).toBeUndefined();
    expect(reported.map((r) => r.status)).toEqual([503, 503]);
  });

  it('503 for a write whose outcome is unknown; a read then shows what happened', async () => {
    const { app, records } = setup();
    records.failAfterCommitNext(1);
    const res = await request(app).put('/users/ada').send({ name: 'maybe' });
    expect(res.status).toBe(503);
    expect(res.body.outcome).toBe('unknown');
    const read = await request(app).get('/users/ada');
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ name: 'maybe' });
  });

  it('500 reveals nothing of the error, and onError receives it', async () => {
    const { app, records, reported } = setup();
    records.failNext(1, 'permanent', ['get']);
    const res = await request(app).get('/users/ada');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'the request could not be completed',
    });
    expect(res.text).not.toMatch(/injected|permanent|stack|records/i);
    expect(reported).toHaveLength(1);
    expect(String(reported[0]!.error)).toMatch(/injected permanent failure/);

    const throwing = setup({
      key: () => {
        throw new Error('secret: database password is hunter2');
      },
    });
    const bad = await request(throwing.app).get('/users/ada');
    expect(bad.status).toBe(500);
    expect(bad.text).not.toContain('hunter2');
    expect(throwing.reported).toHaveLength(1);
  });

  it('405 with Allow for other methods; OPTIONS answers 204 with Allow', async () => {
    const { app } = setup();
    const post = await request(app).post('/users/ada').send({ name: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD, PUT, PATCH, DELETE');
    const postList = await request(app).post('/users').send({ name: 'x' });
    expect(postList.status).toBe(405);
    expect(postList.headers.allow).toBe('GET, HEAD');
    const options = await request(app).options('/users/ada');
    expect(options.status).toBe(204);
    expect(options.headers.allow).toBe('GET, HEAD, PUT, PATCH, DELETE');
  });
});

describe('an instance whose copy is behind the client', () => {
  it('PATCH with a newer If-Match than the cached copy merges into the database’s version, not 412', async () => {
    // Two instances on one database and no bus: A's L1 keeps v1 after B writes v2.
    const records = memoryRecords<User>();
    const a = newCache(records);
    const b = newCache(records);
    closers.push(
      () => a.close(),
      () => b.close(),
    );
    await a.set('ada', { name: 'Ada' });
    expect(await a.get('ada')).toEqual({ name: 'Ada' });
    const onB = await request(routerApp(b).app).put('/users/ada').send({ name: 'Ada L.', email: 'a@x' });
    expect(await a.get('ada')).toEqual({ name: 'Ada' }); // A is behind
    const patched = await request(routerApp(a).app)
      .patch('/users/ada')
      .set('If-Match', onB.headers.etag!)
      .send({ email: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ name: 'Ada L.' });
    expect(records.peek('ada')).toMatchObject({ found: true, value: { name: 'Ada L.' } });
    // A client behind the database still gets 412.
    const stale = await request(routerApp(a).app)
      .patch('/users/ada')
      .set('If-Match', onB.headers.etag!)
      .send({});
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(patched.headers.etag);
  });
});
