import { ConfigurableModuleBuilder, type DynamicModule, Module, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WriteThroughHealthIndicator } from './health.js';
import { WriteThroughInterceptor } from './interceptor.js';
import { CacheNameCheck } from './name-check.js';
import type { WriteThroughModuleOptions } from './options.js';
import { CacheRegistry } from './registry.js';
import { getCacheToken, WRITE_THROUGH_REGISTRY } from './tokens.js';

/** Options outside the options object: they shape the module itself. */
interface Extras {
  /** Make the caches of `forRoot` (their `@InjectCache` tokens) visible in every module. Default false. */
  isGlobal?: boolean;
  /** `forRootAsync` only: the names whose `@InjectCache` tokens this module exports (the names are otherwise known only once the factory ran). */
  cacheNames?: readonly string[];
  /** Providers added to the module, e.g. for the factory's `inject`. */
  extraProviders?: Provider[];
}

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<WriteThroughModuleOptions>({ moduleName: 'WriteThrough' })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createWriteThroughOptions')
    .setExtras<Extras>({ isGlobal: false, cacheNames: [], extraProviders: [] }, (definition) => definition)
    .build();

/** The injection token of the module options (`WRITE_THROUGH_MODULE_OPTIONS`). */
export const WRITE_THROUGH_MODULE_OPTIONS: string | symbol = MODULE_OPTIONS_TOKEN;

/** What `forRoot` takes: the options plus `isGlobal`. */
export type WriteThroughModuleRootOptions = typeof OPTIONS_TYPE;
/** What `forRootAsync` takes: `imports`, `inject`, `useFactory | useClass | useExisting`, `extraProviders`, `isGlobal`, `cacheNames`. */
export type WriteThroughModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;

/** Providers of `getCacheToken(name)`, each resolved from the registry (a missing name fails the bootstrap). */
function cacheProviders(names: readonly string[]): Provider[] {
  return names.map((name) => ({
    provide: getCacheToken(name),
    useFactory: (registry: CacheRegistry) => registry.get(name),
    inject: [WRITE_THROUGH_REGISTRY],
  }));
}

/**
 * Holds the options and the registry. Always global (like TypeORM's core module), so that
 * `forFeature` and the interceptor find the registry from any module; `isGlobal` decides only
 * whether the cache tokens of `forRoot` are global.
 */
@Module({})
class WriteThroughCoreModule {}

/** The caches of `forFeature` in the importing module. */
@Module({})
class WriteThroughFeatureModule {}

/**
 * Named write-through caches for Nest: `forRoot({ caches })`, `forRootAsync({ useFactory })`,
 * `forFeature(['users'])`, injected with `@InjectCache('users')`.
 */
@Module({})
export class WriteThroughModule extends ConfigurableModuleClass {
  /** Creates the caches of `options.caches` (closed on application shutdown) and exports each by name. */
  static override forRoot(options: WriteThroughModuleRootOptions): DynamicModule {
    const names = Array.isArray(options?.caches) ? options.caches.map((c) => c.name) : [];
    // biome-ignore lint/complexity/noThisInStatic: the generated method builds the options provider for this class.
    return rootModule(super.forRoot(options), options, names);
  }

  /** Like `forRoot`, with options from a factory, a class or an existing provider. */
  static override forRootAsync(options: WriteThroughModuleAsyncOptions): DynamicModule {
    // biome-ignore lint/complexity/noThisInStatic: the generated method builds the options provider for this class.
    return rootModule(super.forRootAsync(options), options, options.cacheNames ?? []);
  }

  /** Provides and exports `@InjectCache(name)` for each name in the importing module. */
  static forFeature(names: readonly string[]): DynamicModule {
    return {
      module: WriteThroughFeatureModule,
      providers: cacheProviders(names),
      exports: names.map(getCacheToken),
    };
  }
}

function rootModule(generated: DynamicModule, extras: Extras, names: readonly string[]): DynamicModule {
  const core: DynamicModule = {
    module: WriteThroughCoreModule,
    global: true,
    imports: [...(generated.imports ?? []), DiscoveryModule],
    providers: [
      ...(generated.providers ?? []),
      ...(extras.extraProviders ?? []),
      {
        provide: WRITE_THROUGH_REGISTRY,
        useFactory: (options: WriteThroughModuleOptions) => new CacheRegistry(options),
        inject: [MODULE_OPTIONS_TOKEN],
      },
      { provide: CacheRegistry, useExisting: WRITE_THROUGH_REGISTRY },
      WriteThroughInterceptor,
      WriteThroughHealthIndicator,
      CacheNameCheck,
    ],
    exports: [
      WRITE_THROUGH_REGISTRY,
      CacheRegistry,
      MODULE_OPTIONS_TOKEN,
      WriteThroughInterceptor,
      WriteThroughHealthIndicator,
    ],
  };
  return {
    module: WriteThroughModule,
    global: extras.isGlobal === true,
    imports: [core],
    providers: cacheProviders(names),
    exports: names.map(getCacheToken),
  };
}
