import type { CacheOptions, WriteThroughCache } from '@writethrough/core';

/** What the interceptor passes to key and principal functions: the platform's request (Express: `req`). */
// biome-ignore lint/suspicious/noExplicitAny: the request type belongs to the HTTP platform the app uses.
export type HttpRequest = any;

/** Returns the authenticated principal of a request (a user id), or `undefined` when there is none. */
export type PrincipalResolver = (req: HttpRequest) => string | undefined;

/** A cache the module creates with `createCache(options)`, and closes on application shutdown. */
export interface CreatedCacheDefinition {
  /** The name `@InjectCache(name)`, `getCacheToken(name)` and the decorators use. Also the cache's `name` unless `options.name` is set. */
  readonly name: string;
  /** The options of `createCache`. */
  // biome-ignore lint/suspicious/noExplicitAny: a registry holds caches of any value type.
  readonly options: CacheOptions<any>;
  /**
   * On shutdown, also close the `l2`, `bus` and `records` given in `options` (default true). Each of
   * them closes only the connections it opened itself: a client you passed to them stays open.
   */
  readonly closeStores?: boolean;
}

/** A cache you created: the module only hands it out and never closes it. */
export interface ProvidedCacheDefinition {
  /** The name `@InjectCache(name)`, `getCacheToken(name)` and the decorators use. */
  readonly name: string;
  /** Your cache. Close it yourself (after `app.close()`). */
  // biome-ignore lint/suspicious/noExplicitAny: a registry holds caches of any value type.
  readonly cache: WriteThroughCache<any>;
}

/** One named cache of the module. */
export type CacheDefinition = CreatedCacheDefinition | ProvidedCacheDefinition;

/** Options of `WriteThroughModule.forRoot` (and what the factory of `forRootAsync` returns). */
export interface WriteThroughModuleOptions {
  /** The named caches. Names must be unique. */
  readonly caches: readonly CacheDefinition[];
  /**
   * Finds the principal of a request for decorators with `principal: true`. Default: `req.user.id`,
   * else `req.user.sub` (what Passport and most JWT guards set), as a string.
   */
  readonly principal?: PrincipalResolver;
}

/** A class for `forRootAsync({ useClass })` or `useExisting`. */
export interface WriteThroughOptionsFactory {
  /** Returns the module options. */
  createWriteThroughOptions(): WriteThroughModuleOptions | Promise<WriteThroughModuleOptions>;
}
