export {
  CacheRead,
  type CacheReadMetadata,
  type CacheReadOptions,
  CacheWrite,
  type CacheWriteMetadata,
  type CacheWriteOp,
  type CacheWriteOptions,
  InjectCache,
  type KeyOptions,
} from './decorators.js';
export {
  type HealthIndicatorServiceLike,
  WriteThroughHealthIndicator,
  type WriteThroughHealthOptions,
  type WriteThroughHealthResult,
} from './health.js';
export { WriteThroughInterceptor } from './interceptor.js';
export {
  WRITE_THROUGH_MODULE_OPTIONS,
  WriteThroughModule,
  type WriteThroughModuleAsyncOptions,
  type WriteThroughModuleRootOptions,
} from './module.js';
export type {
  CacheDefinition,
  CreatedCacheDefinition,
  HttpRequest,
  PrincipalResolver,
  ProvidedCacheDefinition,
  WriteThroughModuleOptions,
  WriteThroughOptionsFactory,
} from './options.js';
export { CacheRegistry, defaultPrincipal } from './registry.js';
export {
  CACHE_READ_METADATA,
  CACHE_WRITE_METADATA,
  getCacheToken,
  WRITE_THROUGH_REGISTRY,
} from './tokens.js';
