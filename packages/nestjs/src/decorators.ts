import { Inject, SetMetadata } from '@nestjs/common';
import type { HttpRequest, PrincipalResolver } from './options.js';
import { CACHE_READ_METADATA, CACHE_WRITE_METADATA, getCacheToken } from './tokens.js';

/** Injects the named cache (`@Inject(getCacheToken(name))`). */
export function InjectCache(name: string): PropertyDecorator & ParameterDecorator {
  return Inject(getCacheToken(name));
}

/** How a handler's cache key is found. */
export interface KeyOptions {
  /**
   * The key: a string, or a function of the request. Default: the route parameter `param`.
   * Keep keys bounded and derived from checked input.
   */
  readonly key?: string | ((req: HttpRequest) => string | undefined);
  /** The route parameter that is the key when `key` is not given. Default `id`. */
  readonly param?: string;
  /**
   * Put the principal in the key (`<principal>/<key>`): for resources that belong to whoever asks.
   * `true` uses the module's `principal` resolver; a function is used as it is. A request without a
   * principal is refused with `401` and never touches the cache.
   */
  readonly principal?: boolean | PrincipalResolver;
}

/** Options of `@CacheRead`. */
export interface CacheReadOptions extends KeyOptions {
  /**
   * When the key is absent, store what the handler returns (create-only: `ifVersion: 0`, so a
   * concurrent writer wins) with `ttlMs`. Default false: an absent key just runs the handler.
   */
  readonly fill?: boolean;
  /** Time to live of a value stored by `fill`, in ms. Default: the cache's `ttlMs`. */
  readonly ttlMs?: number;
  /** `Cache-Control` of answers from the cache; `false` for none. Default `no-cache`. */
  readonly cacheControl?: string | false;
}

/** What `@CacheWrite` does with the cache after the handler. */
export type CacheWriteOp =
  /** `cache.set(key, <handler's return value>, { ifVersion })`: the write goes through the cache to the database. */
  | 'set'
  /** `cache.delete(key, { ifVersion })`. */
  | 'delete'
  /** `cache.invalidate(key)`: the handler wrote the database itself. */
  | 'invalidate';

/** Options of `@CacheWrite`. */
export interface CacheWriteOptions extends KeyOptions {
  /** Default: `delete` on DELETE, else `set`. */
  readonly op?: CacheWriteOp;
  /** Time to live of the value written by `set`, in ms. Default: the cache's `ttlMs`. */
  readonly ttlMs?: number;
}

/** What `@CacheRead` stores on the handler. */
export interface CacheReadMetadata extends CacheReadOptions {
  readonly cache: string;
}

/** What `@CacheWrite` stores on the handler. */
export interface CacheWriteMetadata extends CacheWriteOptions {
  readonly cache: string;
}

/**
 * A GET handler served from the named cache by `WriteThroughInterceptor`: a found key is answered
 * from the cache with `ETag: "<version>"` (and `304` for a matching `If-None-Match`) without
 * running the handler; an absent key runs the handler.
 */
export function CacheRead(cache: string, options: CacheReadOptions = {}): MethodDecorator & ClassDecorator {
  return SetMetadata<string, CacheReadMetadata>(CACHE_READ_METADATA, { ...options, cache });
}

/**
 * A mutation handler that writes through (or invalidates) the named cache, with `If-Match` → `412`
 * decided by the database (see the README).
 */
export function CacheWrite(cache: string, options: CacheWriteOptions = {}): MethodDecorator & ClassDecorator {
  return SetMetadata<string, CacheWriteMetadata>(CACHE_WRITE_METADATA, { ...options, cache });
}
