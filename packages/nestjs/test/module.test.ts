import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createCache, memoryRecords, memoryStore, type WriteThroughCache } from '@writethrough/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CacheRegistry,
  getCacheToken,
  InjectCache,
  WriteThroughModule,
  type WriteThroughModuleOptions,
  type WriteThroughOptionsFactory,
} from '../src/index.ts';

interface User {
  name: string;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

@Injectable()
class UsersService {
  constructor(
    @InjectCache('users') readonly users: WriteThroughCache<User>,
    @InjectCache('products') readonly products: WriteThroughCache<{ title: string }>,
  ) {}
}

@Injectable()
class OnlyUsers {
  constructor(@InjectCache('users') readonly users: WriteThroughCache<User>) {}
}

const twoCaches = (): WriteThroughModuleOptions => ({
  caches: [
    { name: 'users', options: { records: memoryRecords<User>() } },
    { name: 'products', options: { records: memoryRecords() } },
  ],
});

/** A config module as an app would have one: a token with settings. */
const CONFIG = 'TEST_CONFIG';
@Module({ providers: [{ provide: CONFIG, useValue: { usersTtlMs: 1234 } }], exports: [CONFIG] })
class ConfigModule {}

@Injectable()
class OptionsFromClass implements WriteThroughOptionsFactory {
  createWriteThroughOptions(): WriteThroughModuleOptions {
    return twoCaches();
  }
}

@Module({ providers: [OptionsFromClass], exports: [OptionsFromClass] })
class OptionsModule {}

async function compile(imports: unknown[], providers: unknown[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    providers: providers as never[],
  }).compile();
  closers.push(() => moduleRef.close());
  return moduleRef;
}

async function roundTrip(users: WriteThroughCache<User>): Promise<void> {
  const { version } = await users.set('ada', { name: 'Ada' });
  expect(await users.getEntry('ada')).toEqual({ value: { name: 'Ada' }, version });
}

describe('WriteThroughModule.forRoot', () => {
  it('provides two named caches, each injected by name and by getCacheToken', async () => {
    const moduleRef = await compile([WriteThroughModule.forRoot(twoCaches())], [UsersService]);
    const service = moduleRef.get(UsersService);
    expect(service.users).toBe(moduleRef.get(getCacheToken('users')));
    expect(service.products).toBe(moduleRef.get(getCacheToken('products')));
    expect(service.users).not.toBe(service.products);
    expect(service.users.name).toBe('users');
    expect(service.products.name).toBe('products');
    await roundTrip(service.users);
    expect(await service.products.get('ada')).toBeUndefined();
    expect(moduleRef.get(CacheRegistry).names).toEqual(['users', 'products']);
  });

  it('hands out a cache you created as it is', async () => {
    const mine = createCache<User>({ name: 'mine', records: memoryRecords() });
    closers.push(() => mine.close());
    const moduleRef = await compile(
      [WriteThroughModule.forRoot({ caches: [{ name: 'users', cache: mine }] })],
      [OnlyUsers],
    );
    expect(moduleRef.get(OnlyUsers).users).toBe(mine);
  });

  it('fails at bootstrap when an injected cache name is not among the caches', async () => {
    const bootstrap = Test.createTestingModule({
      imports: [
        WriteThroughModule.forRoot({ caches: [{ name: 'users', options: { records: memoryRecords() } }] }),
      ],
      providers: [UsersService],
    }).compile();
    await expect(bootstrap).rejects.toThrow(
      /argument "WriteThroughCache_products" at index \[1\] is available/,
    );
  });

  it('fails at bootstrap on a duplicate name or a definition without options or cache', async () => {
    const duplicate = { name: 'users', options: { records: memoryRecords() } };
    await expect(
      Test.createTestingModule({
        imports: [WriteThroughModule.forRoot({ caches: [duplicate, duplicate] })],
      }).compile(),
    ).rejects.toThrow(/"users" is used twice/);
    await expect(
      Test.createTestingModule({
        imports: [WriteThroughModule.forRoot({ caches: [{ name: 'users' } as never] })],
      }).compile(),
    ).rejects.toThrow(/needs either options/);
  });

  it('keeps the caches to the importing module unless isGlobal', async () => {
    @Module({ providers: [OnlyUsers], exports: [OnlyUsers] })
    class FeatureModule {}

    const global = await compile([
      WriteThroughModule.forRoot({ ...twoCaches(), isGlobal: true }),
      FeatureModule,
    ]);
    await roundTrip(global.get(OnlyUsers).users);

    const local = Test.createTestingModule({
      imports: [WriteThroughModule.forRoot(twoCaches()), FeatureModule],
    }).compile();
    await expect(local).rejects.toThrow(/WriteThroughCache_users/);
  });
});

