/** The injection token of the named cache: `WriteThroughCache_<name>` (what `@InjectCache(name)` injects). */
export function getCacheToken(name: string): string {
  return `WriteThroughCache_${name}`;
}

/** The injection token of the module's `CacheRegistry` (every cache of `forRoot`, by name). */
export const WRITE_THROUGH_REGISTRY = 'WRITE_THROUGH_REGISTRY';

/** Metadata key of `@CacheRead` on a handler. */
export const CACHE_READ_METADATA = 'writethrough:cache_read';

/** Metadata key of `@CacheWrite` on a handler. */
export const CACHE_WRITE_METADATA = 'writethrough:cache_write';
