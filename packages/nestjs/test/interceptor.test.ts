import 'reflect-metadata';
import {
  Body,
  type CanActivate,
  Controller,
  Delete,
  type ExecutionContext,
  Get,
  HttpCode,
  type INestApplication,
  Injectable,
  NotFoundException,
  Param,
  Post,
  Put,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createCache, memoryRecords, type WriteThroughCache } from '@writethrough/core';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CacheRead,
  CacheRegistry,
  CacheWrite,
  InjectCache,
  WriteThroughInterceptor,
  WriteThroughModule,
} from '../src/index.ts';

interface User {
  name: string;
}

const calls = { get: 0, legacy: 0, put: 0 };

/** Sets `req.user` from `x-user` (a stand-in for a real authentication guard). */
@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest();
    const user = req.headers['x-user'];
    if (typeof user === 'string') req.user = { id: user };
    return true;
  }
}

@Controller('users')
@UseInterceptors(WriteThroughInterceptor)
class UsersController {
  @Get(':id')
  @CacheRead('users')
  get(@Param('id') id: string) {
    calls.get++;
    throw new NotFoundException(`no user ${id}`);
  }

  @Get('legacy/:id')
  @CacheRead('users', { key: (req) => `legacy:${req.params.id}`, fill: true, ttlMs: 60_000 })
  legacy(@Param('id') id: string) {
    calls.legacy++;
    return { name: `legacy ${id}` };
  }

  @Put(':id')
  @CacheWrite('users')
  put(@Body() body: User) {
    calls.put++;
    return body;
  }

  @Delete(':id')
  @HttpCode(204)
  @CacheWrite('users')
  remove() {}
}

/** A handler that wrote the database by another path (here: another cache on the same records). */
@Controller('renames')
@UseInterceptors(WriteThroughInterceptor)
class RenameController {
  constructor(@InjectCache('other') private readonly other: WriteThroughCache<User>) {}

  @Post(':id')
  @HttpCode(200)
  @CacheWrite('users', { op: 'invalidate' })
  async rename(@Param('id') id: string, @Body() body: User) {
    await this.other.set(id, body);
    return body;
  }
}

@Controller('me')
@UseGuards(FakeAuthGuard)
@UseInterceptors(WriteThroughInterceptor)
class MeController {
  @Get('settings')
  @CacheRead('settings', { key: 'settings', principal: true })
  get() {
    throw new NotFoundException();
  }

  @Put('settings')
  @CacheWrite('settings', { key: 'settings', principal: true })
  put(@Body() body: { theme: string }) {
    return body;
  }
}

let app: INestApplication;
let users: WriteThroughCache<User>;
let settings: WriteThroughCache<{ theme: string }>;