describe('WriteThroughModule.forRootAsync', () => {
  it('useFactory with imports, inject and extraProviders', async () => {
    const factory = vi.fn(
      (config: { usersTtlMs: number }, prefix: string): WriteThroughModuleOptions => ({
        caches: [
          {
            name: 'users',
            options: { name: `${prefix}users`, records: memoryRecords(), ttlMs: config.usersTtlMs },
          },
          { name: 'products', options: { records: memoryRecords() } },
        ],
      }),
    );
    const moduleRef = await compile(
      [
        WriteThroughModule.forRootAsync({
          imports: [ConfigModule],
          inject: [CONFIG, 'PREFIX'],
          useFactory: factory,
          extraProviders: [{ provide: 'PREFIX', useValue: 'app-' }],
          cacheNames: ['users', 'products'],
        }),
      ],
      [UsersService],
    );
    expect(factory).toHaveBeenCalledWith({ usersTtlMs: 1234 }, 'app-');
    const service = moduleRef.get(UsersService);
    expect(service.users.name).toBe('app-users');
    await roundTrip(service.users);
  });

  it('useClass', async () => {
    const moduleRef = await compile(
      [WriteThroughModule.forRootAsync({ useClass: OptionsFromClass, cacheNames: ['users', 'products'] })],
      [UsersService],
    );
    await roundTrip(moduleRef.get(UsersService).users);
  });

  it('useExisting, from an imported module', async () => {
    const moduleRef = await compile(
      [
        WriteThroughModule.forRootAsync({
          imports: [OptionsModule],
          useExisting: OptionsFromClass,
          cacheNames: ['users', 'products'],
        }),
      ],
      [UsersService],
    );
    await roundTrip(moduleRef.get(UsersService).users);
  });

  it('forFeature provides caches in a feature module (the names are known only after the factory)', async () => {
    @Module({
      imports: [WriteThroughModule.forFeature(['users'])],
      providers: [OnlyUsers],
      exports: [OnlyUsers],
    })
    class UsersModule {}

    const moduleRef = await compile([
      WriteThroughModule.forRootAsync({ useFactory: twoCaches }),
      UsersModule,
    ]);
    const users = moduleRef.get(OnlyUsers).users;
    expect(users).toBe(moduleRef.get(CacheRegistry).get('users'));
    await roundTrip(users);
  });

  it('forFeature of a missing name fails at bootstrap', async () => {
    const bootstrap = Test.createTestingModule({
      imports: [
        WriteThroughModule.forRootAsync({ useFactory: async () => twoCaches() }),
        WriteThroughModule.forFeature(['orders']),
      ],
    }).compile();
    await expect(bootstrap).rejects.toThrow(/no cache named "orders" \(known: "users", "products"\)/);
  });
});

describe('shutdown', () => {
  it('closes the caches it created and their stores, never a cache you passed in', async () => {
    const mine = createCache<User>({ name: 'mine', records: memoryRecords() });
    closers.push(() => mine.close());
    const l2 = memoryStore();
    const kept = memoryStore();
    const l2Close = vi.spyOn(l2, 'close');
    const keptClose = vi.spyOn(kept, 'close');
    const mineClose = vi.spyOn(mine, 'close');
    const moduleRef = await Test.createTestingModule({
      imports: [
        WriteThroughModule.forRootAsync({
          useFactory: () => ({
            caches: [
              { name: 'users', options: { records: memoryRecords(), l2 } },
              { name: 'products', options: { records: memoryRecords(), l2: kept }, closeStores: false },
              { name: 'mine', cache: mine },
            ],
          }),
        }),
      ],
    }).compile();
    const registry = moduleRef.get(CacheRegistry);
    const users = registry.get<User>('users');
    const products = registry.get('products');
    const usersClose = vi.spyOn(users, 'close');
    const productsClose = vi.spyOn(products, 'close');
    await users.set('ada', { name: 'Ada' });
    const app = moduleRef.createNestApplication();
    await app.init();
    await app.close();
    expect(usersClose).toHaveBeenCalledTimes(1);
    expect(productsClose).toHaveBeenCalledTimes(1);
    expect(l2Close).toHaveBeenCalledTimes(1);
    expect(keptClose).not.toHaveBeenCalled();
    expect(mineClose).not.toHaveBeenCalled();
    await expect(users.get('ada')).rejects.toThrow(/closed/);
    await roundTrip(mine);
  });
});
