export {
  type EntityTag,
  parseTagCondition,
  type TagCondition,
  versionTag,
} from './etag.js';
export { mergePatch } from './merge-patch.js';
export { type MetricsHandlerOptions, metricsHandler, type StatsSource, statsHandler } from './metrics.js';
export type { Problem } from './problem.js';
export {
  type CacheResponsesOptions,
  cacheResponses,
  invalidateTags,
  type ResponseCache,
  type ResponseCacheStats,
  type UnlistedQuery,
} from './response-cache.js';
export {
  type ResourceCache,
  type TagInvalidator,
  type WriteThroughRouterOptions,
  writeThroughRouter,
} from './router.js';
export { TAG_KEY_PREFIX, type TagCache, type TagMark } from './tags.js';
export type { BodyValidator, SafeParseResult, ValidationIssue } from './validate.js';