beforeEach(async () => {
  calls.get = calls.legacy = calls.put = 0;
  const records = memoryRecords<User>();
  const moduleRef = await Test.createTestingModule({
    imports: [
      WriteThroughModule.forRoot({
        caches: [
          { name: 'users', options: { records } },
          // A second instance on the same database, without a bus: its writes do not reach the first L1.
          { name: 'other', options: { records } },
          { name: 'settings', options: { records: memoryRecords() } },
        ],
      }),
    ],
    controllers: [UsersController, RenameController, MeController],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  users = app.get('WriteThroughCache_users');
  settings = app.get('WriteThroughCache_settings');
});

afterEach(async () => {
  await app.close();
});

const http = () => request(app.getHttpServer());

describe('@CacheRead', () => {
  it('answers a found key from the cache with its version as ETag, without the handler', async () => {
    const { version } = await users.set('ada', { name: 'Ada' });
    const hitsBefore = users.stats().hits;
    const res = await http().get('/users/ada').expect(200);
    expect(res.body).toEqual({ name: 'Ada' });
    expect(res.headers.etag).toBe(`"${version}"`);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(calls.get).toBe(0);
    expect(users.stats().hits).toBe(hitsBefore + 1);
  });

  it('runs the handler for an absent key (a miss read from the database)', async () => {
    const res = await http().get('/users/nobody').expect(404);
    expect(res.headers.etag ?? '').not.toMatch(/^"\d+"$/);
    expect(calls.get).toBe(1);
    expect(users.stats().misses).toBeGreaterThanOrEqual(1);
  });

  it('answers 304 to a matching If-None-Match (weak comparison, lists, *), 200 otherwise', async () => {
    const { version } = await users.set('ada', { name: 'Ada' });
    for (const tag of [`"${version}"`, `W/"${version}"`, `"99", "${version}"`, '*']) {
      const res = await http().get('/users/ada').set('If-None-Match', tag).expect(304);
      expect(res.text).toBe('');
      expect(res.headers.etag).toBe(`"${version}"`);
    }
    await http().get('/users/ada').set('If-None-Match', '"99"').expect(200);
    expect(calls.get).toBe(0);
  });

  it('fill: stores what the handler returns for an absent key, then serves it from the cache', async () => {
    const first = await http().get('/users/legacy/bob').expect(200);
    expect(first.body).toEqual({ name: 'legacy bob' });
    expect(first.headers.etag).toMatch(/^"\d+"$/);
    const second = await http().get('/users/legacy/bob').expect(200);
    expect(second.headers.etag).toBe(first.headers.etag);
    expect(calls.legacy).toBe(1);
    expect(await users.get('legacy:bob')).toEqual({ name: 'legacy bob' });
  });
});

describe('@CacheWrite', () => {
  it('writes the handler result through the cache and answers its new ETag', async () => {
    const res = await http().put('/users/ada').send({ name: 'Ada' }).expect(200);
    expect(res.headers.etag).toMatch(/^"\d+"$/);
    const entry = await users.getEntry('ada');
    expect(entry).toEqual({ value: { name: 'Ada' }, version: Number(JSON.parse(res.headers.etag!)) });
    const read = await http().get('/users/ada').expect(200);
    expect(read.headers.etag).toBe(res.headers.etag);
  });

  it('If-Match: the matching version writes, a stale one is 412 with the current ETag', async () => {
    const { version } = await users.set('ada', { name: 'Ada' });
    const ok = await http()
      .put('/users/ada')
      .set('If-Match', `"${version}"`)
      .send({ name: 'Ada L.' })
      .expect(200);
    const current = ok.headers.etag!;
    const callsBefore = calls.put;
    const stale = await http()
      .put('/users/ada')
      .set('If-Match', `"${version}"`)
      .send({ name: 'old' })
      .expect(412);
    expect(stale.headers.etag).toBe(current);
    // A tag older than the cached version is refused before the handler runs.
    expect(calls.put).toBe(callsBefore);
    expect(await users.get('ada')).toEqual({ name: 'Ada L.' });
    await http().put('/users/ada').set('If-Match', `W/${current}`).send({ name: 'weak' }).expect(412);
    await http().put('/users/ada').set('If-Match', '*').send({ name: 'any' }).expect(200);
    await http().put('/users/nobody').set('If-Match', '*').send({ name: 'any' }).expect(412);
  });

  it('If-Match newer than this instance has seen: the database decides', async () => {
    await users.set('ada', { name: 'Ada' });
    await http().get('/users/ada').expect(200); // cached in this instance's L1
    const { version } = await app
      .get<WriteThroughCache<User>>('WriteThroughCache_other')
      .set('ada', { name: 'Other' });
    const res = await http()
      .put('/users/ada')
      .set('If-Match', `"${version}"`)
      .send({ name: 'Ada 3' })
      .expect(200);
    expect(Number(JSON.parse(res.headers.etag!))).toBeGreaterThan(version);
    expect(await users.get('ada')).toEqual({ name: 'Ada 3' });
  });

  it('If-None-Match: * creates only', async () => {
    await http().put('/users/new').set('If-None-Match', '*').send({ name: 'New' }).expect(200);
    await http().put('/users/new').set('If-None-Match', '*').send({ name: 'Again' }).expect(412);
    expect(await users.get('new')).toEqual({ name: 'New' });
  });

  it('DELETE deletes through the cache, conditionally', async () => {
    const { version } = await users.set('ada', { name: 'Ada' });
    await http()
      .delete('/users/ada')
      .set('If-Match', `"${version + 5}"`)
      .expect(412);
    await http().delete('/users/ada').set('If-Match', `"${version}"`).expect(204);
    expect(await users.get('ada')).toBeUndefined();
    await http().get('/users/ada').expect(404);
  });

  it('invalidate: a write made elsewhere is seen after the handler', async () => {
    await users.set('ada', { name: 'Ada' });
    await http().get('/users/ada').expect(200); // cached in L1
    await app.get<WriteThroughCache<User>>('WriteThroughCache_other').set('ada', { name: 'Behind' });
    expect((await http().get('/users/ada')).body).toEqual({ name: 'Ada' }); // L1 without a bus: stale
    await http().post('/renames/ada').send({ name: 'Renamed' }).expect(200);
    expect((await http().get('/users/ada')).body).toEqual({ name: 'Renamed' });
  });
});

describe('principal in the key', () => {
  it('keeps each principal to its own entry, and refuses requests without one', async () => {
    await http().put('/me/settings').set('x-user', 'ada').send({ theme: 'dark' }).expect(200);
    await http().put('/me/settings').set('x-user', 'bob').send({ theme: 'light' }).expect(200);
    expect((await http().get('/me/settings').set('x-user', 'ada').expect(200)).body).toEqual({
      theme: 'dark',
    });
    expect((await http().get('/me/settings').set('x-user', 'bob').expect(200)).body).toEqual({
      theme: 'light',
    });
    await http().get('/me/settings').set('x-user', 'eve').expect(404);
    await http().get('/me/settings').expect(401);
    await http().put('/me/settings').send({ theme: 'x' }).expect(401);
    expect(await settings.get('ada/settings')).toEqual({ theme: 'dark' });
    // A principal cannot reach into another one's keys with the separator.
    await http().get('/me/settings').set('x-user', 'ada/settings').expect(404);
  });
});

describe('checks', () => {
  it('a decorator naming an unknown cache fails the bootstrap', async () => {
    @Controller('orders')
    class OrdersController {
      @Get(':id')
      @CacheRead('orders')
      get() {
        return {};
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [
        WriteThroughModule.forRoot({ caches: [{ name: 'users', options: { records: memoryRecords() } }] }),
      ],
      controllers: [OrdersController],
    }).compile();
    const broken = moduleRef.createNestApplication({ logger: false });
    await expect(broken.init()).rejects.toThrow(
      /@CacheRead\("orders"\) on OrdersController.get: WriteThroughModule has no cache of that name \(known: "users"\)/,
    );
    await broken.close();
  });

  it("a value the cache's validator refuses is 400, and nothing is written", async () => {
    @Controller('items')
    @UseInterceptors(WriteThroughInterceptor)
    class ItemsController {
      @Put(':sku')
      @CacheWrite('items', { param: 'sku' })
      put(@Body() body: unknown) {
        return body;
      }
    }
    const validate = (value: unknown) => {
      if (typeof (value as { title?: unknown }).title !== 'string') throw new Error('title must be a string');
      return value as { title: string };
    };
    const moduleRef = await Test.createTestingModule({
      imports: [
        WriteThroughModule.forRoot({
          caches: [{ name: 'items', options: { records: memoryRecords(), validate } }],
        }),
      ],
      controllers: [ItemsController],
    }).compile();
    const other = moduleRef.createNestApplication({ logger: false });
    await other.init();
    try {
      const res = await request(other.getHttpServer()).put('/items/a1').send({ title: 3 }).expect(400);
      expect(res.body.message).toMatch(/title must be a string/);
      await request(other.getHttpServer()).put('/items/a1').send({ title: 'Lamp' }).expect(200);
      expect(await other.get(CacheRegistry).get('items').get('a1')).toEqual({ title: 'Lamp' });
    } finally {
      await other.close();
    }
  });
});

describe('binding', () => {
  it('works as a global interceptor too (APP_INTERCEPTOR), and leaves undecorated routes alone', async () => {
    @Controller('plain')
    class PlainController {
      @Get(':id')
      get(@Param('id') id: string) {
        return { id };
      }
    }
    const records = memoryRecords<User>();
    const mine = createCache<User>({ records });
    const moduleRef = await Test.createTestingModule({
      imports: [WriteThroughModule.forRoot({ caches: [{ name: 'users', cache: mine }] })],
      controllers: [UsersController, PlainController],
      providers: [{ provide: 'APP_INTERCEPTOR', useExisting: WriteThroughInterceptor }],
    }).compile();
    const other = moduleRef.createNestApplication({ logger: false });
    await other.init();
    try {
      await mine.set('ada', { name: 'Ada' });
      await request(other.getHttpServer()).get('/users/ada').expect(200, { name: 'Ada' });
      await request(other.getHttpServer()).get('/plain/x').expect(200, { id: 'x' });
    } finally {
      await other.close();
      await mine.close();
    }
  });
});
